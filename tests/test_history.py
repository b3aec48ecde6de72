"""Metrics over a run's history (``eval --every-checkpoint`` / ``--at-steps``): one record per kept checkpoint,
each equal to a single-checkpoint evaluation, nothing recomputed on a second call, the baseline of real
training images equal to a direct ``score``, and the report drawing both."""
from __future__ import annotations

import json
import shutil

import pytest

import ganforge
from ganforge import evaluation as evaluate
from ganforge.cli import main
from ganforge.evaluation import baseline as baseline_module, history as history_module

from conftest import TINY, needs_fashion

pytestmark = needs_fashion

# fid on pixels and the Parzen window (pixels by default): cheap metrics that do depend on the checkpoint
ARGS = ["--metrics", "fid,parzen", "--features", "pixels", "--n", "100"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """6 steps, a checkpoint every 2, the last 2 kept: checkpoints 4 and 6 (2 was pruned)."""
    return ganforge.train("quickstart", tmp_path_factory.mktemp("hist") / "run", steps=6,
                          **{**TINY, "ckpt_every": 2, "keep_checkpoints": 2})


@pytest.fixture
def run(trained, tmp_path, monkeypatch):
    """A fresh copy of the trained run (no eval records yet) and a private feature cache."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    return shutil.copytree(trained, tmp_path / "run")


@pytest.fixture(scope="module")
def evaluated(trained, tmp_path_factory):
    """The run after ``ganforge eval RUN --every-checkpoint ... --json``, and that command's output."""
    root = tmp_path_factory.mktemp("evaluated")
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_CACHE", str(root / "cache"))
    run = shutil.copytree(trained, root / "run")
    out = root / "stdout.json"
    with open(out, "w") as fh, pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", fh)
        assert main(["eval", str(run), "--every-checkpoint", *ARGS, "--json"]) == 0
    mp.undo()
    return run, json.loads(out.read_text())


def _record(run, step):
    return json.loads((run / "eval" / f"step-{step:07d}.json").read_text())


def test_every_kept_checkpoint_gets_a_record_equal_to_its_own_evaluation(evaluated, trained, tmp_path, monkeypatch):
    run, printed = evaluated
    assert [h["step"] for h in printed["history"]] == [4, 6]
    assert sorted(p.name for p in (run / "eval").glob("step-*.json")) == ["step-0000004.json", "step-0000006.json"]
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    alone = shutil.copytree(trained, tmp_path / "alone")  # no records: evaluate_run computes from scratch
    for step, shown in zip((4, 6), printed["history"]):
        record = _record(run, step)
        assert record["protocol"]["step"] == step and record["protocol"]["checkpoint"].endswith(f"step-{step:07d}.pt")
        single, _ = evaluate.evaluate_run(alone, ["fid", "parzen"], "pixels", n=100, checkpoint=step)
        for key in ("fid", "parzen", "parzen_se", "parzen_sigma"):
            assert record[key] == single[key] == shown[key], (step, key)
    assert _record(run, 4)["fid"] != _record(run, 6)["fid"]  # each record scored its own checkpoint


def test_the_baseline_is_the_metric_of_training_images_against_the_reference(evaluated):
    run, printed = evaluated
    stored = json.loads((run / "eval" / "baseline.json").read_text())["baselines"]
    assert sorted(e["key"]["metric"] for e in stored) == ["fid", "parzen"]
    for entry in stored:
        metric = entry["key"]["metric"]
        direct = evaluate.score("fashion-mnist:test", "fashion-mnist:train[:512]", [metric], "pixels", n=100, seed=0)
        direct.pop("protocol")
        assert entry["values"] == direct and entry["key"]["n"] == 100 and entry["key"]["features"] == "pixels"
        for step in (4, 6):  # the same line in each record's protocol
            assert _record(run, step)["protocol"]["baseline"][metric]["values"] == direct
    assert printed["history"][0]["protocol"]["baseline"]["parzen"]["values"]["parzen"] > printed["history"][0]["parzen"]


def test_a_second_call_recomputes_nothing_and_an_interrupted_one_resumes(run, monkeypatch):
    metrics = ["fid", "parzen"]
    evaluate.evaluate_history(run, metrics, steps=[4], features="pixels", n=100)  # as if killed after step 4
    calls, scored = [], []
    real_eval, real_score = history_module.evaluate_run, baseline_module.score
    monkeypatch.setattr(history_module, "evaluate_run", lambda *a, **k: calls.append(a[-1]) or real_eval(*a, **k))
    monkeypatch.setattr(baseline_module, "score", lambda *a, **k: scored.append(a) or real_score(*a, **k))
    first = evaluate.evaluate_history(run, metrics, features="pixels", n=100)
    assert [c.name for c in calls] == ["step-0000006.pt"] and scored == []  # step 4 and the baselines were kept
    files = sorted((run / "eval").iterdir())
    stamps = {p.name: p.stat().st_mtime_ns for p in files}
    again = evaluate.evaluate_history(run, metrics, features="pixels", n=100)
    assert again == first and len(calls) == 1 and scored == []
    assert {p.name: p.stat().st_mtime_ns for p in sorted((run / "eval").iterdir())} == stamps
    evaluate.evaluate_history(run, ["parzen"], features="pixels", n=50)  # another n is another request
    assert len(calls) == 3 and len(scored) == 1


def test_at_steps_naming_a_step_that_was_not_kept_is_a_one_line_error(run, capsys):
    assert main(["eval", str(run), "--at-steps", "2,4", *ARGS]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no checkpoint at step 2" in err and "kept steps: 4, 6" in err
    assert "Traceback" not in err and not (run / "eval").exists()  # refused before anything was computed
    assert main(["eval", str(run), "--at-steps", "6", *ARGS, "--no-baseline"]) == 0
    assert "step 6 " in capsys.readouterr().out
    assert [p.name for p in (run / "eval").iterdir()] == ["step-0000006.json"]
    assert "baseline" not in _record(run, 6)["protocol"]


def test_report_draws_each_metric_over_the_steps_with_its_baseline(evaluated, tmp_path, monkeypatch):
    import base64
    import re

    from ganforge.report import build_report, history as report_history

    run, _ = evaluated
    drawn = []
    real_curves = report_history.history_curves
    monkeypatch.setattr(report_history, "history_curves", lambda series: drawn.append(series) or real_curves(series))
    html = build_report([run], tmp_path / "r.html").read_text()
    series = {s["label"]: s for s in drawn[0]}
    assert set(series) == {"fid [pixels]", "parzen"}  # ranked values only (not parzen_se or parzen_sigma)
    records = {step: _record(run, step) for step in (4, 6)}
    for label, metric in (("fid [pixels]", "fid"), ("parzen", "parzen")):
        assert series[label]["points"] == {step: records[step][metric] for step in (4, 6)}
        assert series[label]["baseline"] == records[6]["protocol"]["baseline"][metric]["values"][metric]
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="metrics over training"', html)
    assert match and base64.b64decode(match.group(1)).startswith(b"\x89PNG")
    row = re.search(r"<tr><td>parzen</td>.*?</tr>", html).group(0)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    expected = [records[4]["parzen"], records[6]["parzen"], series["parzen"]["baseline"]]
    assert cells == ["%.5g" % v for v in expected]


def test_a_record_merged_with_the_same_request_keeps_its_baseline(tmp_path):
    """merge_record drops the baseline of a metric scored anew with another request (it may be of other
    features or n) and keeps the others."""
    line = {"values": {"fid": 1.0}}
    proto = {"inputs": ["a", "b"], "n": [10, 10], "seed": 0, "checkpoint": "c", "ganforge_version": "v",
             "content_sha1": ["x", "y"], "features": {"pixels": {}}, "request": {"n": 10, "sampler": {}},
             "metrics": {"fid": {"features": "pixels"}, "kid": {"features": "pixels"}}}
    path = tmp_path / "step.json"
    path.write_text(json.dumps({"fid": 2.0, "kid": 0.1, "protocol": {**proto, "baseline": {"fid": line, "kid": line}}}))
    same = {"fid": 2.0, "protocol": {**proto, "metrics": {"fid": {"features": "pixels"}}}}
    assert evaluate.merge_record(path, same)["protocol"]["baseline"] == {"fid": line, "kid": line}
    other = {"fid": 3.0, "protocol": {**proto, "request": {"n": 20, "sampler": {}}, "metrics": {"fid": {"features": "pixels"}}}}
    assert evaluate.merge_record(path, other)["protocol"]["baseline"] == {"kid": line}
