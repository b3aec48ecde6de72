"""The comparison networks: layer sizes and parameter counts computed by hand from what the sources state.

Basart 2017 (thesis section 3.3.2: weakened and small DCGAN), Skliar's report (DCGAN with BN and LeakyReLU
0.2 after every convolution), Gulrajani et al. 2017 (``gan_cifar.py`` WGAN-GP nets), goodfeli/adversarial
``cifar10_convolutional.yaml`` and the "train_2" nets of Villani and Eskildsen 2019. The contract test over
every registered network (shapes, ranges, gradients) lives in ``test_nets.py``.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.nets import DISCRIMINATORS, GENERATORS, NetShape, build_net


def conv_params(c_in: int, c_out: int, k: int, bias: bool = False) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def output_shapes(net: nn.Module, x: torch.Tensor, kinds=(nn.Conv2d, nn.ConvTranspose2d)) -> list[tuple]:
    shapes: list[tuple] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
             for m in net.modules() if isinstance(m, kinds)]
    net(x)
    for h in hooks:
        h.remove()
    return shapes


def batch_norms(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


# --- weakened DCGAN (Basart 2017, section 3.3.2): every batch norm removed --------------------------------

@pytest.mark.parametrize("size,z,w,c", [(28, 100, 64, 1), (32, 100, 64, 1), (64, 100, 64, 3)])
def test_weakened_dcgan_has_no_batch_norm_and_only_the_conv_weights(size, z, w, c):
    shape = NetShape(c, size, z)
    g = build_net(GENERATORS, "dcgan-g", shape, {"batchnorm": False})
    d = build_net(DISCRIMINATORS, "dcgan-d", shape, {"batchnorm": False})
    assert not batch_norms(g) and not batch_norms(d)
    n_up = {28: 2, 32: 3, 64: 4}[size]
    base = 7 if size == 28 else 4
    top = w * 2 ** (n_up - 1)  # G's first map, D's last
    g_count = conv_params(z, top, base) + sum(conv_params(top // 2 ** i, top // 2 ** (i + 1), 4)
                                               for i in range(n_up - 1)) + conv_params(w, c, 4)
    d_count = conv_params(c, w, 4) + sum(conv_params(w * 2 ** i, w * 2 ** (i + 1), 4)
                                         for i in range(n_up - 1)) + conv_params(top, 1, base)
    assert (n_params(g), n_params(d)) == (g_count, d_count)
    full = build_net(GENERATORS, "dcgan-g", shape, {})
    assert n_params(full) - n_params(g) == 2 * sum(m.num_features for m in batch_norms(full))
    g.eval()  # without BN one image alone gives the same output in train and eval mode
    x = torch.randn(1, z)
    assert torch.equal(g(x), g.train()(x))


# --- Skliar's report: "each convolution layer ... followed by a batch normalization layer and LeakyReLU 0.2" ----

def test_skliar_variant_has_bn_and_lrelu_after_every_hidden_convolution():
    shape = NetShape(1, 64, 100)
    g = build_net(GENERATORS, "dcgan-g", shape, {"leak": 0.2})
    d = build_net(DISCRIMINATORS, "dcgan-d", shape, {"batchnorm_first": True})
    for net, n_convs in ((g, 5), (d, 5)):
        layers = list(net.main)
        convs = [i for i, m in enumerate(layers) if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert len(convs) == n_convs
        for i in convs[:-1]:  # every hidden conv: BN, then LeakyReLU(0.2)
            assert isinstance(layers[i + 1], nn.BatchNorm2d), (type(net).__name__, i)
            assert isinstance(layers[i + 2], nn.LeakyReLU) and layers[i + 2].negative_slope == 0.2
    assert isinstance(g.main[-1], nn.Tanh)  # the output layers keep tanh and the logit
    # pytorch/examples' counts (see test_nets) plus one 64-channel BN in D; G's count is unchanged
    g_ref = conv_params(100, 512, 4) + conv_params(512, 256, 4) + conv_params(256, 128, 4) \
        + conv_params(128, 64, 4) + conv_params(64, 1, 4) + 2 * (512 + 256 + 128 + 64)
    d_ref = conv_params(1, 64, 4) + conv_params(64, 128, 4) + conv_params(128, 256, 4) \
        + conv_params(256, 512, 4) + conv_params(512, 1, 4) + 2 * (64 + 128 + 256 + 512)
    assert (n_params(g), n_params(d)) == (g_ref, d_ref)
    with pytest.raises(GanforgeError, match="leak"):
        build_net(GENERATORS, "dcgan-g", shape, {"leak": 1.5})


# --- small DCGAN (Basart 2017, section 3.3.2): layer 4 removed, layer 3 outputs the image --------------------

def test_small_dcgan_drops_layer_4_and_layer_3_outputs_the_image():
    z, w = 100, 64
    shape = NetShape(1, 32, z)
    small = build_net(GENERATORS, "small-dcgan-g", shape, {})
    full = build_net(GENERATORS, "dcgan-g", shape, {})
    assert output_shapes(full, torch.randn(2, z)) == [(256, 4, 4), (128, 8, 8), (64, 16, 16), (1, 32, 32)]
    # layers 1 and 2 as DCGAN's; layer 3 now gives layer 4's output
    assert output_shapes(small, torch.randn(2, z)) == [(256, 4, 4), (128, 8, 8), (1, 32, 32)]
    count = conv_params(z, 4 * w, 4) + 2 * 4 * w + conv_params(4 * w, 2 * w, 4) + 2 * 2 * w + conv_params(2 * w, 1, 4)
    assert n_params(small) == count
    last = [m for m in small.modules() if isinstance(m, nn.ConvTranspose2d)][-1]
    assert (last.kernel_size, last.stride, last.padding) == ((4, 4), (4, 4), (0, 0))
    assert output_shapes(build_net(GENERATORS, "small-dcgan-g", NetShape(3, 28, z), {}), torch.randn(2, z)) == \
        [(128, 7, 7), (3, 28, 28)]


# --- Gulrajani et al. 2017 gan_cifar.py, DIM = 128 ----------------------------------------------------------

def test_wgangp_nets_have_the_gan_cifar_layer_sizes_and_parameter_counts():
    dim, z = 128, 128
    shape = NetShape(3, 32, z)
    g = build_net(GENERATORS, "wgangp-g", shape, {})
    d = build_net(DISCRIMINATORS, "wgangp-d", shape, {})
    g_count = (z * 4 * 4 * 4 * dim + 4 * 4 * 4 * dim) + 2 * 4 * 4 * 4 * dim \
        + conv_params(4 * dim, 2 * dim, 5, bias=True) + 2 * 2 * dim \
        + conv_params(2 * dim, dim, 5, bias=True) + 2 * dim + conv_params(dim, 3, 5, bias=True)
    d_count = conv_params(3, dim, 5, bias=True) + conv_params(dim, 2 * dim, 5, bias=True) \
        + conv_params(2 * dim, 4 * dim, 5, bias=True) + 4 * 4 * 4 * dim + 1
    assert (n_params(g), n_params(d)) == (g_count, d_count)
    assert (g_count, d_count) == (5_179_907, 4_114_689)  # 1,073,152 + 3,277,568 + 819,584 + 9,603; D likewise
    x = torch.randn(2, z)
    assert output_shapes(g, x, (nn.Linear, nn.ConvTranspose2d)) == [(8192,), (256, 9, 9), (128, 17, 17),
                                                                      (3, 33, 33)]  # before the crop
    assert g(x).shape == (2, 3, 32, 32)
    assert output_shapes(d, torch.rand(2, 3, 32, 32), (nn.Conv2d, nn.Linear)) == [(128, 16, 16), (256, 8, 8),
                                                                                   (512, 4, 4), (1,)]
    assert not batch_norms(d)


def test_wgangp_conv_pads_as_tensorflow_same_and_the_deconv_is_its_adjoint():
    """TF "SAME", stride 2, kernel 5 on an even input pads floor(3/2) = 1 before: output i sees input rows
    2i - 1 .. 2i + 3. conv2d_transpose is the adjoint of that convolution: <conv(x), y> = <deconv(y), x>."""
    from ganforge.nets.wgangp import same_conv, same_deconv

    conv, deconv = nn.Sequential(*same_conv(1, 1)), nn.Sequential(*same_deconv(1, 1))
    with torch.no_grad():
        conv[1].weight.fill_(1.0), conv[1].bias.zero_()
        for r in range(8):
            x = torch.zeros(1, 1, 8, 8)
            x[0, 0, r, 0] = 1.0
            rows = conv(x)[0, 0, :, 0].nonzero().flatten().tolist()
            assert rows == [i for i in range(4) if 2 * i - 1 <= r <= 2 * i + 3], r
        torch.manual_seed(0)
        conv = nn.Sequential(*same_conv(3, 5))
        deconv = nn.Sequential(*same_deconv(5, 3))
        deconv[0].weight.copy_(conv[1].weight)
        conv[1].bias.zero_(), deconv[0].bias.zero_()
        x, y = torch.randn(2, 3, 8, 8), torch.randn(2, 5, 4, 4)
        assert torch.allclose((conv(x) * y).sum(), (deconv(y) * x).sum(), atol=1e-4)


def test_wgangp_init_is_tflib_uniform():
    torch.manual_seed(0)
    d = build_net(DISCRIMINATORS, "wgangp-d", NetShape(3, 32, 128), {})
    conv = [m for m in d.modules() if isinstance(m, nn.Conv2d)][2]  # 256 -> 512, 5x5, stride 2
    std = math.sqrt(4.0 / (256 * 25 + 512 * 25 / 4))
    assert conv.weight.abs().max() <= std * math.sqrt(3) + 1e-7
    assert abs(conv.weight.std().item() - std) < 0.01 * std
    out = d.out.weight  # Glorot: sqrt(2 / (8192 + 1))
    assert abs(out.std().item() - math.sqrt(2.0 / 8193)) < 0.05 * math.sqrt(2.0 / 8193)
    assert all((m.bias == 0).all() for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


# --- goodfeli/adversarial cifar10_convolutional.yaml generator ------------------------------------------------

def test_goodfellow_conv_generator_matches_the_yaml():
    torch.manual_seed(0)
    g = build_net(GENERATORS, "goodfellow-conv-g", NetShape(3, 32, 100), {})
    # gh0 ReLU 8000, h1 sigmoid 8000 = (80, 10, 10), deconv 5x5 stride 3 to 3 x 32 x 32, untied biases
    count = (100 * 8000 + 8000) + (8000 * 8000 + 8000) + 80 * 3 * 5 * 5 + 3 * 32 * 32
    assert n_params(g) == count
    assert output_shapes(g, torch.randn(2, 100), (nn.Linear, nn.ConvTranspose2d)) == [(8000,), (8000,),
                                                                                       (3, 32, 32)]
    weights = torch.cat([g.fc[0].weight.flatten(), g.deconv.weight.flatten()])
    assert weights.abs().max() <= 0.05 and abs(weights.std().item() - 0.05 / math.sqrt(3)) < 0.001
    with torch.no_grad():  # one bias per output pixel: raising one moves that pixel only
        before = g(torch.zeros(1, 100))
        g.bias[1, 5, 7] += 1.0
        moved = (g(torch.zeros(1, 100)) != before).nonzero().tolist()
    assert moved == [[0, 1, 5, 7]]


# --- Villani and Eskildsen 2019 "train_2" nets --------------------------------------------------------------

def test_villani_train2_nets_sizes_and_dropout():
    torch.manual_seed(0)
    shape = NetShape(3, 32, 100)
    g = build_net(GENERATORS, "villani-conv-g", shape, {})
    d = build_net(DISCRIMINATORS, "villani-conv-d", shape, {})
    assert output_shapes(g, torch.randn(2, 100), (nn.Linear, nn.ConvTranspose2d)) == [(8000,), (64, 32, 32),
                                                                                       (3, 32, 32)]
    assert n_params(g) == (100 * 8000 + 8000) + conv_params(80, 64, 5, True) + conv_params(64, 3, 5, True)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g.modules()) == 2
    assert output_shapes(d, torch.rand(2, 3, 32, 32), (nn.Conv2d, nn.MaxPool2d)) == [
        (32, 33, 33), (32, 16, 16), (32, 15, 15), (32, 7, 7), (192, 9, 9), (192, 5, 5)]
    d_count = conv_params(3, 32, 8, True) + conv_params(32, 32, 8, True) + conv_params(32, 192, 5, True) \
        + (192 * 5 * 5 * 500 * 5 + 500 * 5) + (500 + 1)
    assert n_params(d) == d_count
    assert [m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)] == [0.2] * 3
    z = torch.randn(4, 100)
    assert not torch.equal(g(z), g(z))  # dropout while training
    g.eval()
    assert torch.equal(g(z), g(z))  # and none when sampling
