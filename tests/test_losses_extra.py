"""LSGAN and hinge losses on hand-computed cases, and their gradients."""
from __future__ import annotations

import math

import pytest
import torch

from ganforge.losses import LOSSES
from ganforge.nets.base import make_args


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


def _lsgan(on):
    cls = LOSSES.get("lsgan")
    return cls(make_args(cls, {"scores": on}))


@pytest.mark.parametrize("on, score", [("raw", lambda t: t), ("sigmoid", lambda t: 1 / (1 + torch.exp(-t)))])
def test_lsgan_forms_match_their_formulas(on, score):
    # raw: Mao et al. 2017 eq. 9 on D's outputs; sigmoid: google/compare_gan LSGAN.py, on sigmoid(D)
    loss = _lsgan(on)
    real, fake, t = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([1.5, -0.4, 0.0]), torch.tensor([0.9, 1.0, 0.8])
    r, f = score(real), score(fake)
    d_expected = 0.5 * sum((x - 1) ** 2 for x in r.tolist()) / 3 + 0.5 * sum(x ** 2 for x in f.tolist()) / 3
    assert loss.d_loss(real, fake).item() == pytest.approx(d_expected)
    assert loss.g_loss(fake).item() == pytest.approx(0.5 * sum((x - 1) ** 2 for x in f.tolist()) / 3)
    d_soft = (0.5 * sum((x - y) ** 2 for x, y in zip(r.tolist(), t.tolist())) / 3
              + 0.5 * sum(x ** 2 for x in f.tolist()) / 3)
    assert loss.d_loss_targets(real, fake, t).item() == pytest.approx(d_soft)
    assert loss.outputs_are_logits == (on == "sigmoid")


def test_lsgan_sigmoid_form_differs_from_raw():
    fake = torch.tensor([2.0])
    assert _lsgan("raw").g_loss(fake).item() == pytest.approx(0.5)
    assert _lsgan("sigmoid").g_loss(fake).item() == pytest.approx(0.5 * (1 / (1 + math.exp(-2.0)) - 1) ** 2)


def test_lsgan_bad_form_is_a_one_line_error():
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="scores of loss 'lsgan' must be one of raw, sigmoid, got 'tanh'"):
        _lsgan("tanh")
