"""Eval records: ``evaluate_run`` scores a run's checkpoint and writes ``RUN/eval/step-<step>.json``.

The record is what ``ganforge report`` reads: the numbers, their protocol (naming the checkpoint) and the
``details`` metrics left (class histograms, nearest-neighbour rows), with pictures beside it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from ..config import reference_data
from ..data import test_split_of
from ..errors import GanforgeError
from ..fileio import write_json
from ..runs import RunDir
from ..training.trained import load
from .context import Extras
from .likelihood import MODEL_METRICS, LikelihoodOptions, evaluate_likelihood
from .panels import write_png
from .scoring import score_with_extras


def evaluate_run(run: str | Path, metrics: list[str] | None = None, features: str | None = None,
                 n: int = 10_000, ref: str | None = None, seed: int = 0,
                 sampler: Mapping[str, Any] | None = None,
                 likelihood: LikelihoodOptions | None = None,
                 checkpoint: int | str | Path | None = None, direction: str = "xy") -> tuple[dict, Path]:
    """Score a run's checkpoint (default its latest; a step number or a checkpoint file) against ``ref``
    (default: the test split of its dataset, or of its ``data_target`` for an unpaired model, CycleGAN); writes and returns ``RUN/eval/step-<step>.json``. The returned
    result holds the numbers and protocol only (``protocol["request"]``: the ``n`` and sampler settings asked
    for, so :mod:`.history` can tell a record it can reuse); the
    protocol's ``sampling`` records the run's sampler (``sampler`` overrides an iterative family's settings,
    e.g. ``{"steps": 20}``), its network evaluations per image and the sampling seconds.

    Likelihood metrics (``ais``, ``iwae``: :mod:`.likelihood`, with ``likelihood`` options) are written to
    their own records ``RUN/eval/step-<step>-<metric>.json``; their values join the returned result and their
    protocols its ``protocol["likelihood"]``.

    ``direction="yx"`` scores an unpaired run's (CycleGAN's) reverse translator F: Y -> X: n test images of its
    ``data_target`` translated and, by default, compared with the test split of its ``data``; the values are
    named with the suffix ``_yx`` (``fid_yx``, ``target_class_yx``, ``cycle_l1_yx``) and recorded in
    ``RUN/eval/step-<step>-yx.json``, beside the record of G: X -> Y."""
    names = metrics or ["fid", "kid"]
    likelihood_names = [m for m in names if m in MODEL_METRICS]
    if direction != "xy" and likelihood_names:
        raise GanforgeError(f"{likelihood_names[0]} scores a model's likelihood and has no --direction {direction}")
    if isinstance(checkpoint, int):
        checkpoint = RunDir(run).checkpoint_at(checkpoint)
    values, protocols, outs = {}, {}, []
    for name in (m for m in names if m in MODEL_METRICS):
        result, out = evaluate_likelihood(run, name, likelihood or LikelihoodOptions(), ref, checkpoint)
        protocols[name] = result.pop("protocol")
        values.update(result)
        outs.append(out)
    feature_metrics = [m for m in names if m not in MODEL_METRICS]
    if not feature_metrics:  # likelihood metrics only: their first record's protocol, all their metrics
        first = next(iter(protocols.values()))
        metrics_seen = {k: v for p in protocols.values() for k, v in p["metrics"].items()}
        return {**values, "protocol": {**first, "metrics": metrics_seen}}, outs[0]
    result, out = _evaluate_features(run, feature_metrics, features, n, ref, seed, sampler, checkpoint, direction)
    if protocols:
        result.update(values)
        result["protocol"]["likelihood"] = protocols
    return result, out


def _evaluate_features(run, metrics, features, n, ref, seed, sampler, checkpoint,
                       direction: str = "xy") -> tuple[dict, Path]:
    """The feature metrics of :func:`evaluate_run`, scored and recorded in ``RUN/eval/step-<step>.json``."""
    model = load(run, checkpoint)
    reference = ref or test_split_of(model.config.data if direction == "yx" else reference_data(model.config))
    result, extras = score_with_extras(reference, str(run), metrics, features, n, seed, model.config.data_root,
                                       sampler, model.checkpoint, direction)
    result["protocol"].update(checkpoint=str(model.checkpoint), step=model.step,
                              request={"n": n, "sampler": dict(sampler or {})})
    out = record_path(run, model.step, sampler=sampler, direction=direction)
    record = {**result, "details": write_pictures(extras, out)} if extras.details else result
    write_json(out, merge_record(out, record))
    return result, out


def sampler_tag(sampler: Mapping[str, Any] | None) -> str:
    """The part of a record's name that tells sampler settings apart (``-ddim-steps20``; empty for the run's
    own sampler), so ``eval --steps 20`` and ``eval --steps 50`` of one checkpoint keep two records."""
    items = {k: v for k, v in (sampler or {}).items() if v is not None}
    name = items.pop("sampler", None)
    parts = ([str(name)] if name else []) + [f"{k}{v}" for k, v in sorted(items.items())]
    return "".join(f"-{re.sub(r'[^A-Za-z0-9.]+', '_', p)}" for p in parts)


def record_path(run: str | Path, step: int, metric: str | None = None,
                sampler: Mapping[str, Any] | None = None, direction: str = "xy") -> Path:
    """Where checkpoint ``step``'s scores are recorded: ``RUN/eval/step-<step>.json`` for the feature
    metrics (with :func:`sampler_tag` when a sampler setting was asked for, and ``-yx`` for an unpaired run's
    reverse direction), a file of its own (``step-<step>-<metric>.json``) for a likelihood metric."""
    own = f"-{metric}" if metric in MODEL_METRICS else sampler_tag(sampler) + ("" if direction == "xy" else
                                                                              f"-{direction}")
    return Path(run) / "eval" / f"step-{step:07d}{own}.json"


def write_pictures(extras: Extras, record: Path) -> dict:
    """Write each picture beside ``record`` as ``<record stem>-<name>.png``; the details, each naming its
    picture file under ``picture``."""
    details = {metric: dict(d) for metric, d in extras.details.items()}
    for metric, (name, picture) in extras.pictures.items():
        path = write_png(picture, record.with_name(f"{record.stem}-{name}.png"))
        details.setdefault(metric, {})["picture"] = path.name
    return details


def _is_record(old) -> bool:
    """Whether ``old`` has the shape of a record :func:`merge_record` can merge into."""
    protocol = old.get("protocol") if isinstance(old, dict) else None
    return isinstance(protocol, dict) and isinstance(old.get("details", {}), dict) and all(
        isinstance(protocol.get(k), dict) for k in ("features", "metrics"))


def _kept_baselines(old: dict, new: dict) -> dict:
    """The old protocol's baselines (:mod:`.baseline`) still true after merging ``new``: those of metrics it
    did not score, or scored on the same features with the same request (``n``, sampler)."""
    lines = old.get("baseline") if isinstance(old.get("baseline"), dict) else {}
    same_request = old.get("request") == new.get("request")
    return {m: line for m, line in lines.items()
            if m not in new["metrics"] or (same_request and old["metrics"].get(m) == new["metrics"][m])}


def merge_record(path: Path, result: dict) -> dict:
    """Add ``result`` to an existing record of the same checkpoint, inputs, n and seed (else replace it),
    so ``eval --metrics fid`` then ``eval --metrics parzen`` keep both (numbers, protocol and details). The
    protocol's ``baseline`` (:mod:`.baseline`) keeps the lines of the metrics ``result`` did not score anew."""
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return result
    if not _is_record(old):
        return result  # not a record this function wrote: replaced, as an unreadable one is
    same = ("inputs", "n", "seed", "checkpoint", "ganforge_version", "content_sha1")
    if any(old.get("protocol", {}).get(k) != result["protocol"].get(k) for k in same):
        return result
    merged = {**old, **result}
    new = result["protocol"]
    merged["protocol"] = {**old["protocol"], **new,
                          "features": {**old["protocol"]["features"], **new["features"]},
                          "metrics": {**old["protocol"]["metrics"], **new["metrics"]}}
    lines = {**_kept_baselines(old["protocol"], new), **new.get("baseline", {})}
    merged["protocol"].pop("baseline", None)
    if lines:
        merged["protocol"]["baseline"] = lines
    details = {**old.get("details", {}), **result.get("details", {})}
    if details:
        merged["details"] = details
    return merged
