"""The report's experiment sections: what ``ganforge experiment NAME DATASET --out DIR`` left in DIR.

An experiment output is ``DIR/NAME.json`` whose ``written`` list names that very file (every experiment writes
it so, with ``DIR/NAME.png`` beside it). Its section shows the plot (read only from ``DIR/NAME.png``, whatever
the record says), a table of its headline numbers (a per-experiment reader from :data:`HEADLINES`, else every
number of the record by its path), its protocol and the runs it used.

An experiment records the run of each row as ``"run": PATH`` (``DIR/runs/ROW``, as given to ``--out`` when it
ran). A run's report looks for experiment outputs in the folder holding its ``runs`` folder and beside it,
and shows those that name it, with its own rows marked.
"""
from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Callable

from ..errors import GanforgeError
from ..registry import Registry

HEADLINES: Registry[Callable[[dict], dict]] = Registry("experiment headline reader")
MAX_GENERIC = 60  # numbers listed for an experiment without a reader of its own


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def is_output(path: Path, record: dict | None) -> bool:
    """Whether ``record`` (read from ``path``) is an experiment's summary: its ``written`` names ``path``."""
    written = record.get("written") if isinstance(record, dict) else None
    return isinstance(written, list) and any(isinstance(w, str) and Path(w).name == path.name for w in written)


def outputs_in(folder: Path) -> list[Path]:
    """The experiment summaries in ``folder`` (not its row files, which have no ``written``)."""
    found = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [p for p in found if is_output(p, _read(p))]


def recorded_runs(record, where: str = "") -> list[tuple[str, str]]:
    """(the place in the record, the run path) of every ``"run": PATH`` in ``record``."""
    found = []
    if isinstance(record, dict):
        for key, value in record.items():
            if key == "protocol":
                continue
            if key == "run" and isinstance(value, str):
                found.append((where or "run", value))
            else:
                found += recorded_runs(value, f"{where}.{key}" if where else str(key))
    elif isinstance(record, list):
        for i, value in enumerate(record):
            found += recorded_runs(value, f"{where}[{i}]")
    return found


def _same_run(recorded: str, folder: Path, run: Path) -> bool:
    """A recorded run path is ``run`` as written (relative to where the experiment ran) or as ``runs/ROW``
    under the experiment's folder (the folder may have moved since)."""
    target = run.resolve()
    return Path(recorded).resolve() == target or (folder / "runs" / Path(recorded).name).resolve() == target


def _generic(record: dict) -> dict:
    """Every finite number of the record (protocol and long lists left out), by its path."""
    rows: list[list] = []

    def walk(value, where: str) -> None:
        if _number(value):
            rows.append([where, value])
        elif isinstance(value, dict):
            for key, item in value.items():
                if key not in ("protocol", "written", "settings"):
                    walk(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list) and len(value) <= 20:
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")

    walk(record, "")
    return {"columns": ["value", "number"], "rows": rows[:MAX_GENERIC], "row_keys": [None] * len(rows[:MAX_GENERIC]),
            "note": f"first {MAX_GENERIC} of {len(rows)} numbers" if len(rows) > MAX_GENERIC else ""}


def section(path: Path, run: Path | None = None) -> dict:
    """The section of experiment summary ``path`` (marking the rows of ``run`` if given)."""
    record = _read(path)
    if not is_output(path, record):
        raise GanforgeError(f"{path} is not an experiment output (expected the NAME.json a `ganforge experiment` "
                            f"wrote, whose 'written' list names it)")
    name = path.stem
    try:
        table = HEADLINES.get(name)(record) if name in HEADLINES else _generic(record)
    except (KeyError, TypeError, ValueError, IndexError):
        raise GanforgeError(f"{path}: not the record {name} writes (its rows could not be read)") from None
    runs = recorded_runs(record)
    own = {where for where, p in runs if run is not None and _same_run(p, path.parent, run)}
    table["marked"] = [key in own for key in table["row_keys"]]
    protocol = record.get("protocol") if isinstance(record.get("protocol"), dict) else {
        f"row {r.get('row', i)}": r.get("protocol") for i, r in enumerate(_row_list(record))}
    png = path.with_suffix(".png")
    return {"name": name, "path": str(path), "table": table, "runs": runs,
            "png": base64.b64encode(png.read_bytes()).decode() if png.is_file() else None,
            "protocol": json.dumps(protocol, indent=2, sort_keys=True, default=str)}


