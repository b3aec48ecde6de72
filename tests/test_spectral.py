"""ganforge's output-scaled spectral normalisation against torch's weight parametrization
(``torch.nn.utils.parametrizations.spectral_norm``, Miyato et al. 2018): from the same u and v, the same
outputs, gradients (first and second order) and power-iteration state, in training and in eval mode."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganforge.nets.spectral import spectral_normalise

LAYERS = {
    "linear": (lambda: nn.Linear(12, 7), (5, 12)),
    "conv": (lambda: nn.Conv2d(3, 6, 4, stride=2, padding=1), (5, 3, 8, 8)),
    "conv-transpose": (lambda: nn.ConvTranspose2d(6, 3, 4, stride=2, padding=1), (5, 6, 4, 4)),
    "conv-no-bias": (lambda: nn.Conv2d(3, 6, 3, bias=False), (5, 3, 8, 8)),
}


def _twins(kind: str, seed: int = 0) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    """torch's parametrized layer and ours with the same weights, bias, u and v (float64)."""
    make, shape = LAYERS[kind]
    torch.manual_seed(seed)
    theirs = make().double()
    ours = copy.deepcopy(theirs)
    spectral_norm(theirs)
    spectral_normalise(ours)
    state = theirs.parametrizations.weight[0]
    ours.sn_u.copy_(state._u)
    ours.sn_v.copy_(state._v)
    return theirs, ours, shape


def _weight(layer: nn.Module) -> torch.Tensor:
    return layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight


@pytest.mark.parametrize("kind", list(LAYERS))
def test_two_training_forwards_and_a_backward_match_torchs_parametrization(kind):
    theirs, ours, shape = _twins(kind)
    g = torch.Generator().manual_seed(1)
    a, b = (torch.randn(*shape, generator=g, dtype=torch.float64) for _ in range(2))
    outs = {}
    for name, layer in (("theirs", theirs), ("ours", ours)):
        first, second = layer(a), layer(b)  # a GAN's D(real), D(fake): two power iterations, one backward
        (first.pow(2).sum() - second.tanh().sum()).backward()
        outs[name] = (first.detach(), second.detach(), _weight(layer).grad.clone(),
                      layer.bias.grad.clone() if layer.bias is not None else None)
    for got, want in zip(outs["ours"], outs["theirs"]):
        if want is not None:
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    state = theirs.parametrizations.weight[0]
    torch.testing.assert_close(ours.sn_u, state._u, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(ours.sn_v, state._v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_eval_mode_keeps_u_and_v_and_matches(kind):
    theirs, ours, shape = _twins(kind, seed=3)
    theirs.eval(), ours.eval()
    u = ours.sn_u.clone()
    x = torch.randn(*shape, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-9, atol=1e-12)
    assert torch.equal(ours.sn_u, u)


def test_a_gradient_penalty_differentiates_twice_as_torchs():
    """WGAN-GP / DRAGAN: the penalty's gradient needs the input gradient's own gradient."""
    theirs, ours, shape = _twins("conv", seed=5)
    grads = []
    for layer in (theirs, ours):
        x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2), requires_grad=True)
        (g,) = torch.autograd.grad(layer(x).sum(), x, create_graph=True)
        (g.flatten(1).norm(dim=1) - 1).pow(2).mean().backward()
        grads.append(_weight(layer).grad.clone())
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-9, atol=1e-12)


def test_parameter_names_stay_the_layers_own_and_other_layers_are_refused():
    layer = spectral_normalise(nn.Linear(4, 3))
    assert sorted(layer.state_dict()) == ["bias", "sn_u", "sn_v", "weight"]
    with pytest.raises(TypeError, match="needs a Linear, Conv2d or ConvTranspose2d layer, got BatchNorm2d"):
        spectral_normalise(nn.BatchNorm2d(3))
