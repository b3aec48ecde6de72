"""One self-contained HTML file from run directories (reads files only; images embedded as base64).

Jinja2 with autoescaping renders it, so every string from a config, a log or a file name is escaped by
default. With several runs it adds a comparison table ranking the runs by each metric of their latest
evaluation record (as the thesis' Table 3.1) and overlaid generator-loss / metric curves. Each run shows
the evidence its eval records keep: the class histogram (``modes``) and the nearest-neighbour panel
(``memorisation``), drawn by :mod:`.sections` and :mod:`.charts`, its metrics over training with their
baselines when several checkpoints were scored (``eval --every-checkpoint``, :mod:`.history`), and for a
progressively grown run (``progan``) its growth phases with a sample grid from each (:mod:`.growth`). A ModNet
run shows its modifications per target class and its fooling rate and size of change (:mod:`.modnet`); a run an
experiment used shows that experiment's plot and numbers. A path that is an experiment's output folder (or its
``NAME.json``) instead of a run gets a section of its own: plot, table of numbers and protocol
(:mod:`.experiments`).
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import jinja2

from .. import __version__
from ..errors import GanforgeError
from ..fileio import write_text
from ..runs import RunDir
from .charts import overlay
from .growth import growth_section
from .experiments import outputs_in, section as experiment_section, sections_for_run
from .history import history_section, record_baselines
from .modnet import modnet_section
from .sections import histogram_section, panel_section

# +1: higher is better, -1: lower is better. Metrics not listed are shown but not ranked.
DIRECTIONS = {"fid": -1, "kid": -1, "ddm": -1, "class_kl": -1, "fd_logits": -1, "is": 1, "precision": 1,
              "recall": 1, "density": 1, "coverage": 1, "parzen": 1, "classes_hit": 1, "cond_acc": 1,
              "ais": 1, "iwae": 1, "ais_bpd": -1, "iwae_bpd": -1, "ddm_sum": -1, "parzen_pca": 1}


def _b64(path: Path) -> str | None:
    return base64.b64encode(path.read_bytes()).decode() if path.is_file() else None


def _evals(run: RunDir) -> list[dict]:
    out = []
    for path in sorted((run.root / "eval").glob("step-*.json")):
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GanforgeError(f"{path} is not valid JSON") from None
        if not isinstance(record, dict) or not isinstance(record.get("protocol", {}), dict):
            raise GanforgeError(f"{path} is not an eval record (expected a JSON object with a 'protocol' object)")
        protocol = record.get("protocol", {})
        values = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        values = _labelled(values, protocol)
        details = record.get("details")
        out.append({"file": path.name, "path": path, "metrics": values, "step": protocol.get("step"),
                    "baseline": record_baselines(protocol, _labelled), "sampling": _sampling(protocol),
                    "protocol": json.dumps(protocol, indent=2, sort_keys=True),
                    "features": protocol.get("features") if isinstance(protocol.get("features"), dict) else {},
                    "details": details if isinstance(details, dict) else {}})
    return out


def _sampling(protocol: dict) -> str:
    """How a record's generated images were sampled: sampler and steps (iterative families), network
    evaluations per image and seconds, as its protocol's ``sampling`` notes them; empty if it notes none."""
    notes = protocol.get("sampling") if isinstance(protocol.get("sampling"), list) else []
    lines = []
    for note in (n for n in notes if isinstance(n, dict) and "nfe_per_image" in n):
        how = f"{note['sampler']}, {note.get('steps')} steps, " if "sampler" in note else ""
        took = f", {note['seconds']:.1f} s" if isinstance(note.get("seconds"), (int, float)) else ""
        lines.append(f"{how}{note['nfe_per_image']} NFE/image{took}")
    return "; ".join(lines)


