"""Label smoothing, soft noisy labels and instance noise (seed 002, seed 003, Salimans et al. 2016)."""
from __future__ import annotations

import json

import pytest
import torch

import ganforge
from ganforge.errors import GanforgeError
from ganforge.losses.gan import minimax_d_loss
from ganforge.losses.heuristics import instance_noise_std, real_targets, soft_label_d_loss

from conftest import TINY, needs_fashion


def test_soft_label_loss_is_the_minimax_loss_at_target_one():
    r, f = torch.randn(50) * 3, torch.randn(50) * 3
    assert torch.allclose(soft_label_d_loss(r, f, torch.ones(50)), minimax_d_loss(r, f))
    # a smoothed target t: BCE = -t log s(r) - (1 - t) log(1 - s(r)), computed directly
    t = torch.full((50,), 0.9)
    naive = -(t * torch.log(torch.sigmoid(r)) + (1 - t) * torch.log(1 - torch.sigmoid(r))).mean() \
        - torch.log(1 - torch.sigmoid(f)).mean()
    assert torch.allclose(soft_label_d_loss(r, f, t), naive, atol=1e-5)


def test_noisy_label_distribution():
    torch.manual_seed(0)
    t = real_targets(200_000, 0.0, True, "cpu")
    flipped = t < 0.5
    assert abs(flipped.float().mean().item() - 0.05) < 0.003
    assert t[flipped].min() >= 0.0 and t[flipped].max() <= 0.3
    assert t[~flipped].min() >= 0.7 and t[~flipped].max() <= 1.2
    assert abs(t[~flipped].mean().item() - 0.95) < 0.005
    assert torch.equal(real_targets(4, 0.1, False, "cpu"), torch.full((4,), 0.9))


def test_instance_noise_decays_linearly():
    assert instance_noise_std(0.2, 100, 0) == 0.2
    assert instance_noise_std(0.2, 100, 50) == pytest.approx(0.1)
    assert instance_noise_std(0.2, 100, 150) == 0.0
    assert instance_noise_std(0.2, 0, 10_000) == 0.2 and instance_noise_std(0.0, 10, 1) == 0.0


@needs_fashion
def test_heuristics_train_and_change_the_updates(tmp_path):
    over = {**TINY, "precision": "fp32"}
    ganforge.train("quickstart", tmp_path / "plain", steps=2, **over)
    ganforge.train("quickstart", tmp_path / "tricks", steps=2, **over, **{
        "model.noisy_labels": True, "model.instance_noise": 0.1, "model.instance_noise_steps": 10})
    logs = [[json.loads(x) for x in (tmp_path / r / "log.jsonl").read_text().splitlines()] for r in ("plain", "tricks")]
    assert logs[0][-1]["loss_d"] != logs[1][-1]["loss_d"]
    with pytest.raises(GanforgeError, match="need a logit loss, not 'wgan'"):
        ganforge.train("quickstart", tmp_path / "bad", steps=1, **over, **{"model.loss": "wgan",
                                                                           "model.label_smoothing": 0.1})


@needs_fashion
def test_frozen_discriminator_layers_do_not_move_and_the_rest_do(tmp_path):
    from ganforge.training.checkpoint import load_checkpoint

    over = {**TINY, "ckpt_every": 1, "keep_checkpoints": 5, "model.freeze_d_layers": 2}
    ganforge.train("quickstart", tmp_path / "r", steps=3, **over)
    first = load_checkpoint(tmp_path / "r" / "checkpoints" / "step-0000001.pt")["model"]
    last = load_checkpoint(tmp_path / "r" / "checkpoints" / "step-0000003.pt")["model"]
    assert torch.equal(first["D.net.0.weight"], last["D.net.0.weight"])  # conv 1 frozen
    assert torch.equal(first["D.net.2.weight"], last["D.net.2.weight"])  # conv 2 frozen
    assert not torch.equal(first["D.net.6.weight"], last["D.net.6.weight"])  # fc 1024 trains
    with pytest.raises(GanforgeError, match="has 4 weight layers"):
        ganforge.train("quickstart", tmp_path / "bad", steps=1, **{**TINY, "model.freeze_d_layers": 9})


def test_spectral_norm_bounds_every_discriminator_layer():
    from ganforge.config import ModelConfig
    from ganforge.models import FAMILIES
    from ganforge.nets import NetShape
    from ganforge.nets.tweaks import weight_layers

    cfg = ModelConfig(z_dim=8, generator={"name": "lucic-g"}, discriminator={"name": "lucic-d"}, spectral_norm=True)
    family = FAMILIES.get("gan")(cfg, NetShape(1, 28, 8))
    x = torch.rand(4, 1, 28, 28)
    for _ in range(30):  # power iterations run in train-mode forward passes
        family.D(x)
    for layer in weight_layers(family.D):
        sigma = torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.05)
