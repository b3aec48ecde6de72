"""``ganforge experiment modnet-augment`` (Basart 2017, section 2.5.4, Fig. 2.7) end to end on mnist-5k, and
the step-budgeted classifier training it uses."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.experiments import ExperimentOptions, run_experiment
from ganforge.experiments.modnet_augment import modifications
from ganforge.features.classifier import batch_indices, fit_classifier

pytest.importorskip("mlxtend")

# a ModNet whose delta starts at zero and cannot move (a 1e-30 learning rate): every modification is its source
FROZEN_IDENTITY = {"steps": 2, "batch_size": 16, "log_every": 1, "sample_every": 1000, "ckpt_every": 1000,
                   "grid_size": 16, "model.generator.width": 8, "model.discriminator.width": 8,
                   "model.options.zero_delta": True, "g_opt.lr": 1e-30}
SMALL = {**FROZEN_IDENTITY, "augment.sizes": [20, 40], "augment.seeds": 2, "augment.steps": 3,
         "augment.batch_size": 16}


def _accuracy(model, images, labels) -> float:
    model.eval()
    with torch.no_grad():
        predicted = model(images.float() / 255)[0].argmax(1)
    return float((predicted == labels).double().mean())


def test_batch_indices_are_a_permutation_per_epoch_and_a_small_set_is_one_batch():
    gen = torch.Generator().manual_seed(0)
    batches = list(batch_indices(10, 4, 5, gen))
    assert [len(b) for b in batches] == [4] * 5
    # 2 full batches per epoch (the last 2 images dropped): each epoch's batches never repeat an index
    for epoch in (batches[0:2], batches[2:4]):
        flat = torch.cat(epoch).tolist()
        assert len(set(flat)) == 8
    small = list(batch_indices(3, 128, 4, gen))
    assert len(small) == 4 and all(sorted(b.tolist()) == [0, 1, 2] for b in small)


def test_modifications_send_every_image_to_every_other_class(tmp_path):
    run_experiment("modnet-augment", ExperimentOptions("mnist-5k", tmp_path / "o", n=5, rows=["generated"],
                                                       overrides=SMALL))
    model = ganforge.load(tmp_path / "o" / "runs" / "modnet")
    train = load_dataset("mnist-5k:train")
    x, y = train.images[:6], train.labels[:6]
    images, targets = modifications(model, x, y)
    assert images.shape == (54, *x.shape[1:]) and images.dtype == torch.uint8
    for i in range(6):
        mine = targets[9 * i:9 * (i + 1)].tolist()
        assert sorted(mine + [int(y[i])]) == list(range(10))  # all nine other classes, never the source
        assert torch.equal(images[9 * i:9 * (i + 1)], x[i].expand(9, *x.shape[1:]))  # the identity ModNet


def test_cells_are_classifiers_on_the_stated_subsets_and_the_summary_is_their_spread(tmp_path):
    out = tmp_path / "o"
    record = run_experiment("modnet-augment", ExperimentOptions("mnist-5k", out, n=7, overrides=SMALL))
    train, test = load_dataset("mnist-5k:train"), load_dataset("mnist-5k:test")
    curve = record["rows"]["curve"]
    assert curve["sizes"] == [20, 40] and curve["seeds"] == 2
    # seed 1, 40 real images plus their 9 x 40 relabelled copies (the identity ModNet keeps the pixels)
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))[:40]
    x, y = train.images[perm], train.labels[perm]
    k = torch.arange(1, 10).repeat(40)
    images = torch.cat([x, x.repeat_interleave(9, 0)])
    labels = torch.cat([y, (y.repeat_interleave(9) + k) % 10])
    model = fit_classifier("small-cnn", images, labels, 10, steps=3, batch_size=16, seed=1)
    assert curve["real+generated"]["per_seed"][1][1] == _accuracy(model, test.images, test.labels)
    real = fit_classifier("small-cnn", x, y, 10, steps=3, batch_size=16, seed=1)
    assert curve["real"]["per_seed"][1][1] == _accuracy(real, test.images, test.labels)
    for arm in ("real", "real+generated"):
        values = np.array(curve[arm]["per_seed"])
        assert np.allclose(curve[arm]["mean"], values.mean(0)) and np.allclose(curve[arm]["std"], values.std(0, ddof=1))
    assert curve["augmented_above_real"] == {str(s): a > r for s, a, r in zip(
        [20, 40], curve["real+generated"]["mean"], curve["real"]["mean"])}
    generated = record["rows"]["generated"]
    assert generated["sources"] == 7 and generated["train_images"] == 63
    assert Image.open(out / "modnet-augment.png").size[0] > 200
    assert json.loads((out / "modnet-augment.json").read_text())["rows"]["curve"]["sizes"] == [20, 40]


def test_finished_cells_are_kept_and_other_settings_are_refused(tmp_path, capsys):
    out = tmp_path / "o"
    options = dict(n=5, rows=["curve"], overrides={**SMALL, "augment.sizes": [20], "augment.seeds": 1})
    run_experiment("modnet-augment", ExperimentOptions("mnist-5k", out, **options))
    cell = out / "cells" / "real-20-s0.json"
    kept = json.loads(cell.read_text())
    kept["test_accuracy"] = 0.123  # a finished cell is read back, never recomputed
    cell.write_text(json.dumps(kept))
    again = run_experiment("modnet-augment", ExperimentOptions("mnist-5k", out, **options))
    assert again["rows"]["curve"]["real"]["per_seed"] == [[0.123]]
    argv = ["experiment", "modnet-augment", "mnist-5k", "--out", str(out), "--rows", "curve", "--n", "5",
            *[f"{k}={json.dumps(v)}" for k, v in {**options["overrides"], "augment.steps": 4}.items()]]
    assert main(argv) == 2
    err = capsys.readouterr().err  # after the finished ModNet's progress bar: one line, no traceback
    assert "measured with another protocol" in err.strip().splitlines()[-1] and "Traceback" not in err


@pytest.mark.parametrize("override, message", [
    ("augment.size=[10]", "unknown setting augment.size"),
    ("augment.sizes=[0,10]", "augment.sizes=[0, 10]"),
    ("augment.seeds=0", "augment.seeds=0"),
    ("data=mnist-5k:test", "sets data itself"),
])
def test_bad_settings_are_one_line_before_any_training(tmp_path, capsys, override, message):
    assert main(["experiment", "modnet-augment", "mnist-5k", "--out", str(tmp_path / "o"), override]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
