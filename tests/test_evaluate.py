"""score/eval orchestration: values match an independent computation, protocol recorded, features cached."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg

import ganforge
from ganforge import evaluate
from ganforge.cli import main

from conftest import TINY, needs_fashion


def _fid_reference(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.fixture
def two_sets(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (60, 4, 4, 1), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 60, a.shape), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "a.npz", images=a)
    np.save(tmp_path / "b.npy", b[..., 0])  # (N, H, W) layout too
    return tmp_path / "a.npz", tmp_path / "b.npy", a.reshape(60, -1) / 255.0, b.reshape(60, -1) / 255.0


def test_score_json_matches_independent_fid_and_records_protocol(two_sets, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    a, b, fa, fb = two_sets
    assert main(["score", str(a), str(b), "--metrics", "fid,kid", "--features", "pixels", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fid"] == pytest.approx(_fid_reference(fa, fb), rel=1e-6)
    assert out["fid"] > 0 and np.isfinite(out["kid"])
    proto = out["protocol"]
    assert proto["inputs"] == [str(a), str(b)] and proto["n"] == [60, 60] and proto["seed"] == 0
    assert proto["features"]["pixels"]["dim"] == 16
    assert set(proto["metrics"]) == {"fid", "kid"} and proto["ganforge_version"] == ganforge.__version__


def test_identical_sets_score_zero(two_sets, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    a, _, _, _ = two_sets
    out = evaluate.score(str(a), str(a), ["fid", "prdc"], "pixels")
    assert abs(out["fid"]) < 1e-6 and out["precision"] == 1.0 and out["recall"] == 1.0


def test_reference_features_are_cached(two_sets, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    a, b, _, _ = two_sets
    calls = []
    real_extract = evaluate.extract
    monkeypatch.setattr(evaluate, "extract", lambda ext, images: calls.append(len(images)) or real_extract(ext, images))
    first = evaluate.score(str(a), str(b), ["fid"], "pixels")
    assert len(calls) == 2 and len(list((tmp_path / "cache" / "features").iterdir())) == 2
    second = evaluate.score(str(a), str(b), ["fid"], "pixels")
    assert len(calls) == 2 and second["fid"] == first["fid"]  # nothing recomputed
    evaluate.score(str(a), str(b), ["fid"], "pixels", n=30)  # a different n is a different key
    assert len(calls) == 4


def test_unknown_metric_is_a_user_error(two_sets, capsys):
    a, b, _, _ = two_sets
    assert main(["score", str(a), str(b), "--metrics", "fid,nope"]) == 2
    assert "unknown metric 'nope'" in capsys.readouterr().err


@needs_fashion
def test_eval_run_writes_a_record_naming_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    ganforge.train("quickstart", tmp_path / "r", steps=2, **TINY)
    result, out = evaluate.evaluate_run(tmp_path / "r", ["fid", "ddm"], "pixels", n=100)
    record = json.loads(out.read_text())
    assert out.name == "step-0000002.json" and record["fid"] == pytest.approx(result["fid"])
    assert record["protocol"]["step"] == 2 and record["protocol"]["checkpoint"].endswith("step-0000002.pt")
    assert record["protocol"]["inputs"][0] == "fashion-mnist:test"
