"""BEGAN (Berthelot et al. 2017): losses, k_t control, convergence measure, autoencoder D, exact resume.

Every expected number is computed here by hand or with numpy, not with the code under test.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import ganforge
from ganforge.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.models import FAMILIES, Batch
from ganforge.models.began import autoencoder_loss, began_d_loss, convergence_measure, next_k
from ganforge.nets import DISCRIMINATORS, NetShape
from ganforge.nets.began import AUTOENCODERS
from ganforge.training.checkpoint import load_checkpoint

from conftest import TINY, needs_fashion

SHAPE = NetShape(channels=1, image_size=28, z_dim=8)


def _model_config(**options) -> ModelConfig:
    return ModelConfig(family="began", z_dim=8, z_dist="uniform", generator={"name": "lucic-g"},
                       discriminator={"name": "lucic-began-d"}, options=options)


# ---------------------------------------------------------------- the pure formulas

def test_autoencoder_loss_is_mean_abs_error_to_the_eta():
    v = torch.tensor([[0.0, 1.0], [0.5, 0.25]])
    recon = torch.tensor([[0.5, 0.5], [0.5, 1.0]])
    # |diff| = 0.5, 0.5, 0, 0.75
    assert autoencoder_loss(v, recon, 1.0).item() == pytest.approx((0.5 + 0.5 + 0.0 + 0.75) / 4)
    assert autoencoder_loss(v, recon, 2.0).item() == pytest.approx((0.25 + 0.25 + 0.0 + 0.5625) / 4)


@pytest.mark.parametrize("k, l_real, l_fake, gamma, lam, expected", [
    (0.5, 0.4, 0.2, 0.75, 0.1, 0.5 + 0.1 * (0.3 - 0.2)),  # inside [0, 1]: 0.51
    (0.5, 0.4, 0.5, 0.75, 0.1, 0.5 + 0.1 * (0.3 - 0.5)),  # moves down: 0.48
    (0.995, 0.4, 0.1, 0.75, 0.1, 1.0),                    # 0.995 + 0.02 clipped to 1
    (0.01, 0.2, 0.4, 0.5, 0.5, 0.0),                      # 0.01 - 0.15 clipped to 0
])
def test_k_update_and_its_clipping(k, l_real, l_fake, gamma, lam, expected):
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    assert next_k(t(k), t(l_real), t(l_fake), gamma, lam).item() == pytest.approx(expected, abs=1e-12)


def test_d_loss_and_convergence_measure_by_hand():
    l_real, l_fake = torch.tensor(0.4), torch.tensor(0.2)
    assert began_d_loss(l_real, l_fake, torch.tensor(0.25)).item() == pytest.approx(0.4 - 0.25 * 0.2)
    # M = L(x) + |gamma L(x) - L(G(z))| = 0.4 + |0.3 - 0.2| and 0.4 + |0.1 - 0.2| for gamma 0.25
    assert convergence_measure(l_real, l_fake, 0.75).item() == pytest.approx(0.5)
    assert convergence_measure(l_real, l_fake, 0.25).item() == pytest.approx(0.5)


# ---------------------------------------------------------------- one D step and one G step, by hand

class _ScaleAutoencoder(nn.Module):
    """A known "autoencoder": D(v) = w * v with one trainable scalar w."""

    def __init__(self, w: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, v):
        return self.w * v


class _ConstantGenerator(nn.Module):
    """G(z) = c everywhere (one trainable scalar c), shaped (N, 1, 28, 28)."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, z):
        return self.c * torch.ones(z.shape[0], 1, 28, 28)


def _family_with_known_nets(w, c, **options):
    family = FAMILIES.get("began")(_model_config(**options), SHAPE)
    family.D, family.G = _ScaleAutoencoder(w), _ConstantGenerator(c)
    opts = {"d": torch.optim.SGD(family.D.parameters(), lr=0.1),
            "g": torch.optim.SGD(family.G.parameters(), lr=0.1)}
    return family, opts


def test_d_step_losses_gradient_and_k_update_match_hand_computation():
    w, c, k0, gamma, lam = 0.5, 0.2, 0.3, 0.75, 0.1
    family, opts = _family_with_known_nets(w, c, gamma=gamma, lambda_k=lam, k_init=k0)
    x = np.random.default_rng(0).uniform(0.0, 1.0, size=(4, 1, 28, 28)).astype(np.float32)
    stats = family.d_step(Batch(torch.from_numpy(x), torch.zeros(4, dtype=torch.int64)), opts)

    l_real = np.mean(np.abs(x - w * x))            # L(x) = (1 - w) mean|x|
    l_fake = np.mean(np.abs(c - w * c))            # L(G(z)) = (1 - w) c
    assert stats["recon_real"].item() == pytest.approx(l_real, rel=1e-5)
    assert stats["recon_fake"].item() == pytest.approx(l_fake, rel=1e-5)
    assert stats["loss_d"].item() == pytest.approx(l_real - k0 * l_fake, rel=1e-5)
    k1 = min(1.0, max(0.0, k0 + lam * (gamma * l_real - l_fake)))
    assert family.k.item() == pytest.approx(k1, rel=1e-5) and stats["k"].item() == pytest.approx(k1, rel=1e-5)
    assert stats["convergence"].item() == pytest.approx(l_real + abs(gamma * l_real - l_fake), rel=1e-5)
    # dL_D/dw = -mean|x| + k_0 c (k_t before its update; w < 1); SGD lr 0.1
    assert family.D.w.item() == pytest.approx(w - 0.1 * (-np.mean(np.abs(x)) + k0 * c), rel=1e-5)
    assert torch.equal(family.G.c, torch.tensor(c))  # the D step does not move G


