"""The 8-Gaussians learning check (issue 4): the mixture, the coverage measure, the MLP nets, and NS /
WGAN-GP each covering at least 6 of 8 modes (seed 0; the benchmark ``benchmarks/gaussians8.py`` runs more
seeds and reports the time)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models.base import Batch
from ganforge.nets import DISCRIMINATORS, GENERATORS, NetShape, build_net
from ganforge.toy import Mixture, mode_coverage, recipe, sample_mixture, train_gaussians

STD = 0.02
# the ring written out independently: radius 2, angles 0, 45, ..., 315 degrees
RING = np.array([[2 * math.cos(math.radians(45 * k)), 2 * math.sin(math.radians(45 * k))] for k in range(8)])


def _around(modes: list[int], per_mode: int, radius: float, seed: int = 0) -> torch.Tensor:
    """``per_mode`` points at distance exactly ``radius`` from each listed centre, random directions."""
    rng = np.random.default_rng(seed)
    pts = []
    for k in modes:
        angle = rng.uniform(0, 2 * math.pi, per_mode)
        pts.append(RING[k] + radius * np.stack([np.cos(angle), np.sin(angle)], 1))
    return torch.tensor(np.concatenate(pts), dtype=torch.float32)


# --- the mixture ----------------------------------------------------------------------------------------------


def test_mixture_points_sit_around_the_eight_centres():
    x = sample_mixture(40_000, torch.Generator().manual_seed(0), Mixture(std=STD)).double().numpy()
    assert x.shape == (40_000, 2)
    # nearest centre by angle alone: sector k is centred on 45k degrees
    k = np.round(np.arctan2(x[:, 1], x[:, 0]) / (math.pi / 4)).astype(int) % 8
    offsets = x - RING[k]
    counts = np.bincount(k, minlength=8)
    assert np.all(np.abs(counts - 5000) < 4 * math.sqrt(40_000 * (1 / 8) * (7 / 8)))  # uniform weights
    assert np.abs(offsets.mean(0)).max() < 0.001  # centred on the ring points
    assert abs(offsets.std() - STD) < 0.0005  # isotropic, std 0.02
    assert np.linalg.norm(offsets, axis=1).max() < 7 * STD  # nothing between the modes
    same = sample_mixture(10, torch.Generator().manual_seed(3))
    assert torch.equal(same, sample_mixture(10, torch.Generator().manual_seed(3)))


# --- coverage -------------------------------------------------------------------------------------------------


def test_coverage_all_eight_modes():
    cov = mode_coverage(_around(list(range(8)), 50, 2.5 * STD), Mixture(std=STD))
    assert cov.modes == 8 and cov.high_quality == 1.0 and cov.counts == (50,) * 8


def test_coverage_three_modes():
    cov = mode_coverage(_around([0, 3, 5], 100, 1.0 * STD), Mixture(std=STD))
    assert cov.modes == 3 and cov.high_quality == 1.0
    assert cov.counts == (100, 0, 0, 100, 0, 100, 0, 0)


def test_coverage_off_circle_points_count_for_nothing():
    rng = np.random.default_rng(1)
    angle = rng.uniform(0, 2 * math.pi, 800)
    ring_1 = np.stack([np.cos(angle), np.sin(angle)], 1)  # radius 1: a collapsed, shrunken ring
    mid = math.pi / 8 + math.pi / 4 * np.arange(96)  # on the circle, half-way between neighbouring modes
    between = 2 * np.stack([np.cos(mid), np.sin(mid)], 1)
    pts = torch.tensor(np.concatenate([ring_1, np.zeros((50, 2)), between]), dtype=torch.float32)
    cov = mode_coverage(pts, Mixture(std=STD))
    assert cov.modes == 0 and cov.high_quality == 0.0 and sum(cov.counts) == 0


def test_coverage_uses_three_stds_and_a_minimal_share():
    inside, outside = _around([1], 40, 2.9 * STD), _around([2], 40, 3.1 * STD)
    cov = mode_coverage(torch.cat([inside, outside]), Mixture(std=STD))
    assert cov.counts[1] == 40 and cov.counts[2] == 0 and cov.modes == 1 and cov.high_quality == 0.5
    # 9 of 1000 points at mode 4 is under 1%: high quality, but the mode is not covered
    pts = torch.cat([_around([0], 991, 0.5 * STD), _around([4], 9, 0.5 * STD)])
    cov = mode_coverage(pts, Mixture(std=STD))
    assert cov.counts[4] == 9 and cov.modes == 1 and cov.high_quality == 1.0
    assert mode_coverage(pts, Mixture(std=STD), min_share=0.009).modes == 2


# --- the generic MLP networks ---------------------------------------------------------------------------------


def test_mlp_nets_on_points():
    torch.manual_seed(0)
    shape = NetShape(2, 1, 5)
    g = build_net(GENERATORS, "mlp-g", shape, {"hidden": 16, "depth": 2, "output": "identity"})
    d = build_net(DISCRIMINATORS, "mlp-d", shape, {"hidden": 16, "depth": 2, "activation": "lrelu"})
    assert g.out_range == "real"
    assert [m.out_features for m in g.modules() if isinstance(m, nn.Linear)] == [16, 16, 2]
    with torch.no_grad():
        g.net[-2].bias.fill_(7.0)  # an identity head passes values outside [-1, 1] through
        x = g(torch.randn(6, 5))
    assert x.shape == (6, 2, 1, 1) and x.min() > 1.0
    out = d(x)
    assert out.shape == (6,)
    # flattening (N, 2, 1, 1) then the layers by hand
    h = x.reshape(6, 2)
    for layer in [m for m in d.net if isinstance(m, nn.Linear)][:-1]:
        h = torch.nn.functional.leaky_relu(layer(h), 0.2)
    assert torch.allclose(out, d.net[-1](h).view(-1))


def test_mlp_generator_heads_and_image_layout():
    shape = NetShape(3, 4, 8)
    ranges = {o: build_net(GENERATORS, "mlp-g", shape, {"output": o, "hidden": 8}).out_range
              for o in ("tanh", "sigmoid", "identity")}
    assert ranges == {"tanh": "pm1", "sigmoid": "01", "identity": "real"}
    g = build_net(GENERATORS, "mlp-g", shape, {"hidden": 8, "depth": 0, "output": "sigmoid"})
    z = torch.randn(2, 8)
    flat = torch.sigmoid(g.net[0](z))  # depth 0: one linear layer, then the head
    assert torch.equal(g(z), flat.view(2, 3, 4, 4))
    for bad in ({"output": "softmax"}, {"activation": "swish"}, {"hidden": 0}):
        with pytest.raises(GanforgeError):
            build_net(GENERATORS, "mlp-g", shape, bad)


def test_gan_family_trains_on_point_batches():
    # one d_step / g_step of the family on (N, 2, 1, 1) floats changes both networks
    from ganforge.toy import build_toy_gan
    from ganforge.training.optim import build_optimizer

    cfg = recipe("wgan-gp", hidden=8, depth=1)
    torch.manual_seed(0)
    model = build_toy_gan(cfg)
    opts = model.build_optimizers({"g": cfg.g_opt, "d": cfg.d_opt}, build_optimizer)
    before = [p.detach().clone() for p in model.parameters()]
    batch = Batch(sample_mixture(16, torch.Generator().manual_seed(0)).view(16, 2, 1, 1), torch.zeros(16).long())
    stats = {**model.d_step(batch, opts), **model.g_step(batch, opts)}
    assert {"loss_d", "loss_g", "penalty"} <= set(stats)
    changed = {n for (n, p), b in zip(model.named_parameters(), before) if not torch.equal(b, p)}
    # every parameter moves but the critic's output bias: E[D(x)] - E[D(G(z))] and the penalty ignore it
    assert changed == {n for n, _ in model.named_parameters()} - {"D.net.3.bias"}


# --- the learning check ---------------------------------------------------------------------------------------


def test_untrained_generator_fails_the_check():
    cfg = recipe("ns", steps=0)
    cov = mode_coverage(train_gaussians(cfg), cfg.mixture)
    assert cov.modes < 6


@pytest.mark.parametrize("loss", ["ns", "wgan-gp"])
def test_learning_check_covers_six_of_eight_modes(loss):
    before = torch.get_rng_state()
    cfg = recipe(loss, seed=0)
    points = train_gaussians(cfg)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's RNG is untouched
    assert points.shape == (2500, 2) and torch.isfinite(points).all()
    cov = mode_coverage(points, cfg.mixture)
    assert cov.modes >= 6, cov
