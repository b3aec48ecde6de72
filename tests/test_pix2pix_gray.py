"""pix2pix's gray task (grayscale -> colour) end to end: the preset on a tiny CIFAR-10 layout written here, the
inputs the loop feeds, and the one-line refusal of a grayscale data set naming that set."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ganforge
from ganforge.config import resolve_config
from ganforge.errors import GanforgeError
from ganforge.training.loop import Trainer

from test_data import write_cifar_dir

TINY = {"batch_size": 4, "precision": "fp32", "log_every": 1, "sample_every": 1000, "ckpt_every": 1000,
        "grid_size": 6, "eval_every": 0, "model.generator.width": 4, "model.discriminator.width": 4}


def _as_u8(t: torch.Tensor) -> torch.Tensor:
    return ((t + 1) / 2 * 255).round().to(torch.uint8)


def test_the_gray_preset_feeds_each_colour_target_with_its_bt601_luminance(tmp_path, monkeypatch):
    from ganforge.models.pix2pix import Pix2Pix

    write_cifar_dir(tmp_path / "cifar", protocol=2, per_batch=2, n_test=3)  # 10 training images, 32x32 RGB
    seen = []
    original = Pix2Pix.d_step

    def spy(self, batch, opts):
        seen.append((batch.inputs.clone(), batch.images.clone()))
        return original(self, batch, opts)

    monkeypatch.setattr(Pix2Pix, "d_step", spy)
    run = ganforge.train("pix2pix-cifar-gray", tmp_path / "r", steps=2, data_root=str(tmp_path / "cifar"), **TINY)
    assert len(seen) == 2
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)  # ITU-R BT.601
    for inputs, targets in seen:
        x, y = _as_u8(inputs), _as_u8(targets)
        assert x.shape == y.shape == (4, 3, 32, 32)
        assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])  # one gray plane, three times
        luma = (y.double() * weights).sum(1)  # (N, H, W) in 0..255
        assert np.abs(x[:, 0].double().numpy() - luma.numpy()).max() <= 0.6  # rounding + 0.2989 vs 0.299
    model = ganforge.load(run)
    inputs, outputs, targets = model.pairs(3, seed=0)  # the test split's three images
    assert outputs.shape == targets.shape == (3, 3, 32, 32) and torch.equal(inputs[:, 0], inputs[:, 2])


def test_a_grayscale_data_set_is_refused_in_one_line_naming_it(tmp_path):
    path = tmp_path / "gray.npz"
    np.savez(path, images=np.zeros((8, 32, 32), dtype=np.uint8))
    cfg = resolve_config("pix2pix-cifar-gray", {**TINY, "data": f"npz:{path}"})
    with pytest.raises(GanforgeError) as info:
        Trainer(cfg, tmp_path / "r")
    message = str(info.value)
    assert message.startswith(f"data npz:{path}: pair task gray") and "\n" not in message
    assert "needs 3-channel images, got 1 channel(s)" in message


def test_cli_gray_on_a_grayscale_set_is_exit_2_naming_it(tmp_path, capsys):
    from ganforge.cli import main

    path = tmp_path / "one.npz"
    np.savez(path, images=np.zeros((8, 28, 28, 1), dtype=np.uint8))
    args = [f"{k}={v}" for k, v in TINY.items()] + [f"data=npz:{path}", "steps=1"]
    assert main(["train", "pix2pix-cifar-gray", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"data npz:{path}: pair task gray" in err and "3-channel" in err, err
