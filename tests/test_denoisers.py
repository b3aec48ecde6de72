"""The time-conditioned U-Net of the iterative families (``ganforge.nets.time_unet``): the sinusoidal time
embedding against its formula, shapes at 28 and 32 px, every parameter trained, batch independence, time and
class inputs that matter, attention at the lowest resolution, and the parameter count from layer sizes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.nets import NetShape, build_net, make_args
from ganforge.nets import time_unet
from ganforge.nets.time_unet import DENOISERS, SelfAttention, sinusoidal_embedding

K = 10


def _net(size=28, channels=1, classes=0, **options):
    torch.manual_seed(0)
    return build_net(DENOISERS, "time-unet", NetShape(channels, size, 8, classes), options)


def _unzero(net: nn.Module) -> None:
    """Give the zero-initialised layers random weights (else nothing before them gets a gradient)."""
    with torch.no_grad():
        for p in net.parameters():
            if not p.abs().any():
                p.normal_(0.0, 0.05)


def test_sinusoidal_embedding_is_the_transformer_formula():
    t = torch.tensor([0.0, 1.0, 17.0, 999.0])
    dim = 16
    got = sinusoidal_embedding(t, dim).double().numpy()
    i = np.arange(dim // 2)
    angles = t.double().numpy()[:, None] / 10000.0 ** (2 * i / dim)[None, :]  # t / 10000^(2i/d)
    np.testing.assert_allclose(got[:, :dim // 2], np.sin(angles), atol=2e-4)  # float32 angles up to ~1000
    np.testing.assert_allclose(got[:, dim // 2:], np.cos(angles), atol=2e-4)
    assert got[0, :dim // 2].tolist() == [0.0] * (dim // 2) and got[0, dim // 2:].tolist() == [1.0] * (dim // 2)


@pytest.mark.parametrize("size,channels,classes", [(28, 1, 0), (28, 3, K), (32, 1, K), (32, 3, 0)])
def test_shapes_and_every_parameter_learns(size, channels, classes):
    net = _net(size, channels, classes, width=8, mults=[1, 2, 2])
    x = torch.randn(4, channels, size, size)
    labels = torch.tensor([0, 3, K, 9]) if classes else None  # K: the null class
    assert net(x, torch.rand(4) * 1000, labels).abs().max() == 0  # zero-initialised output layer
    _unzero(net)
    out = net(x, torch.rand(4) * 1000, labels)
    assert out.shape == x.shape and torch.isfinite(out).all()
    (out * torch.randn_like(out)).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} got no gradient"


def test_attention_sits_at_the_lowest_resolution_and_is_optional():
    for size, lowest in ((28, 7), (32, 8)):
        net = _net(size, width=8)
        _unzero(net)
        seen = []
        for m in net.modules():
            if isinstance(m, SelfAttention):
                m.register_forward_hook(lambda _m, inp, out: seen.append(tuple(out.shape[1:])))
        net(torch.randn(2, 1, size, size), torch.zeros(2))
        assert seen == [(16, lowest, lowest)]  # width 8 x mults[-1] 2
    assert not any(isinstance(m, SelfAttention) for m in _net(attention=False).modules())


def test_each_image_is_denoised_independently_of_its_batch():
    # GroupNorm, not BatchNorm: one image's output does not depend on the others (nor on train/eval mode)
    net = _net(classes=K, width=8)
    _unzero(net)
    x, t, y = torch.randn(5, 1, 28, 28), torch.tensor([5.0, 100.0, 400.0, 800.0, 999.0]), torch.arange(5)
    whole = net(x, t, y)
    net.eval()
    for i in range(5):
        torch.testing.assert_close(net(x[i:i + 1], t[i:i + 1], y[i:i + 1]), whole[i:i + 1], rtol=1e-4, atol=1e-5)


def test_time_and_class_change_the_output_and_missing_labels_are_the_null_class():
    net = _net(classes=K, width=8)
    _unzero(net)
    x = torch.randn(2, 1, 28, 28)
    base = net(x, torch.full((2,), 10.0), torch.tensor([1, 1]))
    assert not torch.allclose(base, net(x, torch.full((2,), 500.0), torch.tensor([1, 1])))
    assert not torch.allclose(base, net(x, torch.full((2,), 10.0), torch.tensor([2, 2])))
    torch.testing.assert_close(net(x, torch.full((2,), 10.0), None), net(x, torch.full((2,), 10.0), torch.full((2,), K)))
    assert _net(classes=0).label is None and _net(classes=K).label.num_embeddings == K + 1


def _expected_parameters(c: int, w: int, mults: list[int], blocks: int, attention: bool, classes: int) -> int:
    """The count from the layer sizes of Ho et al.'s U-Net as the module docstring describes it."""
    conv = lambda i, o, k: i * o * k * k + o  # noqa: E731  (weights + bias)
    gn = lambda ch: 2 * ch  # noqa: E731
    temb = 4 * w
    res = lambda i, o: gn(i) + conv(i, o, 3) + temb * o + o + gn(o) + conv(o, o, 3) + (conv(i, o, 1) if i != o else 0)  # noqa: E731
    total = (w * temb + temb) + (temb * temb + temb) + conv(c, w, 3)
    total += (classes + 1) * temb if classes else 0
    widths, skips, cin = [w * m for m in mults], [w], w
    for i, width in enumerate(widths):
        for _ in range(blocks):
            total, cin = total + res(cin, width), width
            skips.append(cin)
        if i < len(widths) - 1:
            total += conv(cin, cin, 4)
            skips.append(cin)
    total += 2 * res(cin, cin) + ((gn(cin) + conv(cin, 3 * cin, 1) + conv(cin, cin, 1)) if attention else 0)
    for i in reversed(range(len(widths))):
        for _ in range(blocks + 1):
            total, cin = total + res(cin + skips.pop(), widths[i]), widths[i]
        if i > 0:
            total += conv(cin, cin, 3)
    return total + gn(cin) + conv(cin, c, 3)


@pytest.mark.parametrize("options,classes,stated", [({}, 0, 1_098_337), ({}, K, 1_099_745),
                                                    ({"width": 16, "mults": [1, 2, 4]}, 0, 645_425),
                                                    ({"blocks": 2, "attention": False}, 0, None)])
def test_parameter_count_follows_from_the_layer_sizes(options, classes, stated):
    net = _net(classes=classes, **options)
    args = make_args(type(net), options)
    count = sum(p.numel() for p in net.parameters())
    assert count == _expected_parameters(1, args.width, args.mults, args.blocks, args.attention, classes)
    if stated is not None:  # the counts the module docstring states
        assert count == stated and f"{stated:,}" in time_unet.__doc__
    assert 3e5 < count < 2e6 or options.get("blocks") == 2  # CPU-sized


@pytest.mark.parametrize("options,match", [({"groups": 5}, "groups=5"), ({"width": 7}, "width"),
                                           ({"mults": [1, 2, 2, 2, 2]}, "too deep"), ({"dropout": 1.0}, "dropout"),
                                           ({"no_such": 1}, "no_such")])
def test_bad_options_are_one_line_errors(options, match):
    with pytest.raises(GanforgeError, match=match) as info:
        _net(**options)
    assert "\n" not in str(info.value)
