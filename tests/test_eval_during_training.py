"""Evaluation during training (``eval_every``): logged, complete, and invisible to the training streams."""
from __future__ import annotations

import json

import pytest
import torch

import ganforge
from ganforge.training.checkpoint import load_checkpoint

SMALL = {"data": "mnist-5k:train", "batch_size": 16, "precision": "fp32", "log_every": 1, "sample_every": 1000,
         "ckpt_every": 1000, "grid_size": 16, "eval_n": 100, "steps": 4, "seed": 3,
         "model.generator.width": 16, "model.discriminator.width": 16, "model.z_dim": 8}


def _weights(run) -> dict:
    payload = load_checkpoint(sorted((run / "checkpoints").glob("*.pt"))[-1])
    return {**payload["model"], **{f"rng{i}": s["torch"] for i, s in enumerate(payload["rng"])}}


def test_eval_every_logs_cond_acc_and_moves_no_random_stream(tmp_path, monkeypatch, mnist5k_classifier):
    """A conditional run with eval_every=2 logs cond_acc beside the other classifier metrics, and its
    weights and RNG state after 4 steps are bit-identical to the same run without evaluation."""
    cache, _ = mnist5k_classifier
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    with_eval = ganforge.train("acgan-fashion", tmp_path / "a", eval_every=2, **SMALL)
    without = ganforge.train("acgan-fashion", tmp_path / "b", eval_every=0, **SMALL)
    rows = [json.loads(line) for line in (with_eval / "log.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval_is" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert all(0.0 <= r["eval_cond_acc"] <= 1.0 for r in evals)
    assert all({"eval_fd_logits", "eval_ddm", "eval_classes_hit"} <= set(r) for r in evals)
    a, b = _weights(with_eval), _weights(without)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_metrics_leave_the_global_rng_alone(mnist5k_classifier, monkeypatch):
    """Scoring (which builds the classifier) does not move the caller's random stream."""
    from ganforge.data import load_dataset
    from ganforge.evaluation import ClassifierMetrics

    cache, _ = mnist5k_classifier
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    images = load_dataset("mnist-5k:train[:50]").images
    torch.manual_seed(0)
    before = torch.get_rng_state()
    values = ClassifierMetrics("mnist-5k:train")(images, torch.arange(50) % 10)
    assert torch.equal(torch.get_rng_state(), before)
    assert values["cond_acc"] == pytest.approx(0.1, abs=0.1)  # true labels are not i mod 10