def _row_list(record: dict) -> list[dict]:
    rows = record.get("rows")
    rows = rows.values() if isinstance(rows, dict) else rows if isinstance(rows, list) else []
    return [r for r in rows if isinstance(r, dict)]


def sections_for_run(run: Path) -> list[dict]:
    """The experiment outputs that name ``run``: in the folder of its ``runs`` folder, or beside it."""
    folders = {run.resolve().parent.parent, run.resolve().parent}
    found = [p for folder in sorted(folders) for p in outputs_in(folder)]
    return [section(p, run) for p in found
            if any(_same_run(r, p.parent, run) for _, r in recorded_runs(_read(p)))]


# ---------------------------------------------------------------- readers of the ModNet experiments and the table

@HEADLINES.register("modnet-interpret")
def _interpret(record: dict) -> dict:
    """Basart 2017 sections 2.5.2-2.5.3: fooling rate of each row's frozen classifier, and the change's size."""
    rows, keys = [], []
    for row, r in record["rows"].items():
        own = r["classifier"]
        other = [n for n in r["fooling_rate"] if n != own]
        rows.append([row, own, r["fooling_rate"][own], ", ".join(f"{n}: {r['fooling_rate'][n]:.3f}" for n in other),
                     r["source_kept"][own], r["clean_accuracy"][own], r["l1_per_pixel"], r["l2_per_image"]])
        keys.append(f"rows.{row}")
    return {"columns": ["row", "frozen classifier", "fooling rate", "fooling rate (other classifier)",
                        "source kept", "clean accuracy", "mean L1 per pixel", "mean L2 per image"],
            "rows": rows, "row_keys": keys, "note": "pixels in [0, 1]"}


@HEADLINES.register("modnet-augment")
def _augment(record: dict) -> dict:
    """Basart 2017 section 2.5.4, Fig. 2.7: test accuracy against real images, with and without modifications."""
    rows = []
    curve = record["rows"].get("curve")
    if curve:
        for i, size in enumerate(curve["sizes"]):
            rows.append([f"{size} real images", *(_mean_std(curve[arm], i) for arm in ("real", "real+generated"))])
        rows.append(["whole train split", curve["whole_train_split"], None])
    generated = record["rows"].get("generated")
    if generated:
        rows.append([f"modifications of {generated['sources']} images only", None, generated["test_accuracy"]])
    seeds = curve["seeds"] if curve else 0
    return {"columns": ["classifier trained on", "real only", "real + generated"], "rows": rows,
            "row_keys": ["modnet"] * len(rows),
            "note": f"test accuracy; mean ± std over {seeds} seeds" if curve else "test accuracy"}


def _mean_std(arm: dict, i: int) -> str:
    std = arm["std"][i]
    return f"{arm['mean'][i]:.4f}" + (f" ± {std:.4f}" if _number(std) else "")


@HEADLINES.register("modnet-memorisation")
def _memorisation(record: dict) -> dict:
    """Basart 2017 section 2.5.5: share of modifications whose nearest training image is their own source."""
    rows = [[row, r.get("preset"), r.get("own_source_share"), r.get("median_ratio"), r.get("share_below_test_p1")]
            for row, r in record["rows"].items()]
    return {"columns": ["row", "preset", "own source nearest", "median NN ratio", "share below test 1st pct"],
            "rows": rows, "row_keys": [f"rows.{row}" for row in record["rows"]],
            "note": "pixels in [0, 1], euclidean"}


@HEADLINES.register("lucic-table")
def _lucic(record: dict) -> dict:
    """Lucic et al. 2018, "Are GANs Created Equal?": published best FID beside ganforge's per row."""
    rows = [[r["row"], r["preset"], r.get("published_fid"), r["fid"], r.get("train_seconds")]
            for r in record["rows"]]
    return {"columns": ["row", "preset", "published FID", "ganforge FID", "training seconds"], "rows": rows,
            "row_keys": [f"rows[{i}]" for i in range(len(rows))], "note": "lower FID is better"}
