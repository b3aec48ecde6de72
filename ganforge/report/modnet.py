"""The report's ModNet panels (Basart 2017, "Analysis of Generative Adversarial Models", chapter 2): the run's
latest progress grid cut into one source | delta | result strip per target class (Fig. 2.3-2.5 show such
modifications), and what the run's records say about the modifications: the share its classifiers label as
their target (the fooling rate of section 2.5.2) and the size of the change (section 2.5.3).

The grid is the one the ``modnet`` family saves during training (``samples/step-N.png``: per source image one
row, the source, then delta and result for target class 0 ... K-1; deltas drawn as (delta / 2 + 1) / 2, so no
change is mid grey; torchvision's ``make_grid`` with 2 px padding). K and the tile size are recovered from the
picture's size and the run's ``grid_size`` (rows = ceil(sqrt(grid_size)), as the training loop draws); a picture that fits no K is left out.

The numbers come from the records only: the latest eval record's ``cond_acc`` (share of modifications the
dataset classifier named in its protocol labels as the target) and ``change_l1`` / ``change_l2``
(``ganforge eval RUN --metrics cond-acc,change``), and the latest ``eval_*`` log row the run wrote with
``eval_every`` (its own critic's fooling rate and accuracy on real test images, and the mean L1 change).
"""
from __future__ import annotations

import base64
import io
import math
from pathlib import Path

from PIL import Image

PAD = 2            # make_grid's padding
STRIP_WIDTH = 150  # display width of one class's strip, CSS pixels
LOG_KEYS = ("eval_fooling_rate", "eval_critic_acc_real", "eval_l1_per_pixel")


def grid_layout(width: int, height: int, grid_size: int) -> tuple[int, int, int] | None:
    """(classes K, source rows R, tile pitch) of a ModNet training grid of ``width`` x ``height`` pixels, or
    None. The loop draws R = ceil(sqrt(grid_size)) sources, each row 1 + 2K tiles wide."""
    rows = math.ceil(math.sqrt(grid_size))
    pitch, rest = divmod(height - PAD, rows)
    if rest or pitch <= PAD or (width - PAD) % pitch:
        return None
    tiles = (width - PAD) // pitch
    return ((tiles - 1) // 2, rows, pitch) if tiles >= 5 and tiles % 2 else None


def _png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def class_strips(grid: Path, grid_size: int, names: list[str] | None) -> list[dict] | None:
    """One picture per target class: the R sources, their deltas and results for that class side by side."""
    with Image.open(grid) as image:
        image.load()
        layout = grid_layout(*image.size, grid_size)
        if layout is None:
            return None
        k, rows, pitch = layout
        strips = []
        for cls in range(k):
            strip = Image.new(image.mode, (3 * pitch + PAD, rows * pitch + PAD))
            for j, col in enumerate((0, 1 + 2 * cls, 2 + 2 * cls)):  # source, delta, result
                box = (col * pitch, 0, (col + 1) * pitch + PAD, rows * pitch + PAD)
                strip.paste(image.crop(box), (j * pitch, 0))
            name = names[cls] if names and len(names) == k else str(cls)
            strips.append({"cls": cls, "name": name, "png": _png(strip)})
    return strips


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def critic_name(options: dict) -> str:
    """The run's own classifier, as its config says: the shared critic's class head or a separate network."""
    if options.get("critic", "shared") == "shared":
        return "the critic's class head (shared critic, trained with G)"
    net = str(options.get("classifier_net", "small-cnn"))
    init = f", initialised from {options['classifier_init']}" if options.get("classifier_init") else ""
    return f"separate classifier {net}{init}{', frozen' if options.get('freeze_classifier') else ''}"


def record_numbers(evals: list[dict]) -> dict | None:
    """The latest eval record's target accuracy and change, with the classifier its protocol names."""
    record = next((e for e in reversed(evals) if any(k in e["metrics"] for k in ("cond_acc", "change_l1"))), None)
    if record is None:
        return None
    features = record.get("features", {})
    classifier = features.get("classifier") if isinstance(features.get("classifier"), dict) else {}
    accuracy = classifier.get("test_accuracy")
    named = str(classifier.get("extractor", "the dataset classifier"))
    if _number(accuracy):
        named += f" (test accuracy {accuracy:.3f})"
    values = {k: record["metrics"].get(k) for k in ("cond_acc", "change_l1", "change_l2")}
    return {"file": record["file"], "classifier": named, **{k: v for k, v in values.items() if _number(v)}}


def log_numbers(log: list[dict], options: dict) -> dict | None:
    """The latest log row with the run's held-out ModNet statistics (written with ``eval_every``)."""
    row = next((r for r in reversed(log) if any(_number(r.get(k)) for k in LOG_KEYS)), None)
    if row is None:
        return None
    return {"step": row.get("step"), "critic": critic_name(options),
            **{k: row[k] for k in (*LOG_KEYS, "eval_cond_acc") if _number(row.get(k))}}


def modnet_section(config: dict, grids: list[Path], evals: list[dict], log: list[dict]) -> dict | None:
    """The ModNet panels of a ``modnet`` run (None for any other family)."""
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    if model.get("family") != "modnet":
        return None
    options = model.get("options") if isinstance(model.get("options"), dict) else {}
    names = next((e["details"]["modes"].get("classes") for e in reversed(evals)
                  if isinstance(e["details"].get("modes"), dict)), None)
    names = names if isinstance(names, list) and all(isinstance(n, str) for n in names) else None
    grid_size = config.get("grid_size") if isinstance(config.get("grid_size"), int) else 64
    strips = class_strips(grids[-1], grid_size, names) if grids else None
    return {"strips": strips, "grid_name": grids[-1].name if grids else "", "strip_width": STRIP_WIDTH,
            "record": record_numbers(evals), "logged": log_numbers(log, options)}