def test_g_step_minimises_fake_reconstruction_and_leaves_d_and_k_alone():
    w, c = 0.5, 0.2
    family, opts = _family_with_known_nets(w, c, k_init=0.4)
    stats = family.g_step(Batch(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.int64)), opts)
    assert stats["loss_g"].item() == pytest.approx((1 - w) * c, rel=1e-6)
    assert family.G.c.item() == pytest.approx(c - 0.1 * (1 - w), rel=1e-6)  # dL_G/dc = 1 - w
    assert family.D.w.item() == w and family.D.w.requires_grad
    assert family.k.item() == pytest.approx(0.4)


# ---------------------------------------------------------------- options and the network

@pytest.mark.parametrize("options, message", [
    ({"gamma": 1.5}, r"gamma .* number in \(0, 1\], got 1.5"),
    ({"gamma": 0}, r"gamma .* number in \(0, 1\], got 0"),
    ({"lambda_k": "1e-3"}, r"lambda_k .* number in \[0, 1\], got '1e-3'"),
    ({"k_init": -0.1}, r"k_init .* number in \[0, 1\]"),
    ({"eta": 3}, r"eta .* must be 1 or 2"),
    ({"gama": 0.5}, r"no option 'gama'"),
])
def test_bad_options_are_user_errors(options, message):
    with pytest.raises(GanforgeError, match=message):
        FAMILIES.get("began")(_model_config(**options), SHAPE)


def test_logit_discriminator_is_rejected():
    cfg = _model_config()
    cfg.discriminator = {"name": "lucic-d"}
    with pytest.raises(GanforgeError, match="unknown autoencoder discriminator 'lucic-d'"):
        FAMILIES.get("began")(cfg, SHAPE)


def test_k_buffer_starts_at_k_init_and_is_in_the_state_dict():
    family = FAMILIES.get("began")(_model_config(k_init=0.25), SHAPE)
    assert family.state_dict()["k"].item() == 0.25


def test_lucic_began_autoencoder_geometry():
    assert "lucic-began-d" in AUTOENCODERS and "lucic-began-d" not in DISCRIMINATORS
    ae = AUTOENCODERS.get("lucic-began-d")(SHAPE, AUTOENCODERS.get("lucic-began-d").Args(code_dim=16))
    x = torch.rand(3, 1, 28, 28)
    out = ae(x)
    assert out.shape == (3, 1, 28, 28) and 0.0 <= out.min() and out.max() <= 1.0
    assert ae.encode(x).shape == (3, 16)
    with pytest.raises(GanforgeError, match="image_size 28 only, got 32"):
        AUTOENCODERS.get("lucic-began-d")(NetShape(1, 32, 8), AUTOENCODERS.get("lucic-began-d").Args())


# ---------------------------------------------------------------- checkpoint round trip

@needs_fashion
def test_k_and_weights_survive_resume(tmp_path):
    # k_0 = 0.5 and a fast lambda_k so k visibly moves in three steps (and cannot sit clipped at 0)
    over = {**TINY, "batch_size": 8, "d_steps": 2, "model.options.k_init": 0.5, "model.options.lambda_k": 0.5}
    ganforge.train("lucic-began", tmp_path / "straight", steps=3, **over)
    ganforge.train("lucic-began", tmp_path / "halves", steps=2, **over)
    ganforge.train("lucic-began", tmp_path / "halves", resume=True, steps=3, **over)
    a, b = (load_checkpoint(sorted((tmp_path / r / "checkpoints").glob("step-*.pt"))[-1])
            for r in ("straight", "halves"))
    assert a["step"] == b["step"] == 3
    assert a["model"].keys() == b["model"].keys() and "k" in a["model"]
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["model"]["k"].item() != 0.5
    log = [json.loads(line) for line in (tmp_path / "halves" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert log[-1]["k"] == pytest.approx(a["model"]["k"].item())
    assert all(0.0 <= r["k"] <= 1.0 and r["convergence"] >= r["recon_real"] for r in log)


def test_lucic_began_preset_discriminator_has_no_batch_norm():
    # google/compare_gan params.py: BEGANHyperParams set discriminator_batchnorm False
    cfg = ganforge.config.load_preset("lucic-began")["model"]
    family = FAMILIES.get("began")(ModelConfig(**{k: v for k, v in cfg.items()}), SHAPE)
    norms = [m for m in family.D.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms == []
    with_bn = AUTOENCODERS.get("lucic-began-d")(SHAPE, AUTOENCODERS.get("lucic-began-d").Args(batchnorm=True))
    assert sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in with_bn.modules()) == 3
