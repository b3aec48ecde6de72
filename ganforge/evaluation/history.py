"""Metrics over a run's history: every kept checkpoint (or chosen steps) scored, one record per checkpoint.

``evaluate_history(run, ["parzen"])`` runs :func:`~.records.evaluate_run` at each checkpoint training kept
(``keep_checkpoints``), writing ``RUN/eval/step-<step>.json`` (and ``step-<step>-<metric>.json`` for the
likelihood metrics) as ``ganforge eval`` does for the latest one, plus the baseline of real training images
(:mod:`.baseline`) in each record's protocol. The report then draws each metric against the training step
with its baseline, which redraws:

- Goodfellow et al. 2014, Fig. 4: log-likelihood over training epochs (``--metrics parzen`` or ``ais``);
- Basart 2017, Fig. 3.3: the Parzen estimate over training time;
- Basart 2017, Fig. 3.6: DDM over training time, with the training set's own DDM as the baseline.

A metric is computed again only where its record does not already hold it for the same request: the same
checkpoint, reference, seed, version, features, ``n`` and sampler settings (for ``ais``/``iwae``: the same
likelihood options). A second call therefore recomputes nothing, and a call that was killed resumes at the
checkpoints and metrics it had not recorded (each record is written atomically).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .. import __version__
from ..config import reference_data
from ..data import test_split_of
from ..errors import GanforgeError
from ..fileio import write_json
from ..runs import RunDir
from .baseline import baselines
from .likelihood import MODEL_METRICS, LikelihoodOptions
from .records import evaluate_run, record_path
from .registry import METRICS


@dataclass(frozen=True)
class Request:
    """What one history evaluation asks of every checkpoint, as its records' protocols note it."""

    reference: str
    features: str | None = None
    n: int = 10_000
    seed: int = 0
    sampler: dict = field(default_factory=dict)
    likelihood: LikelihoodOptions = field(default_factory=LikelihoodOptions)


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    ok = isinstance(record, dict) and isinstance(record.get("protocol"), dict)
    return record if ok and isinstance(record["protocol"].get("metrics"), dict) else None


def _asked(metric: str, request: Request) -> dict:
    """The protocol's ``request`` entry a record of ``metric`` answering ``request`` carries (as JSON gives it)."""
    if metric in MODEL_METRICS:
        asked = {"options": asdict(request.likelihood)}
    else:
        asked = {"n": request.n, "sampler": dict(request.sampler)}
    return json.loads(json.dumps(asked))


def is_fresh(record: dict | None, metric: str, checkpoint: Path, step: int, request: Request) -> bool:
    """Whether ``record`` holds ``metric`` of this checkpoint for this very request (nothing to recompute)."""
    if record is None:
        return False
    protocol = record["protocol"]
    spec = protocol["metrics"].get(metric)
    if not isinstance(spec, dict) or not all(k in record for k in spec.get("values") or [None]):
        return False
    inputs = protocol.get("inputs") or [None]
    same = (Path(str(protocol.get("checkpoint"))).name == checkpoint.name and protocol.get("step") == step
            and inputs[0] == request.reference and protocol.get("ganforge_version") == __version__
            and protocol.get("request") == _asked(metric, request))
    if metric in MODEL_METRICS:
        return same
    features = request.features or METRICS.get(metric).features
    return same and protocol.get("seed") == request.seed and spec.get("features") == features


def checkpoints_at(run: str | Path, steps: list[int] | None) -> list[tuple[int, Path]]:
    """(step, checkpoint) of every kept checkpoint, oldest first, or of ``steps`` (a user error naming the kept
    steps when one of them was not kept)."""
    rundir = RunDir(run)
    if steps is None:
        rundir.read_config()  # not a run: that error first
        kept = rundir.checkpoints()
        if not kept:
            raise GanforgeError(f"{rundir.root} has no checkpoint yet (expected {rundir.ckpt_dir}/step-N.pt)")
        return kept
    return [(step, rundir.checkpoint_at(step)) for step in sorted(set(steps))]


def attach_baselines(path: Path, lines: dict[str, dict]) -> None:
    """Copy each baseline into the protocol of the record at ``path`` that scored its metric (rewritten only
    when something changes)."""
    record = _read(path)
    if record is None:
        return
    protocol = record["protocol"]
    held = protocol["baseline"] if isinstance(protocol.get("baseline"), dict) else {}
    wanted = {**held, **{m: e for m, e in lines.items() if m in protocol["metrics"]}}
    if wanted != held:
        write_json(path, {**record, "protocol": {**protocol, "baseline": wanted}})


def read_step(run: str | Path, step: int, metrics: list[str], sampler: Mapping[str, Any] | None = None) -> dict:
    """The values of ``metrics`` at ``step``, read back from its records, with the protocol of its feature
    record (and the likelihood records' protocols under ``protocol["likelihood"]``), as :func:`evaluate_run`
    returns them."""
    values, protocols = {}, {}
    for metric in metrics:
        record = _read(record_path(run, step, metric, sampler))
        values.update({k: record[k] for k in record["protocol"]["metrics"][metric]["values"]})
        protocols[metric if metric in MODEL_METRICS else ""] = record["protocol"]
    likelihood = {m: p for m, p in protocols.items() if m}
    protocol = protocols.get("") or next(iter(likelihood.values()))
    if "" in protocols and likelihood:
        protocol = {**protocol, "likelihood": likelihood}
    return {**values, "protocol": protocol}


def evaluate_history(run: str | Path, metrics: list[str] | None = None, steps: list[int] | None = None,
                     features: str | None = None, n: int = 10_000, ref: str | None = None, seed: int = 0,
                     sampler: Mapping[str, Any] | None = None, likelihood: LikelihoodOptions | None = None,
                     baseline: bool = True,
                     on_step: Callable[[int, dict, list[str]], None] | None = None) -> list[tuple[int, dict]]:
    """``metrics`` (default fid, kid) at every kept checkpoint of ``run`` (or at ``steps``), oldest first, as
    ``[(step, result), ...]`` with results shaped as :func:`evaluate_run`'s; each computed only where its record
    does not hold it for this request yet. With ``baseline`` each record's protocol gets the metric's baseline
    of real training images (:mod:`.baseline`). ``on_step(step, result, computed)`` is called after each
    checkpoint with the metrics it had to compute (empty: all read from the records)."""
    names = metrics or ["fid", "kid"]
    kept = checkpoints_at(run, steps)
    request = Request(ref or test_split_of(reference_data(RunDir(run).read_config())), features, n, seed,
                      dict(sampler or {}), likelihood or LikelihoodOptions())
    lines = baselines(run, names, request.reference, n, seed, features) if baseline else {}
    history = []
    for step, checkpoint in kept:
        computed = [m for m in names
                    if not is_fresh(_read(record_path(run, step, m, request.sampler)), m, checkpoint, step, request)]
        if computed:
            evaluate_run(run, computed, features, n, request.reference, seed, request.sampler, request.likelihood,
                         checkpoint)
        if lines:
            attach_baselines(record_path(run, step, next(iter(lines)), request.sampler), lines)
        history.append((step, read_step(run, step, names, request.sampler)))
        if on_step:
            on_step(step, history[-1][1], computed)
    return history
