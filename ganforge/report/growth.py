"""The report's growth phases of a progressively grown run (Karras et al. 2018, "Progressive Growing of GANs for
Improved Quality, Stability, and Variation"): the resolution and fade-in alpha over training, and a table of the
phases with the last fixed-noise grid saved in each.

Read from the run's log alone (records with ``growth_stage``, ``growth_alpha``, ``growth_resolution`` and
``growth_kimg``, which the ``progan`` family logs): each record is a mean over ``log_every`` steps, so a record
whose window saw any of a fade counts as fading, and a phase boundary is known to within one log interval.
"""
from __future__ import annotations

import base64
import math
import re
from pathlib import Path

from .charts import growth_curves

GRID_RE = re.compile(r"^step-(\d+)\.png$")
GRID_WIDTH = 160  # display width of a phase's grid, CSS pixels


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _phase_key(row: dict) -> tuple[str, float]:
    """("fade", target resolution) for a record that saw any of a fade, else ("stable", resolution)."""
    if row["growth_alpha"] < 1.0:
        return "fade", row["growth_resolution"]
    return "stable", row["growth_resolution"]


def growth_phases(rows: list[dict], grids: dict[int, str]) -> list[dict]:
    """The phases in logged order: name, first and last step, thousands of images at its end, and the name of
    the last grid (``grids``: step -> file name) saved within it (None when no grid falls in it)."""
    phases: list[dict] = []
    for row in rows:
        kind, resolution = _phase_key(row)
        if phases and phases[-1]["kind"] == kind and (kind == "fade" or phases[-1]["resolution"] == resolution):
            phase = phases[-1]
            phase["resolution"] = max(phase["resolution"], resolution)  # a fade's last window has its target
        else:
            first = phases[-1]["last"] + 1 if phases else 1
            phase = {"kind": kind, "resolution": resolution, "first": first}
            phases.append(phase)
        phase["last"], phase["kimg"] = row["step"], row.get("growth_kimg")
    for phase in phases:
        res = math.ceil(phase["resolution"])
        phase["name"] = f"fade {res // 2} → {res} px" if phase["kind"] == "fade" else f"{res} px"
        inside = [s for s in grids if phase["first"] <= s <= phase["last"]]
        phase["grid_name"] = grids[max(inside)] if inside else None
    return phases


def growth_section(log: list[dict], samples_dir: Path) -> dict | None:
    """The chart (base64 PNG) and phase table with each phase's grid embedded; None for a run that does not
    grow (no record has the growth keys)."""
    keys = ("step", "growth_stage", "growth_alpha", "growth_resolution")
    rows = [r for r in log if all(_number(r.get(k)) for k in keys)]
    if not rows:
        return None
    found = [(GRID_RE.match(p.name), p) for p in samples_dir.glob("step-*.png")] if samples_dir.is_dir() else []
    grids = {int(m.group(1)): p.name for m, p in found if m}
    phases = growth_phases(rows, grids)
    for phase in phases:
        name = phase["grid_name"]
        phase["grid"] = base64.b64encode((samples_dir / name).read_bytes()).decode() if name else None
    return {"png": growth_curves(rows), "phases": phases, "grid_width": GRID_WIDTH}
