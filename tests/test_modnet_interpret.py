"""``ganforge experiment modnet-interpret``: ModNet against a frozen weak (one conv layer) and a frozen strong
classifier (Basart 2017, section 2.5.3), end to end on a few hundred mnist-5k images, and the shallow
classifier network it needs."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.experiments import ExperimentOptions, run_experiment
from ganforge.features import classifier as clf

pytest.importorskip("mlxtend")

TINY_ROW = {"steps": 3, "batch_size": 16, "log_every": 1, "sample_every": 1000, "ckpt_every": 1000,
            "grid_size": 16, "model.generator.width": 8, "model.discriminator.width": 8}


@pytest.fixture(scope="module")
def cache(mnist5k_classifier, tmp_path_factory):
    """A copy of the session's mnist-5k classifier cache (this module adds shallow classifiers to it)."""
    copy = tmp_path_factory.mktemp("interpret-cache") / "c"
    shutil.copytree(mnist5k_classifier[0], copy)
    return copy


@pytest.fixture(scope="module")
def experiment(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("interpret") / "out"
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_CACHE", str(cache))
    record = run_experiment("modnet-interpret", ExperimentOptions("mnist-5k", out, n=200, overrides=TINY_ROW))
    yield out, record
    mp.undo()


def test_the_shallow_classifier_learns_but_is_never_the_metrics_classifier(cache, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    weak, record = clf.load_classifier("mnist-5k", progress=False, net="shallow")
    assert record["recipe"]["net"] == "shallow" and record["test_accuracy"] > 0.5  # chance is 0.1
    assert sum(p.numel() for p in weak.parameters()) < 10_000  # one conv layer and a linear head
    strong, strong_record = clf.load_classifier("mnist-5k", progress=False)
    assert strong_record["recipe"].get("net", "small-cnn") == "small-cnn"
    assert isinstance(strong, clf.SmallCNN) and not isinstance(weak, clf.SmallCNN)


def test_each_row_measures_its_own_frozen_classifier(experiment, cache, monkeypatch):
    """The row's critic holds the cached classifier of its network, unchanged by training, and the row's
    numbers are those of that classifier on the row's own modifications (recomputed here)."""
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    out, record = experiment
    from ganforge.data import load_dataset

    test = load_dataset("mnist-5k:test")
    x, y = test.images[:200], test.labels[:200]
    for row, net in (("weak", "shallow"), ("strong", "small-cnn")):
        model = ganforge.load(out / "runs" / row)
        frozen, _ = clf.load_classifier("mnist-5k", progress=False, net=net)
        mine = model.family.D.classifier.net.state_dict()
        assert all(torch.equal(mine[k], v) for k, v in frozen.state_dict().items())
        gen = torch.Generator().manual_seed(0)
        targets = (y + torch.randint(1, 10, y.shape, generator=gen)) % 10
        assert (targets != y).all()
        result, _ = model.modify(x, targets)
        out01 = (result + 1) / 2
        for judge in ("shallow", "small-cnn"):
            cnn, _ = clf.load_classifier("mnist-5k", progress=False, net=judge)
            with torch.no_grad():
                labels = cnn(out01)[0].argmax(1)
                clean = cnn(x.float() / 255)[0].argmax(1)
            got = record["rows"][row]
            assert got["fooling_rate"][judge] == pytest.approx((labels == targets).float().mean().item(), abs=1e-6)
            assert got["source_kept"][judge] == pytest.approx((labels == y).float().mean().item(), abs=1e-6)
            assert got["clean_accuracy"][judge] == pytest.approx((clean == y).float().mean().item(), abs=1e-6)
        assert got["l1_per_pixel"] == pytest.approx((out01 - x / 255).abs().mean().item(), rel=1e-4)
        l2 = (out01 - x / 255).flatten(1).pow(2).sum(1).sqrt().mean().item()
        assert got["l2_per_image"] == pytest.approx(l2, rel=1e-4)
        assert json.loads((out / f"{row}.json").read_text())["protocol"]["settings"]["row"] == row


def test_outputs_and_a_rerun_recomputes_nothing(experiment, cache, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    out, record = experiment
    assert set(record["rows"]) == {"weak", "strong"}
    width, height = Image.open(out / "modnet-interpret.png").size
    assert width > 400 and height > 300
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json") if p.stem in ("weak", "strong")}
    run_experiment("modnet-interpret", ExperimentOptions("mnist-5k", out, n=200, overrides=TINY_ROW))
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.json") if p.stem in ("weak", "strong")} == stamps


@pytest.mark.parametrize("argv, message", [
    (["--rows", "medium"], "unknown row(s) medium"),
    (["data=mnist-5k:test"], "sets data itself"),
    (["model.options.classifier_net=small-cnn"], "sets model.options.classifier_net itself"),
    (["--metrics", "fid"], "takes no --metrics"),
])
def test_bad_input_is_one_line(argv, message, tmp_path, capsys):
    assert main(["experiment", "modnet-interpret", "mnist-5k", "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_another_protocol_is_refused(experiment, cache, monkeypatch, capsys):
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    out, _ = experiment
    argv = ["experiment", "modnet-interpret", "mnist-5k", "--out", str(out), "--n", "100", "--rows", "weak",
            *[f"{k}={v}" for k, v in TINY_ROW.items()]]
    assert main(argv) == 2
    assert "weak.json was measured with another protocol" in capsys.readouterr().err


def test_a_classifier_trained_on_first_use_inside_no_grad_still_learns(tmp_path, monkeypatch):
    """An experiment asks for a classifier inside ``torch.no_grad``; its first-use training must still train."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    with torch.no_grad():
        record = clf.train_classifier(clf.ClassifierRecipe("mnist-5k", epochs=1, net="shallow"), progress=False)
    assert record["test_accuracy"] > 0.3
