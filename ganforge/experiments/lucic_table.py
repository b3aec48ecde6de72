"""The Lucic et al. 2018 table, measured: ``ganforge experiment lucic-table fashion-mnist --out DIR``.

Lucic, Kurach, Michalski, Gelly and Bousquet, "Are GANs Created Equal? A Large-Scale Study" (NeurIPS 2018),
Table 2 / Figure 4: the best FID per loss on Fashion-MNIST (10,000 test images against 10,000 generated),
over 100 hyperparameter settings and several seeds of the google/compare_gan code. One row here trains its
``lucic-*`` preset (the compare_gan architecture, batch 64 and step count; deviations are listed in each
preset and the README), then scores Inception FID of ``--n`` generated images against as many test images.

Each row is resumable and never recomputed: its run directory ``DIR/runs/ROW`` resumes from its latest
checkpoint, and a finished row is ``DIR/ROW.json`` (the FID, the wall seconds of training and scoring, and
the whole protocol). A finished row measured under another protocol (preset config, n, features, seed)
is refused rather than mixed into the table. After each row the table is rewritten from every finished
row: ``lucic-table.json``, ``lucic-table.md`` and ``lucic-table.png`` (ours beside the published value).
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure

from .. import __version__
from ..config import RunConfig, from_dict, resolve_config, to_dict
from ..errors import GanforgeError
from ..evaluation import evaluate_run
from ..fileio import write_json, write_text
from ..plots import save_figure
from . import EXPERIMENTS, ExperimentOptions
from ._common import dataset_name
from ._rows import train_row

NAME = "lucic-table"
PROTOCOL_KEYS = ("config", "reference", "n", "features", "seed", "generator")
# config keys that decide no number (where and how often things are written), so a row measured before
# one of them existed, or with other checkpoint intervals, still matches
NOT_PROTOCOL = ("description", "log_to", "log_every", "sample_every", "grid_size", "ckpt_every", "ckpt_every_min",
                "keep_checkpoints", "eval_every", "eval_n", "dist_timeout_min")


@dataclass(frozen=True)
class Row:
    """One row of the table: the preset that trains it and Lucic et al.'s best Fashion-MNIST FID."""

    name: str
    preset: str
    published_fid: float


# Lucic et al. 2018, Fashion-MNIST, best FID per model (as tabulated in Dronen 2019's GAN lecture slides).
ROWS = {r.name: r for r in (
    Row("mm", "lucic-mm", 29.6), Row("ns", "lucic-ns", 26.5), Row("lsgan", "lucic-lsgan", 30.7),
    Row("wgan", "lucic-wgan", 21.5), Row("wgangp", "lucic-wgangp", 24.5), Row("dragan", "lucic-dragan", 27.7),
    Row("began", "lucic-began", 22.9), Row("vae", "lucic-vae", 58.7),
)}
PUBLISHED_ON = "fashion-mnist"


def pick_rows(names: list[str] | None) -> list[Row]:
    """The rows asked for (``--rows ns,wgan``), in the table's order; all of them by default."""
    unknown = sorted(set(names or []) - set(ROWS))
    if unknown:
        raise GanforgeError(f"lucic-table: unknown row(s) {', '.join(unknown)} (expected some of {', '.join(ROWS)})")
    return [r for r in ROWS.values() if not names or r.name in names]


