"""Networks: one contract test over every registered generator/discriminator, plus reference checks.

The contract test loops over the registries, so a newly registered network is covered automatically
(and fails until it is listed in SUPPORTED with the sizes it claims to support).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.nets import DISCRIMINATORS, GENERATORS, NetShape, build_net, make_args
from ganforge.nets.layers import Maxout, MaxoutConv2d

# image sizes each registered network supports (all of them with 1 and 3 channels)
SUPPORTED = {
    "goodfellow-g": (28, 32, 64),
    "goodfellow-d": (28, 32, 64),
    "goodfellow-conv-d": (28, 32, 64),
    "dcgan-g": (28, 32, 64),
    "dcgan-d": (28, 32, 64),
    "lucic-g": (28,),
    "lucic-d": (28,),
    "cdcgan-g": (28, 32, 64),
    "cdcgan-d": (28, 32, 64),
    "projection-d": (28, 32, 64),
    "acgan-d": (28, 32, 64),
    "vae-mlp-dec": (28, 32, 64),
    "lucic-vae-dec": (28,),
    "mlp-g": (28, 32),
    "mlp-d": (28, 32),
    "unet": (28, 32),
    "patchgan": (28, 32),
    "patchgan-image": (28, 32),
    "resnet-g": (28, 32),
    "small-dcgan-g": (28, 32, 64),
    "wgangp-g": (32,),
    "wgangp-d": (32,),
    "goodfellow-conv-g": (32,),
    "villani-conv-g": (32,),
    "villani-conv-d": (28, 32, 64),
    "progan-g": (28, 32, 64),
    "progan-d": (28, 32, 64),
    "srresnet": (28, 32),
    "srgan-d": (28, 32),
    "lapgan-g": (14, 28),
    "lapgan-d": (14, 28),
    "pix2pixhd-g": (28, 32),
    "multiscale-patchgan": (28, 32),
}
UNSUPPORTED = {"resnet-g": 30, "patchgan-image": 4, "dcgan-g": 48, "dcgan-d": 16, "lucic-g": 32, "lucic-d": 64, "goodfellow-conv-d": 8,
               "cdcgan-g": 48, "acgan-d": 16, "lucic-vae-dec": 32, "small-dcgan-g": 48, "wgangp-g": 28,
               "wgangp-d": 64, "goodfellow-conv-g": 28, "villani-conv-g": 64, "villani-conv-d": 8,
               "progan-g": 30, "progan-d": 12, "srresnet": 30, "srgan-d": 8, "pix2pixhd-g": 30,
               "multiscale-patchgan": 4}
Z_DIM = 24
N = 4
K = 10  # classes, for the conditional networks


def call_g(g: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G(z[, labels]); an image-to-image generator (ModNet's U-Net) gets an image built from z instead, of its
    ``input_size`` if it has one (a super-resolution generator's input is smaller than its output)."""
    if getattr(g, "takes_low_pass", False):  # a LAPGAN level: G(upsampled coarse image, noise plane)
        size = g.shape.image_size
        low = torch.tanh(z.repeat(1, g.shape.channels * size ** 2 // z.shape[1] + 1))
        low = low[:, :g.shape.channels * size ** 2].reshape(len(z), g.shape.channels, size, size)
        return g(low, torch.rand(len(z), 1, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    if getattr(g, "takes_images", False):
        c, size = g.shape.channels, getattr(g, "input_size", g.shape.image_size)
        z = torch.tanh(z.repeat(1, c * size ** 2 // z.shape[1] + 1))
        z = z[:, :c * size ** 2].reshape(len(z), c, size, size)
    return g(z, torch.arange(len(z)) % K) if g.takes_labels else g(z)


def call_d(d: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The real/fake logit of any kind of discriminator (plain, conditional, auxiliary, paired, patch, multiscale),
    and a scalar touching every output head (to check that every parameter gets a gradient)."""
    if d.kind == "conditional":
        out = d(x, torch.arange(len(x)) % K)
        return out, out.sum()
    if d.kind == "paired":  # D(condition, image): PatchGAN's patch logits (N, P, P), LAPGAN's D_k one logit (N,)
        condition = torch.tanh(torch.randn_like(x))
        out = d(condition, x)
        assert out.dim() in (1, 3) and out.shape[0] == len(x)
        return (out.mean(dim=(1, 2)) if out.dim() == 3 else out), out.sum()
    if d.kind == "patch":  # CycleGAN's PatchGAN: D(image) -> patch logits (N, P, P); one number per image
        patches = d(x)
        assert patches.dim() == 3 and patches.shape[0] == len(x)
        return patches.mean(dim=(1, 2)), patches.sum()
    if d.kind == "multiscale":  # pix2pixHD: D(condition, image) -> per scale [activations ..., logits (N, P, P)]
        outputs = d(torch.tanh(torch.randn_like(x)), x)
        assert all(o[-1].dim() == 3 and o[-1].shape[0] == len(x) for o in outputs)
        return sum(o[-1].mean(dim=(1, 2)) for o in outputs), sum(o[-1].sum() for o in outputs)
    if d.kind == "auxiliary":
        logit, classes = d(x)
        assert classes.shape == (len(x), K)
        return logit, logit.sum() + (classes * torch.randn_like(classes)).sum()
    out = d(x)
    return out, out.sum()


def _cases(registry):
    return [(name, size, c) for name in registry.names() for size in SUPPORTED.get(name, (28,)) for c in (1, 3)]


def _assert_finite_grads(net: nn.Module) -> None:
    """Every parameter has a finite gradient, except those a progressively grown network leaves out at its full
    size (the RGB layers of earlier stages), which must have none."""
    idle = net.unused_parameter_names() if hasattr(net, "unused_parameter_names") else set()
    for pname, p in net.named_parameters():
        if pname in idle:
            assert p.grad is None, f"{pname} is not on the full-size path but got a gradient"
            continue
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for p in net.parameters() if p.grad is not None)


def test_every_registered_net_has_a_size_table():
    assert set(GENERATORS.names()) | set(DISCRIMINATORS.names()) == set(SUPPORTED)


@pytest.mark.parametrize("name,size,channels", _cases(GENERATORS))
def test_generator_contract(name, size, channels):
    torch.manual_seed(0)
    g = build_net(GENERATORS, name, NetShape(channels, size, Z_DIM, K), {})
    z = 3 * torch.randn(N, Z_DIM)
    x = call_g(g, z)
    assert x.shape == (N, channels, size, size)
    assert torch.isfinite(x).all()
    assert g.out_range in ("01", "pm1", "real")  # real: a LAPGAN level's residual, of either sign
    if not g.bounded or g.out_range == "real":  # a linear output layer (ProGAN, LAPGAN levels), no squashing
        assert x.min() < 0 < x.max()
    elif g.out_range == "01":
        assert x.min() >= 0 and x.max() <= 1
    else:
        assert x.min() >= -1 and x.max() <= 1 and x.min() < 0  # a sigmoid labelled "pm1" would fail here
    (x * torch.randn_like(x)).sum().backward()
    _assert_finite_grads(g)


@pytest.mark.parametrize("name,size,channels", _cases(DISCRIMINATORS))
def test_discriminator_contract(name, size, channels):
    torch.manual_seed(0)
    d = build_net(DISCRIMINATORS, name, NetShape(channels, size, Z_DIM, K), {})
    x = (torch.rand(N, channels, size, size) * 2 - 1).requires_grad_()
    out, total = call_d(d, x)
    assert out.shape == (N,)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    total.backward()
    _assert_finite_grads(d)
    assert x.grad is not None and torch.isfinite(x.grad).all()  # gradient penalties need d out / d x


def test_discriminators_return_logits_not_probabilities():
    # a final sigmoid would squash a large-scaled last layer into [0, 1]
    for name in DISCRIMINATORS.names():
        size = SUPPORTED[name][0]
        d = build_net(DISCRIMINATORS, name, NetShape(1, size, Z_DIM, K), {}).eval()
        with torch.no_grad():
            layers = [m for m in d.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
            heads = [m for m in layers if isinstance(m, nn.Linear) and m.out_features == 1]  # ACGAN's logit
            for m in {id(x): x for x in layers[-1:] + heads}.values():
                m.weight.mul_(1e4)
            # large inputs too: small-init maxout stacks (goodfellow-conv-d) barely respond to [0, 1] images
            out, _ = call_d(d, 100 * torch.rand(8, 1, size, size, generator=torch.Generator().manual_seed(0)))
        assert (out < 0).any() or (out > 1).any(), name


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_make_args_rejects_unknown_option(name):
    cls = GENERATORS.get(name) if name in GENERATORS else DISCRIMINATORS.get(name)
    with pytest.raises(GanforgeError, match="no_such_option"):
        make_args(cls, {"no_such_option": 1})
    assert make_args(cls, {}) == cls.Args()


@pytest.mark.parametrize("name,size", sorted(UNSUPPORTED.items()))
def test_unsupported_size_raises(name, size):
    registry = GENERATORS if name in GENERATORS else DISCRIMINATORS
    with pytest.raises(GanforgeError, match=str(size)):
        build_net(registry, name, NetShape(1, size, Z_DIM, K), {})


def test_options_take_effect():
    shape = NetShape(1, 28, Z_DIM)
    g = build_net(GENERATORS, "dcgan-g", shape, {"width": 8})
    assert g.main[0].weight.shape == (Z_DIM, 16, 7, 7)
    d = build_net(DISCRIMINATORS, "goodfellow-d", shape, {"units": 10, "pieces": 3})
    assert d.net[2].linear.weight.shape == (30, 784)
    for name, registry in (("lucic-g", GENERATORS), ("lucic-d", DISCRIMINATORS)):
        with_bn = build_net(registry, name, shape, {})
        without = build_net(registry, name, shape, {"batchnorm": False})
        assert any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in with_bn.modules())
        assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in without.modules())
        without.eval()  # no BN: a single sample works in train and eval alike
        x = torch.randn(1, Z_DIM) if registry is GENERATORS else torch.rand(1, 1, 28, 28)
        assert torch.isfinite(without(x)).all()


# --- DCGAN: exactly pytorch/examples dcgan netG / netD at 64 px -------------------------------------------


def _examples_param_counts(nz: int, ngf: int, ndf: int, nc: int) -> tuple[int, int]:
    """Parameter counts of pytorch/examples dcgan/main.py netG and netD (bias-free convs, BN affine)."""
    conv = lambda i, o, k: i * o * k * k  # noqa: E731
    g = conv(nz, ngf * 8, 4) + 2 * ngf * 8
    g += conv(ngf * 8, ngf * 4, 4) + 2 * ngf * 4
    g += conv(ngf * 4, ngf * 2, 4) + 2 * ngf * 2
    g += conv(ngf * 2, ngf, 4) + 2 * ngf
    g += conv(ngf, nc, 4)
    d = conv(nc, ndf, 4)
    d += conv(ndf, ndf * 2, 4) + 2 * ndf * 2
    d += conv(ndf * 2, ndf * 4, 4) + 2 * ndf * 4
    d += conv(ndf * 4, ndf * 8, 4) + 2 * ndf * 8
    d += conv(ndf * 8, 1, 4)
    return g, d


def _conv_output_shapes(net: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
        for m in net.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    net(x)
    for h in hooks:
        h.remove()
    return shapes


@pytest.mark.parametrize("nc", [1, 3])
def test_dcgan_64_matches_pytorch_examples(nc):
    shape = NetShape(nc, 64, 100)
    g = build_net(GENERATORS, "dcgan-g", shape, {})
    d = build_net(DISCRIMINATORS, "dcgan-d", shape, {})
    g_count, d_count = _examples_param_counts(100, 64, 64, nc)
    assert sum(p.numel() for p in g.parameters()) == g_count
    assert sum(p.numel() for p in d.parameters()) == d_count
    if nc == 3:  # the figures the pytorch DCGAN tutorial prints for its nets
        assert (g_count, d_count) == (3576704, 2765568)
    assert _conv_output_shapes(g, torch.randn(2, 100)) == [
        (512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (nc, 64, 64)
    ]
    assert _conv_output_shapes(d, torch.randn(2, nc, 64, 64)) == [
        (64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1, 1, 1)
    ]
    assert all(m.bias is None for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    assert all(m.bias is None for m in d.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize(
    "size,g_shapes,d_shapes",
    [
        (28, [(128, 7, 7), (64, 14, 14), (1, 28, 28)], [(64, 14, 14), (128, 7, 7), (1, 1, 1)]),
        (
            32,
            [(256, 4, 4), (128, 8, 8), (64, 16, 16), (1, 32, 32)],
            [(64, 16, 16), (128, 8, 8), (256, 4, 4), (1, 1, 1)],
        ),
    ],
)
def test_dcgan_small_geometry(size, g_shapes, d_shapes):
    shape = NetShape(1, size, 100)
    g = build_net(GENERATORS, "dcgan-g", shape, {})
    d = build_net(DISCRIMINATORS, "dcgan-d", shape, {})
    assert _conv_output_shapes(g, torch.randn(2, 100)) == g_shapes
    assert _conv_output_shapes(d, torch.randn(2, 1, size, size)) == d_shapes


def test_dcgan_init_statistics():
    torch.manual_seed(0)
    g = build_net(GENERATORS, "dcgan-g", NetShape(3, 64, 100), {})
    w = g.main[3].weight  # ConvT(512, 256, 4, 2, 1): 2M weights
    assert abs(w.mean().item()) < 1e-3
    assert 0.0195 < w.std().item() < 0.0205
    bn = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    gammas = torch.cat([m.weight.detach() for m in bn])
    assert abs(gammas.mean().item() - 1) < 0.005 and 0.015 < gammas.std().item() < 0.025
    assert all((m.bias == 0).all() for m in bn)


# --- Goodfellow et al. 2014 ---------------------------------------------------------------------------------


def test_maxout_equals_manual_max_over_groups():
    torch.manual_seed(0)
    m = Maxout(7, units=4, pieces=3)
    x = torch.randn(5, 7)
    z = x @ m.linear.weight.T + m.linear.bias  # (5, 12)
    manual = torch.stack([z[:, i * 3:(i + 1) * 3].max(dim=1).values for i in range(4)], dim=1)
    out = m(x)
    assert out.shape == (5, 4)
    assert torch.allclose(out, manual)
    strided = torch.stack([z[:, i::4].max(dim=1).values for i in range(4)], dim=1)  # the wrong grouping
    assert not torch.allclose(out, strided)


def test_maxout_conv_equals_manual_max_over_channel_groups():
    torch.manual_seed(0)
    m = MaxoutConv2d(2, channels=3, pieces=2, kernel_size=3, padding=1)
    x = torch.randn(2, 2, 5, 5)
    z = nn.functional.conv2d(x, m.conv.weight, m.conv.bias, padding=1)  # (2, 6, 5, 5)
    manual = torch.stack([torch.maximum(z[:, 2 * k], z[:, 2 * k + 1]) for k in range(3)], dim=1)
    assert torch.allclose(m(x), manual)


def test_goodfellow_output_bias_from_data_mean():
    torch.manual_seed(0)
    g = build_net(GENERATORS, "goodfellow-g", NetShape(1, 28, Z_DIM), {})
    mean = torch.rand(1, 28, 28) * 0.9 + 0.05
    mean[0, 0, 0], mean[0, 0, 1], mean[0, 27, 27] = 0.0, 1.0, 0.3
    g.init_output_bias(mean)
    clipped = mean.clamp(1e-3, 1 - 1e-3)
    assert torch.allclose(torch.sigmoid(g.out.bias), clipped.flatten(), atol=1e-6)
    with torch.no_grad():  # with the last weights zeroed, every sample is the (clipped) data mean, same layout
        g.out.weight.zero_()
        x = g(torch.randn(3, Z_DIM))
    assert torch.allclose(x, clipped.expand(3, 1, 28, 28), atol=1e-6)
    with pytest.raises(GanforgeError):
        g.init_output_bias(torch.rand(3, 28, 28))


@pytest.mark.parametrize("name,irange", [("goodfellow-g", 0.05), ("goodfellow-d", 0.005), ("goodfellow-conv-d", 0.005)])
def test_goodfellow_uniform_init(name, irange):
    torch.manual_seed(0)
    registry = GENERATORS if name in GENERATORS else DISCRIMINATORS
    net = build_net(registry, name, NetShape(1, 28, Z_DIM), {})
    weights = torch.cat([p.detach().flatten() for n, p in net.named_parameters() if n.endswith("weight")])
    assert weights.abs().max() <= irange
    assert weights.abs().max() > 0.99 * irange
    assert abs(weights.std().item() - irange / 3**0.5) < 0.02 * irange  # std of U(-r, r)
    assert all((p == 0).all() for n, p in net.named_parameters() if n.endswith("bias"))


def test_goodfellow_d_dropout():
    torch.manual_seed(0)
    d = build_net(DISCRIMINATORS, "goodfellow-d", NetShape(1, 28, Z_DIM), {})
    assert [m.p for m in d.modules() if isinstance(m, nn.Dropout)] == pytest.approx([0.2, 0.5, 0.5])
    x = torch.rand(6, 1, 28, 28)
    d.eval()
    assert torch.equal(d(x), d(x))
    d.train()
    assert not torch.equal(d(x), d(x))
    with pytest.raises(GanforgeError):
        build_net(DISCRIMINATORS, "goodfellow-d", NetShape(1, 28, Z_DIM), {"input_keep": 0.0})


# --- Lucic et al. 2018 --------------------------------------------------------------------------------------


def test_lucic_geometry_and_init():
    torch.manual_seed(0)
    g = build_net(GENERATORS, "lucic-g", NetShape(1, 28, 64), {})
    d = build_net(DISCRIMINATORS, "lucic-d", NetShape(1, 28, 64), {})
    assert _conv_output_shapes(g, torch.randn(2, 64)) == [(64, 14, 14), (1, 28, 28)]
    assert _conv_output_shapes(d, torch.rand(2, 1, 28, 28)) == [(64, 14, 14), (128, 7, 7)]
    fc = g.fc[3].weight  # Linear(1024, 6272)
    assert 0.0195 < fc.std().item() < 0.0205
    conv = d.net[2].weight  # Conv2d(64, 128, 4): truncated normal, std 0.02 * 0.8796
    assert conv.abs().max() <= 0.04 and 0.0172 < conv.std().item() < 0.0180
    for net in (g, d):
        assert all((p == 0).all() for n, p in net.named_parameters() if n.endswith("bias"))


def test_lucic_g_leak_option():
    # google/compare_gan abstract_gan.py: lrelu(0.2) after each of G's hidden layers; the paper's ReLU by default
    shape = NetShape(1, 28, 8)
    relu_g = build_net(GENERATORS, "lucic-g", shape, {})
    leaky_g = build_net(GENERATORS, "lucic-g", shape, {"leak": 0.2})
    x = torch.tensor([-1.0, 2.0])
    for g, neg in ((relu_g, 0.0), (leaky_g, -0.2)):
        acts = [m for m in g.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
        assert len(acts) == 3 and all(a(x).tolist() == pytest.approx([neg, 2.0]) for a in acts)
    dec = build_net(GENERATORS, "lucic-vae-dec", shape, {})  # compare_gan VAE.py decoder: tf.nn.relu
    assert sum(isinstance(m, nn.ReLU) for m in dec.modules()) == 3
    with pytest.raises(GanforgeError, match=r"lucic-g option leak must be a number in \[0, 1\), got -0.1"):
        build_net(GENERATORS, "lucic-g", shape, {"leak": -0.1})
