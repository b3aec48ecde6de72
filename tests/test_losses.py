"""GAN losses on logits against the naive sigmoid/log formulas of Goodfellow et al. 2014 eq. 1."""
from __future__ import annotations

import math

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES
from ganforge.losses.gan import minimax_d_loss, minimax_g_loss, nonsaturating_g_loss
from ganforge.nets import make_args


def naive_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())


def naive_mm_g(fake: torch.Tensor) -> torch.Tensor:
    return torch.log(1 - torch.sigmoid(fake)).mean()


def naive_ns_g(fake: torch.Tensor) -> torch.Tensor:
    return -torch.log(torch.sigmoid(fake)).mean()


def softplus(x: float) -> float:
    """log(1 + e^x) in closed form, exact for large |x| in float64."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


# (stable, naive) pairs with a common signature f(real, fake)
PAIRS = {
    "d": (minimax_d_loss, naive_d),
    "mm_g": (lambda r, f: minimax_g_loss(f), lambda r, f: naive_mm_g(f)),
    "ns_g": (lambda r, f: nonsaturating_g_loss(f), lambda r, f: naive_ns_g(f)),
}


def _moderate(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    real = (torch.randn(64, generator=g, dtype=torch.float64) * 3).requires_grad_()
    fake = (torch.randn(64, generator=g, dtype=torch.float64) * 3 - 1).requires_grad_()
    return real, fake


@pytest.mark.parametrize("which", sorted(PAIRS))
def test_equals_naive_formula_on_moderate_logits(which):
    stable, naive = PAIRS[which]
    real, fake = _moderate(0)
    assert torch.allclose(stable(real, fake), naive(real, fake), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("which", sorted(PAIRS))
def test_gradients_match_naive_autograd(which):
    stable, naive = PAIRS[which]
    real, fake = _moderate(1)
    got = torch.autograd.grad(stable(real, fake), (real, fake), allow_unused=True)
    want = torch.autograd.grad(naive(real, fake), (real, fake), allow_unused=True)
    for a, b in zip(got, want):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
            assert a.abs().sum() > 0


def test_finite_and_correct_at_extreme_logits():
    real = torch.tensor([100.0, -100.0], requires_grad=True)
    fake = torch.tensor([-100.0, 100.0], requires_grad=True)
    # the naive float32 forms hit log(0) here
    assert not torch.isfinite(naive_d(real, fake))
    assert not torch.isfinite(naive_mm_g(fake))
    assert not torch.isfinite(naive_ns_g(fake))

    sp_neg, sp_pos = softplus(-100.0), softplus(100.0)  # ~3.7e-44 and 100
    cases = [
        (minimax_d_loss(real, fake), (sp_neg + sp_pos) / 2 + (sp_neg + sp_pos) / 2, 100.0),
        (minimax_g_loss(fake), -(sp_neg + sp_pos) / 2, -50.0),
        (nonsaturating_g_loss(fake), (sp_pos + sp_neg) / 2, 50.0),
    ]
    for value, expected, rounded in cases:
        assert torch.isfinite(value)
        assert value.item() == pytest.approx(expected, rel=1e-6)
        assert expected == pytest.approx(rounded)


def test_gradients_finite_and_correct_at_extreme_logits():
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    logits = [100.0, -100.0]
    real = torch.tensor(logits, requires_grad=True)
    fake = torch.tensor(logits, requires_grad=True)
    gr, gf = torch.autograd.grad(minimax_d_loss(real, fake), (real, fake))
    assert gr.tolist() == pytest.approx([-sig(-x) / 2 for x in logits], abs=1e-12)
    assert gf.tolist() == pytest.approx([sig(x) / 2 for x in logits], abs=1e-12)
    (g_mm,) = torch.autograd.grad(minimax_g_loss(fake), fake)
    assert g_mm.tolist() == pytest.approx([-sig(x) / 2 for x in logits], abs=1e-12)
    (g_ns,) = torch.autograd.grad(nonsaturating_g_loss(fake), fake)
    assert g_ns.tolist() == pytest.approx([-sig(-x) / 2 for x in logits], abs=1e-12)
    (g_naive,) = torch.autograd.grad(naive_mm_g(fake), fake)
    assert not torch.isfinite(g_naive).all()


def test_saturation_ns_keeps_gradient_where_mm_vanishes():
    """D confidently rejects the fakes (logit -10, D(G(z)) ~ 4.5e-5): the classic argument for NS."""
    fake = torch.tensor([-10.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(minimax_g_loss(fake), fake)
    (g_ns,) = torch.autograd.grad(nonsaturating_g_loss(fake), fake)
    # both push the fake logit up (negative gradient of a minimised loss) ...
    assert g_mm.item() < 0 and g_ns.item() < 0
    # ... but MM's push is sigmoid(-10) ~ 4.5e-5 while NS's is sigmoid(10) ~ 1
    assert abs(g_mm.item()) < 1e-4
    assert abs(g_ns.item()) > 0.99
    assert abs(g_ns.item()) / abs(g_mm.item()) > 1e4


def test_registered_losses():
    assert {"mm", "ns"} <= set(LOSSES.names())
    real, fake = _moderate(2)
    mm, ns = LOSSES.get("mm")(), LOSSES.get("ns")()
    assert torch.equal(mm.d_loss(real, fake), minimax_d_loss(real, fake))
    assert torch.equal(ns.d_loss(real, fake), minimax_d_loss(real, fake))
    assert torch.equal(mm.g_loss(fake), minimax_g_loss(fake))
    assert torch.equal(ns.g_loss(fake), nonsaturating_g_loss(fake))
    assert not torch.allclose(mm.g_loss(fake), ns.g_loss(fake))
    for name in ("mm", "ns"):
        with pytest.raises(GanforgeError):
            make_args(LOSSES.get(name), {"smoothing": 0.1})
