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


@needs_fashion
def test_parzen_follows_the_goodfellow_protocol(tmp_path, monkeypatch):
    """sigma from the grid maximising valid[:1000] log-likelihood; test mean and standard error."""
    from scipy.special import logsumexp

    from ganforge.data import load_dataset

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    gen = load_dataset("fashion-mnist:train[:300]").images
    np.savez(tmp_path / "gen.npz", images=gen.permute(0, 2, 3, 1).numpy())
    out = evaluate.score("fashion-mnist:test", str(tmp_path / "gen.npz"), ["parzen"], n=300)

    def ll(x, mu, sigma):  # brute force: every pair, float64
        d2 = ((x[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
        return logsumexp(-d2 / (2 * sigma ** 2), axis=1) - np.log(len(mu)) - mu.shape[1] * np.log(sigma * np.sqrt(2 * np.pi))

    mu = gen.reshape(300, -1).numpy() / 255.0
    valid = load_dataset("fashion-mnist:valid[:1000]").images.reshape(1000, -1).numpy() / 255.0
    sigmas = np.logspace(-1, 0, 10)
    best = sigmas[np.argmax([np.mean(np.concatenate([ll(valid[i:i + 100], mu, s) for i in range(0, 1000, 100)]))
                             for s in sigmas])]
    test_images, _ = evaluate.load_input("fashion-mnist:test", 300, 0)
    lls = ll(test_images.reshape(300, -1).numpy() / 255.0, mu, best)
    assert out["parzen_sigma"] == pytest.approx(best)
    assert out["parzen"] == pytest.approx(lls.mean(), rel=1e-6)
    assert out["parzen_se"] == pytest.approx(lls.std() / np.sqrt(300), rel=1e-6)


@needs_fashion
def test_memorisation_flags_copies_of_training_images(tmp_path, monkeypatch):
    from ganforge.data import load_dataset

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    copies = load_dataset("fashion-mnist:train[:200]").images.permute(0, 2, 3, 1).numpy()
    np.savez(tmp_path / "copies.npz", images=copies)
    out = evaluate.score("fashion-mnist:test", str(tmp_path / "copies.npz"), ["memorisation"], n=200)
    assert out["nn_median_ratio"] == 0.0 and out["nn_share_below_test_p1"] == 1.0


@needs_fashion
def test_eval_records_merge_metrics_of_the_same_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    ganforge.train("quickstart", tmp_path / "r", steps=1, **TINY)
    evaluate.evaluate_run(tmp_path / "r", ["fid"], "pixels", n=100)
    _, out = evaluate.evaluate_run(tmp_path / "r", ["prdc"], "pixels", n=100)
    record = json.loads(out.read_text())
    assert {"fid", "precision", "coverage"} <= set(record) and set(record["protocol"]["metrics"]) == {"fid", "prdc"}
    _, out = evaluate.evaluate_run(tmp_path / "r", ["prdc"], "pixels", n=50)  # another protocol replaces it
    assert "fid" not in json.loads(out.read_text())
