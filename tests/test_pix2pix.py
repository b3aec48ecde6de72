"""pix2pix (Isola et al. 2017): the PatchGAN discriminator, the U-Net's dropout, the family's losses, grids,
sampling and exact resume on tiny data."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.nets import DISCRIMINATORS, GENERATORS, NetShape, build_net
from ganforge.nets.patchgan import receptive_field


# ---------------------------------------------------------------- PatchGAN

def _support(grad: torch.Tensor) -> tuple[int, int, int, int]:
    """(rows, cols, first row, first col) of the bounding box of a gradient's non-zero pixels (any channel)."""
    nz = (grad.abs().sum(dim=(0, 1)) > 0).nonzero()
    (r0, c0), (r1, c1) = nz.min(0).values.tolist(), nz.max(0).values.tolist()
    assert len(nz) == (r1 - r0 + 1) * (c1 - c0 + 1), "the support is a full rectangle"
    return r1 - r0 + 1, c1 - c0 + 1, r0, c0


@pytest.mark.parametrize("layers, size, patches", [(1, 28, 12), (1, 32, 14), (2, 64, 14)])
def test_patchgan_receptive_field_is_what_the_docstring_says(layers, size, patches):
    torch.manual_seed(0)
    d = build_net(DISCRIMINATORS, "patchgan", NetShape(1, size, 8), {"width": 8, "layers": layers}).eval()
    assert d.kind == "paired"
    condition = torch.randn(1, 1, size, size, requires_grad=True)
    image = torch.randn(1, 1, size, size, requires_grad=True)
    out = d(condition, image)
    assert out.shape == (1, patches, patches) == (1, d.patches, d.patches)
    centre = patches // 2
    out[0, centre, centre].backward()  # eval mode: BatchNorm is per channel, so no pixel couples to another
    r = receptive_field(layers)
    assert r == d.receptive_field == {1: 16, 2: 34}[layers]
    for grad in (image.grad, condition.grad):  # both halves of the pair are seen through the same window
        rows, cols, r0, c0 = _support(grad)
        assert (rows, cols) == (r, r)
        # output pixel i starts at i * J - P: J = 2^layers (strides multiply), P = each layer's padding 1 times
        # the jump before it: 1 + 2 + ... + 2^(layers-1) for the stride-2 layers, 2^layers for each stride-1 one
        assert (r0, c0) == (centre * 2 ** layers - (2 ** layers - 1) - 2 * 2 ** layers,) * 2


def test_the_papers_70px_patchgan_is_three_stride_2_layers():
    assert receptive_field(3) == 70
    d = build_net(DISCRIMINATORS, "patchgan", NetShape(3, 256, 8), {"layers": 3})
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.stride[0]) for m in convs] == [
        (6, 64, 2), (64, 128, 2), (128, 256, 2), (256, 512, 1), (512, 1, 1)]  # C64-C128-C256-C512, out
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 3  # none on the first layer


def test_patchgan_judges_the_pair_not_the_image_alone():
    torch.manual_seed(0)
    d = build_net(DISCRIMINATORS, "patchgan", NetShape(1, 28, 8), {"width": 8}).eval()
    image = torch.rand(2, 1, 28, 28) * 2 - 1
    a, b = d(torch.zeros_like(image), image), d(torch.ones_like(image), image)
    assert not torch.allclose(a, b)


def test_patchgan_too_deep_for_the_image_is_a_one_line_error():
    with pytest.raises(GanforgeError, match=r"^patchgan: 3 stride-2 layers leave no patch of 16px images"):
        build_net(DISCRIMINATORS, "patchgan", NetShape(1, 16, 8), {"layers": 3})


# ---------------------------------------------------------------- the U-Net's dropout

def test_unet_dropout_is_pix2pix_noise_only_when_asked_for():
    shape = NetShape(1, 28, 8)
    torch.manual_seed(0)
    plain = build_net(GENERATORS, "unet", shape, {"width": 8})
    noisy = build_net(GENERATORS, "unet", shape, {"width": 8, "dropout": 0.5})
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())  # ModNet's U-Net is unchanged
    assert sum(isinstance(m, nn.Dropout) for m in noisy.modules()) == 2  # each decoder stage of depth 3
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    noisy.train()
    assert not torch.equal(noisy(x), noisy(x))  # dropout is the noise source in training
    noisy.eval()
    assert torch.equal(noisy(x), noisy(x))