def _labelled(values: dict, protocol: dict) -> dict:
    """Name each value computed on other features than its metric's default ``name [features]`` (e.g.
    ``is [inception-logits]`` beside the classifier's ``is``), so no column mixes two embeddings. Both
    feature names come from the record's protocol (the report reads records, not evaluation code)."""
    specs = protocol.get("metrics") if isinstance(protocol, dict) else None
    rename = {}
    for metric, spec in (specs.items() if isinstance(specs, dict) else ()):
        if not isinstance(spec, dict) or not isinstance(spec.get("values"), list):
            continue
        features, default = str(spec.get("features", "")), spec.get("default_features")
        if features and isinstance(default, str) and features != default:
            rename.update({key: f"{key} [{features}]" for key in spec["values"] if isinstance(key, str)})
    return {rename.get(k, k): v for k, v in values.items()}


def _direction(label: str) -> int | None:
    return DIRECTIONS.get(label.split(" [", 1)[0])


def _run_context(path: Path) -> dict:
    run = RunDir(path)
    config = run.read_config()
    grids = sorted(run.samples_dir.glob("step-*.png")) if run.samples_dir.is_dir() else []
    evals = _evals(run)
    log = run.read_log()
    keys = sorted({k for e in evals for k in e["metrics"]})
    return {"name": path.name or str(path), "path": str(path), "config": config,
            "config_json": json.dumps(config, indent=2, sort_keys=True), "grid": _b64(grids[-1]) if grids else None,
            "grid_name": grids[-1].name if grids else "", "grid_width": 360,
            "curves": _b64(run.curves_path), "evals": evals, "eval_keys": keys,
            "latest": evals[-1]["metrics"] if evals else {}, "eval_step": evals[-1]["step"] if evals else None,
            "log": log, "growth": growth_section(log, run.samples_dir), "histogram": histogram_section(evals), "panel": panel_section(evals),
            "history": history_section(evals, lambda label: _direction(label) is not None),
            "modnet": modnet_section(config, grids, evals, log), "experiments": sections_for_run(path)}


def _experiment_paths(path: Path) -> list[Path] | None:
    """The experiment outputs ``path`` holds (a folder ``ganforge experiment`` wrote, or one NAME.json), else
    None: then ``path`` is read as a run directory."""
    if (path / "config.json").is_file():
        return None
    if path.is_file() and path.suffix == ".json":
        return [path]
    return outputs_in(path) or None


def _rank(runs: list[dict]) -> list[str]:
    names = sorted({m for r in runs for m in r["latest"] if _direction(m)})
    for run in runs:
        run["ranked"] = {}
    for m in names:
        have = [r for r in runs if m in r["latest"]]
        order = sorted(have, key=lambda r: -_direction(m) * r["latest"][m])
        for rank, run in enumerate(order, 1):
            run["ranked"][m] = {"value": run["latest"][m], "rank": rank}
    return names


def build_report(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write the HTML report of ``run_dirs`` to ``out`` (atomically) and return its path. Each path is a run
    directory, or an experiment's output folder or summary ``NAME.json`` (its section: plot, numbers, protocol)."""
    if not run_dirs:
        raise GanforgeError("report needs at least one run directory or experiment output")
    runs, experiments = [], []
    for p in map(Path, run_dirs):
        found = _experiment_paths(p)
        if found is None:
            runs.append(_run_context(p))
        else:
            experiments += [experiment_section(e) for e in found]
    env = jinja2.Environment(loader=jinja2.PackageLoader("ganforge", "report"),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True))
    html = env.get_template("template.html.j2").render(
        title=", ".join([r["name"] for r in runs] + [e["name"] for e in experiments]), runs=runs,
        experiments=experiments, version=__version__,
        metric_names=_rank(runs), overlay=overlay(runs) if len(runs) > 1 else None,
        directions="lower is better for " + ", ".join(k for k, v in DIRECTIONS.items() if v < 0)
                   + "; higher for " + ", ".join(k for k, v in DIRECTIONS.items() if v > 0)
                   + "; other values are shown unranked")
    out = Path(out)
    write_text(out, html)
    return out