def machine() -> dict:
    """What the wall times were measured on."""
    model = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), model)
    except OSError:
        pass
    return {"cpu": model, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def row_protocol(row: Row, options: ExperimentOptions, dataset: str) -> dict:
    """Everything that decides a row's number: the resolved run config, reference, n, features and seed."""
    if "data" in options.overrides:
        raise GanforgeError(f"lucic-table: the DATASET argument ({dataset}) sets data; drop the data= override")
    overrides = {**options.overrides, "data": f"{dataset}:train", "seed": options.seed}
    if options.data_root:
        overrides["data_root"] = options.data_root
    cfg = to_dict(resolve_config(row.preset, overrides))
    return {"experiment": NAME, "row": row.name, "preset": row.preset, "config": cfg,
            "reference": f"{dataset}:test", "n": options.n, "features": options.features or "inception",
            "seed": options.seed, "generator": "ema" if cfg["ema_decay"] else "raw",
            "published": "Lucic et al. 2018, best FID over 100 settings x seeds, 10k test vs 10k generated"}


def finished(path: Path, protocol: dict) -> dict | None:
    """The finished row at ``path`` if its protocol is ``protocol``'s; refuses one measured otherwise."""
    try:
        old = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GanforgeError(f"{path}: not a readable lucic-table row ({exc}); delete it to measure the row again")
    differ = [k for k in PROTOCOL_KEYS if _compared(old.get("protocol", {}), k) != _compared(protocol, k)]
    if differ:
        raise GanforgeError(f"{path} was measured with another {', '.join(differ)}; use another --out "
                            f"(or delete the file) to measure row {protocol['row']} this way")
    return old


def _compared(protocol: dict, key: str):
    """A protocol's ``key`` as rows are compared by: the config, keys added since at their defaults, without
    the keys that decide no number."""
    value = protocol.get(key)
    if key != "config" or not isinstance(value, dict):
        return value
    try:
        value = to_dict(from_dict(RunConfig, value))
    except GanforgeError:
        return value  # not a config this version reads: compared as written, so it differs
    return {k: v for k, v in value.items() if k not in NOT_PROTOCOL}


def measure_row(row: Row, options: ExperimentOptions, dataset: str) -> dict:
    """Train and score one row, or read it if it is finished; writes ``OUT/ROW.json``."""
    protocol = row_protocol(row, options, dataset)
    path = Path(options.out) / f"{row.name}.json"
    old = finished(path, protocol)
    if old is not None:
        return old
    run = Path(options.out) / "runs" / row.name
    train_seconds = train_row(protocol, run)
    t0 = time.perf_counter()
    result, _ = evaluate_run(run, ["fid"], protocol["features"], protocol["n"], protocol["reference"], options.seed)
    record = {"row": row.name, "preset": row.preset, "fid": result["fid"],
              "published_fid": row.published_fid if dataset == PUBLISHED_ON else None,
              "train_seconds": round(train_seconds, 1), "eval_seconds": round(time.perf_counter() - t0, 1),
              "steps": protocol["config"]["steps"], "run": str(run),
              "protocol": {**protocol, "fid": result["protocol"], "machine": machine(),
                           "ganforge_version": __version__}}
    write_json(path, record)
    return record


def markdown(rows: list[dict]) -> str:
    """The table as Markdown: published beside measured, with each row's wall times."""
    lines = ["| row | preset | published FID | ganforge FID | training | scoring |", "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        pub = "-" if r["published_fid"] is None else f"{r['published_fid']:.1f}"
        lines.append(f"| {r['row']} | {r['preset']} | {pub} | {r['fid']:.1f} | {r['train_seconds'] / 60:.0f} min "
                     f"| {r['eval_seconds'] / 60:.0f} min |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """Grouped bars: the published FID and ours per row (lower is better)."""
    fig = Figure(figsize=(1.1 * len(rows) + 2.5, 3.4))
    ax = fig.subplots()
    x = range(len(rows))
    pub = [r["published_fid"] if r["published_fid"] is not None else float("nan") for r in rows]
    ax.bar([i - 0.2 for i in x], pub, 0.4, label="Lucic et al. 2018 (best of 100 settings)", color="tab:gray")
    ax.bar([i + 0.2 for i in x], [r["fid"] for r in rows], 0.4, label="ganforge (preset defaults)", color="tab:blue")
    ax.set_xticks(list(x), [r["row"] for r in rows])
    ax.set_ylabel("FID (lower is better)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def write_table(out: Path) -> list[str]:
    """Rewrite the table files from every finished row in ``out``; the paths written."""
    rows = [json.loads((out / f"{name}.json").read_text()) for name in ROWS if (out / f"{name}.json").exists()]
    paths = [out / f"{NAME}.json", out / f"{NAME}.md", out / f"{NAME}.png"]
    write_json(paths[0], {"rows": rows, "written": [str(p) for p in paths]})
    write_text(paths[1], markdown(rows))
    plot(rows, paths[2])
    return [str(p) for p in paths]


@EXPERIMENTS.register(NAME)
def lucic_table(options: ExperimentOptions) -> dict:
    """Measure the chosen rows one after another, rewriting the table after each."""
    dataset = dataset_name(options.dataset)
    if options.metrics not in (None, ["fid"]):
        raise GanforgeError(f"lucic-table measures FID only, got --metrics {','.join(options.metrics)}")
    rows = pick_rows(options.rows)
    for row in rows:
        row_protocol(row, options, dataset)  # every override and row checked before hours of training
    written: list[str] = []
    for row in rows:
        measure_row(row, options, dataset)
        written = write_table(Path(options.out))
    return {"written": written}


lucic_table.takes_rows = True  # --rows and KEY=VALUE overrides (the other experiments refuse them)
lucic_table.default_n = 10_000  # Lucic et al.: 10,000 generated images against the 10,000 test images
