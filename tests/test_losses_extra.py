"""LSGAN and hinge losses on hand-computed cases, and their gradients."""
from __future__ import annotations

import pytest
import torch

from ganforge.losses import LOSSES


def test_lsgan_hand_computed():
    loss = LOSSES.get("lsgan")()
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    # D: 1/2 mean((r-1)^2) + 1/2 mean(f^2) = 1/2 * (0 + 1)/2 + 1/2 * (0 + 4)/2 = 0.25 + 1.0
    assert loss.d_loss(real, fake).item() == pytest.approx(1.25)
    # G: 1/2 mean((f-1)^2) = 1/2 * (1 + 1)/2
    assert loss.g_loss(fake).item() == pytest.approx(0.5)
    f = torch.tensor([3.0], requires_grad=True)
    loss.g_loss(f).backward()
    assert f.grad.item() == pytest.approx(2.0)  # d/df 1/2 (f-1)^2 = f - 1


def test_hinge_hand_computed():
    loss = LOSSES.get("hinge")()
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    # relu(1-2)=0, relu(1-0.5)=0.5 -> 0.25 ; relu(1-3)=0, relu(1+0)=1 -> 0.5
    assert loss.d_loss(real, fake).item() == pytest.approx(0.75)
    assert loss.g_loss(fake).item() == pytest.approx(1.5)
    r = torch.tensor([2.0, 0.5], requires_grad=True)
    loss.d_loss(r, fake).backward()
    assert r.grad.tolist() == pytest.approx([0.0, -0.5])  # only the margin-violating real gets a gradient
