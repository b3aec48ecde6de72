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
