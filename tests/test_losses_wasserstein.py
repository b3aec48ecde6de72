"""WGAN, WGAN-GP and DRAGAN: hand-computed losses, the penalty of a linear critic, clipping, a short run."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganforge.losses import LOSSES
from ganforge.nets.base import make_args


class LinearCritic(nn.Module):
    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.lin = nn.Linear(w.numel(), 1)
        with torch.no_grad():
            self.lin.weight.copy_(w.view(1, -1))
            self.lin.bias.fill_(0.3)

    def forward(self, x):
        return self.lin(x.flatten(1)).view(-1)


def test_wgan_losses_hand_computed():
    loss = LOSSES.get("wgan")()
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([1.0, -1.0])
    assert loss.d_loss(real, fake).item() == pytest.approx(0.0 - 3.0)
    assert loss.g_loss(fake).item() == pytest.approx(0.0)
    assert not loss.outputs_are_logits


@pytest.mark.parametrize("name", ["wgan-gp", "dragan"])
def test_penalty_of_a_linear_critic_is_lambda_times_slope_gap_squared(name):
    w = torch.tensor([3.0, 4.0, 0.0, 0.0])  # ||w|| = 5 everywhere, whatever the points
    cls = LOSSES.get(name)
    loss = cls(make_args(cls, {"gp_weight": 7.0}))
    real, fake = torch.rand(6, 1, 2, 2), torch.rand(6, 1, 2, 2)
    critic = LinearCritic(w)
    pen = loss.penalty(critic, real, fake)
    assert pen.item() == pytest.approx(7.0 * (5.0 - 1.0) ** 2)
    pen.backward()  # differentiable w.r.t. the critic: d/dw 7 (||w|| - 1)^2 = 14 (||w|| - 1) w / ||w||
    assert torch.allclose(critic.lin.weight.grad.view(-1), 14 * 4 * w / 5)


def test_wgan_clips_critic_weights_after_each_step():
    loss = LOSSES.get("wgan")(make_args(LOSSES.get("wgan"), {"clip": 0.05}))
    critic = LinearCritic(torch.tensor([3.0, -0.01, 0.02, -4.0]))
    loss.after_d_step(critic)
    assert critic.lin.weight.view(-1).tolist() == pytest.approx([0.05, -0.01, 0.02, -0.05])
    assert critic.lin.bias.item() == pytest.approx(0.05)


def test_unknown_loss_option_is_rejected():
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="no option 'lambda'"):
        make_args(LOSSES.get("wgan-gp"), {"lambda": 10})


def _dragan(form, weight=10.0):
    cls = LOSSES.get("dragan")
    return cls(make_args(cls, {"gp_weight": weight, "form": form}))


def test_dragan_compare_gan_penalty_of_a_linear_critic(monkeypatch):
    # google/compare_gan DRAGAN.py: slope = sqrt(1e-4 + ||grad sigmoid(D)||^2); for D = w.x + b the gradient is
    # s (1 - s) w with s = sigmoid(D(x_p)). The points are pinned with u = alpha = 1: x_p = x + 0.5 std(x).
    monkeypatch.setattr(torch, "rand", lambda shape, **k: torch.ones(shape))
    monkeypatch.setattr(torch, "rand_like", lambda t: torch.ones_like(t))
    w = torch.tensor([3.0, 4.0, 0.0, -1.0])
    real = torch.tensor([[0.1, 0.9, 0.5, 0.0], [0.7, 0.2, 0.3, 1.0]]).view(2, 1, 2, 2)
    x = real.view(2, 4).tolist()
    mean = sum(sum(r) for r in x) / 8
    std = math.sqrt(sum((v - mean) ** 2 for r in x for v in r) / 8)  # numpy's std (population)
    expected = 0.0
    for r in x:
        logit = sum(wi * (v + 0.5 * std) for wi, v in zip(w.tolist(), r)) + 0.3
        s = 1 / (1 + math.exp(-logit))
        slope = math.sqrt(1e-4 + (s * (1 - s)) ** 2 * 26.0)  # ||w||^2 = 26
        expected += (slope - 1) ** 2 / 2
    pen = _dragan("compare_gan", 7.0).penalty(LinearCritic(w), real, real)
    assert pen.item() == pytest.approx(7.0 * expected, rel=1e-5)
    logit_pen = _dragan("logit", 7.0).penalty(LinearCritic(w), real, real)
    assert logit_pen.item() == pytest.approx(7.0 * (math.sqrt(26.0) - 1) ** 2, rel=1e-5)


def test_dragan_compare_gan_penalty_matches_per_example_autograd():
    from ganforge.losses.wasserstein import gradient_penalty

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))
    points = torch.randn(5, 1, 2, 2)
    slopes = []
    for p in points:  # one example at a time, so no batch coupling
        p = p.unsqueeze(0).requires_grad_(True)
        (g,) = torch.autograd.grad(torch.sigmoid(net(p)).sum(), p)
        slopes.append(math.sqrt(1e-4 + float((g ** 2).sum())))
    expected = 3.0 * sum((s - 1) ** 2 for s in slopes) / len(slopes)
    got = gradient_penalty(net, points, 3.0, squash=torch.sigmoid, slope_eps=1e-4)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_dragan_bad_form_is_a_one_line_error():
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="loss_options.form of loss 'dragan' must be one of logit, compare_gan"):
        _dragan("sigmoid")


def test_wgangp_slope_eps_of_a_linear_critic():
    # google/compare_gan WGAN_GP.py: slope = sqrt(1e-4 + ||grad D||^2) = sqrt(1e-4 + 25) for ||w|| = 5
    cls = LOSSES.get("wgan-gp")
    loss = cls(make_args(cls, {"gp_weight": 2.0, "slope_eps": 1e-4}))
    real, fake = torch.rand(4, 1, 2, 2), torch.rand(4, 1, 2, 2)
    pen = loss.penalty(LinearCritic(torch.tensor([3.0, 4.0, 0.0, 0.0])), real, fake)
    assert pen.item() == pytest.approx(2.0 * (math.sqrt(25.0001) - 1) ** 2, rel=1e-6)
    assert pen.item() != pytest.approx(2.0 * 16.0, rel=1e-6)


def test_wgangp_bad_slope_eps_is_a_one_line_error():
    from ganforge.errors import GanforgeError

    cls = LOSSES.get("wgan-gp")
    with pytest.raises(GanforgeError, match=r"slope_eps of loss 'wgan-gp' must be a number in \[0, 1\), got -1"):
        make_args(cls, {"slope_eps": -1})
