"""The report's evidence sections, read from a run's eval records: the class histogram of the ``modes``
metric and the nearest-neighbour panel of the ``memorisation`` metric (``ganforge eval`` leaves both).

Each section comes from the latest record that has it. A record is a file, so its contents are checked
here (a wrong shape is a one-line GanforgeError naming the record) and a picture is only read from the
run's own ``eval`` folder, whatever name the record gives.
"""
from __future__ import annotations

import base64
from pathlib import Path

from PIL import Image

from ..errors import GanforgeError
from .charts import class_histogram

PANEL_WIDTH = 400  # target display width in CSS pixels; the picture is scaled by a whole number


def _latest(evals: list[dict], metric: str) -> tuple[dict, dict] | tuple[None, None]:
    for record in reversed(evals):
        details = record["details"].get(metric)
        if details is not None:
            return record, details
    return None, None


def _int_list(value, length: int | None = None) -> bool:
    ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    return ok and (length is None or len(value) == length)


def histogram_section(evals: list[dict]) -> dict | None:
    """The class histogram chart and table of the latest record with ``details.modes`` (else None)."""
    record, modes = _latest(evals, "modes")
    if record is None:
        return None
    classes = modes.get("classes") if isinstance(modes, dict) else None
    ok = isinstance(classes, list) and all(isinstance(c, str) for c in classes) and classes
    if not ok or not _int_list(modes.get("generated"), len(classes)) or not _int_list(modes.get("reference"),
                                                                                       len(classes)):
        raise GanforgeError(f"{record['path']}: details.modes must hold 'classes' (names) and 'generated' and "
                            "'reference' counts, one per class")
    rows = list(zip(classes, modes["generated"], modes["reference"]))
    return {"png": class_histogram(classes, modes["generated"], modes["reference"]), "rows": rows,
            "record": record["file"], "n_generated": sum(modes["generated"]), "n_reference": sum(modes["reference"])}


def _panel_rows(record: dict, rows) -> list[dict]:
    def valid(row) -> bool:
        return (isinstance(row, dict) and isinstance(row.get("generated"), int) and _int_list(row.get("train"))
                and isinstance(row.get("distances"), list)
                and all(isinstance(d, (int, float)) for d in row["distances"]))

    if not isinstance(rows, list) or not all(valid(row) for row in rows):
        raise GanforgeError(f"{record['path']}: details.memorisation.rows must be a list of "
                            "{generated, train, distances} objects")
    return rows


def panel_section(evals: list[dict]) -> dict | None:
    """The nearest-neighbour picture (base64), its display size and per-row distances (else None)."""
    record, memo = _latest(evals, "memorisation")
    if record is None or not isinstance(memo, dict) or not isinstance(memo.get("picture"), str):
        return None
    path = record["path"].parent / Path(memo["picture"]).name  # never outside the run's eval folder
    if not path.is_file():
        return None
    rows = _panel_rows(record, memo.get("rows"))
    try:
        with Image.open(path) as image:
            width, height = image.size
    except OSError:
        raise GanforgeError(f"{path}: not a readable PNG picture") from None
    scale = max(1, round(PANEL_WIDTH / width))
    pad = memo.get("pad", 0) if isinstance(memo.get("pad", 0), int) else 0  # the panel's margin, in its record
    pitch = (height - pad) / max(len(rows), 1) * scale  # display height of one row
    return {"png": base64.b64encode(path.read_bytes()).decode(), "width": width * scale,
            "rows": rows, "pitch": round(pitch, 2), "top": pad * scale, "record": record["file"],
            "picture": path.name, "train": str(memo.get("train", "")), "space": str(memo.get("space", ""))}
