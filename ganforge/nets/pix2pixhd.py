"""The networks of pix2pixHD (Wang, Liu, Zhu, Tao, Kautz and Catanzaro 2018, "High-Resolution Image Synthesis and
Semantic Manipulation with Conditional GANs", section 3.2), sized for 28-32 px images.

Coarse-to-fine generator (section 3.2, "Coarse-to-fine generator"; registered ``pix2pixhd-g``, called
``G(x)`` with an image (N, C, S, S) in [-1, 1], returning (N, C, S, S) in [-1, 1]):

- G1, the global generator, works on the input downsampled by 2 (S/2): a convolutional front-end (c7s1-2w and
  ``global_down`` stride-2 3 x 3 convolutions doubling the width), ``global_blocks`` residual blocks and a
  transposed-convolution back-end back to S/2 with 2w channels. Its output layer (c7s1-C, tanh) is used only
  while G1 trains alone (the global phase of family ``pix2pixhd``): :meth:`CoarseToFine.coarse`.
- G2, the local enhancer, works at full resolution: front-end c7s1-w then a stride-2 3 x 3 convolution to 2w at
  S/2; "the input to the residual block G2^(R) is the element-wise sum of two feature maps: the output feature
  map of G2^(F), and the last feature map of the back-end of the global generator network G1^(B)"; then
  ``local_blocks`` residual blocks, a stride-2 transposed convolution back to w at S and c7s1-C with tanh.

The paper's G1 for 1024 x 512 inputs has 4 downsamplings and 9 residual blocks, its G2 3 residual blocks and
w = 32 (so G1 has 64 filters in its first layer); here G1 works on 14 x 14 (28 px data) or 16 x 16 (32 px) maps,
so one downsampling (``global_down=1``: 14 -> 7 -> 14) is what fits. Layers as the authors' code: reflection
padding for the 7 x 7 convolutions, instance norm (option ``norm``) and ReLU after every convolution but the
output ones. The downsampling of the input is their ``AvgPool2d(3, stride=2, padding=1,
count_include_pad=False)``: :func:`half`.

Multi-scale discriminators (section 3.2, "Multi-scale discriminators"; registered ``multiscale-patchgan``, of
kind ``multiscale``): ``scales`` discriminators D_1 ... D_K "with an identical network structure" (the
PatchGAN layers of :mod:`ganforge.nets.patchgan`, each with its own weights) judge the (input, image) pair at
full size, downsampled by 2, by 4 ... (:func:`half` applied k - 1 times). Called ``D(condition, image)`` with
two images (N, C, S, S), it returns one list per scale, finest first; each list holds the activations of every
hidden layer (after its LeakyReLU: what the feature-matching loss of eq. 4 compares) and, last, the patch
logits (N, P_k, P_k). The paper uses 3 scales at 2048 x 1024; at 28 px two suffice: D_1's 16 px patches (one
stride-2 layer) already cover most of the image, and D_2's cover all of its 14 x 14 version, so D_2 plays the
part of the paper's coarsest discriminator ("the discriminator operating at the coarsest scale has the largest
receptive field").
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape
from .layers import NORMS, init_normal_
from .patchgan import check_patch_args, patch_layers
from .resnet import ResidualBlock


def half(x: torch.Tensor) -> torch.Tensor:
    """One level down the image pyramid: a 3 x 3 average, stride 2, padding 1 not counted (the authors' code);
    (N, C, S, S) -> (N, C, ceil(S / 2), ceil(S / 2))."""
    return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)


def pyramid_sizes(size: int, scales: int) -> list[int]:
    """Image sizes at each scale: size, then :func:`half`'s output size (floor((s - 1) / 2) + 1) repeatedly."""
    sizes = [size]
    for _ in range(scales - 1):
        sizes.append((sizes[-1] - 1) // 2 + 1)
    return sizes


def _c7(in_channels: int, out_channels: int, norm: str) -> list[nn.Module]:
    """c7s1-k: reflection pad 3, 7 x 7 convolution, norm, ReLU (shape-preserving)."""
    return [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, out_channels, 7, bias=norm == "none"),
            NORMS[norm](out_channels), nn.ReLU()]


def _down(in_channels: int, out_channels: int, norm: str) -> list[nn.Module]:
    """A stride-2 3 x 3 convolution, norm, ReLU: (N, in, s, s) -> (N, out, s/2, s/2)."""
    return [nn.Conv2d(in_channels, out_channels, 3, 2, 1, bias=norm == "none"), NORMS[norm](out_channels), nn.ReLU()]


def _up(in_channels: int, out_channels: int, norm: str) -> list[nn.Module]:
    """A stride-2 3 x 3 transposed convolution, norm, ReLU: (N, in, s, s) -> (N, out, 2s, 2s)."""
    return [nn.ConvTranspose2d(in_channels, out_channels, 3, 2, 1, output_padding=1, bias=norm == "none"),
            NORMS[norm](out_channels), nn.ReLU()]


def _to_image(width: int, channels: int) -> nn.Sequential:
    """c7s1-C with tanh, no norm: (N, width, s, s) -> (N, C, s, s) in [-1, 1]."""
    return nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh())


@GENERATORS.register("pix2pixhd-g")
class CoarseToFine(Generator):
    """G(x) = G2(x, G1 features of half(x)) (module docstring); ``coarse(x)`` is G1's own image of half(x)."""

    out_range = "pm1"
    takes_images = True

    @dataclass
    class Args:
        width: int = 32           # w: the local enhancer's first layer (the paper: 32); G1 starts at 2w
        global_down: int = 1      # G1's stride-2 layers (the paper: 4 at 1024 x 512)
        global_blocks: int = 4    # G1's residual blocks (the paper: 9)
        local_blocks: int = 2     # G2's residual blocks (the paper: 3)
        norm: str = "instance"    # instance (the paper's) | batch | none

    def __init__(self, shape: NetShape, args: "CoarseToFine.Args") -> None:
        super().__init__(shape, args)
        check_generator_args(shape, args)
        w, c, n = args.width, shape.channels, args.norm
        widths = [2 * w * 2 ** i for i in range(args.global_down + 1)]  # G1: 2w, 4w, ...
        front = _c7(c, widths[0], n)  # (N, 2w, S/2, S/2)
        for a, b in zip(widths, widths[1:]):
            front += _down(a, b, n)  # (N, 2^(i+1) w, S/2^(i+2), ...)
        blocks = [ResidualBlock(widths[-1], n) for _ in range(args.global_blocks)]
        back = [layer for a, b in zip(widths[:0:-1], widths[-2::-1]) for layer in _up(a, b, n)]  # -> (N, 2w, S/2, S/2)
        self.global_features = nn.Sequential(*front, *blocks, *back)  # G1^(F), G1^(R), G1^(B)
        self.global_out = _to_image(widths[0], c)  # G1's own output layer, for the global phase
        self.local_front = nn.Sequential(*_c7(c, w, n), *_down(w, 2 * w, n))  # G2^(F): (N, 2w, S/2, S/2)
        self.local_back = nn.Sequential(*[ResidualBlock(2 * w, n) for _ in range(args.local_blocks)],  # G2^(R)
                                        *_up(2 * w, w, n), _to_image(w, c))  # G2^(B): (N, C, S, S)
        init_normal_(self, 0.02, bn_std=0.02)

    def forward(self, x: torch.Tensor, enhance: bool = True, fixed_global: bool = False,
                coarse: bool = False) -> torch.Tensor:
        """(N, C, S, S) -> (N, C, S, S). ``coarse``: G1's own image of half(x), (N, C, S/2, S/2) (what G1 trains
        on alone; a keyword of forward, not only :meth:`coarse`, so a DistributedDataParallel wrapper sees the
        call). ``enhance=False``: that image upsampled bilinearly to S (what the model shows while only G1 has
        trained). ``fixed_global``: G1 runs without gradients (G2 trains alone on a fixed G1, the authors'
        ``niter_fix_global``)."""
        if coarse:
            return self.coarse(x)
        if not enhance:
            return F.interpolate(self.coarse(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not fixed_global):
            g1 = self.global_features(half(x))  # (N, 2w, S/2, S/2): the last feature map of G1^(B)
        return self.local_back(self.local_front(x) + g1)  # (N, C, S, S)

    def coarse(self, x: torch.Tensor) -> torch.Tensor:
        """G1 alone: (N, C, S, S) -> its image of half(x), (N, C, S/2, S/2) in [-1, 1]."""
        return self.global_out(self.global_features(half(x)))

    def unused_parameter_names(self, coarse: bool = False, fixed_global: bool = False) -> set[str]:
        """The parameters a training call ``G(x, coarse=..., fixed_global=...)`` gives no gradient: G2's with
        ``coarse``, G1's with ``fixed_global``, and G1's output layer on the full-size path."""
        parts = ("local_front", "local_back") if coarse else ("global_features", "global_out") if fixed_global \
            else ("global_out",)
        return {f"{part}.{name}" for part in parts for name, _ in getattr(self, part).named_parameters()}


def check_generator_args(shape: NetShape, args: CoarseToFine.Args) -> None:
    """One-line errors for settings that build no network or do not fit the image size."""
    if args.norm not in NORMS:
        raise GanforgeError(f"pix2pixhd-g: norm={args.norm!r} is not one of: {', '.join(NORMS)}")
    if args.width < 1 or args.global_down < 0 or args.global_blocks < 0 or args.local_blocks < 0:
        raise GanforgeError(f"pix2pixhd-g: width must be at least 1 and global_down, global_blocks, local_blocks at "
                            f"least 0, got {args.width}, {args.global_down}, {args.global_blocks}, {args.local_blocks}")
    step = 2 ** (args.global_down + 1)
    if shape.image_size % step:
        raise GanforgeError(f"pix2pixhd-g: G1 halves the input and then downsamples {args.global_down} time(s), which "
                            f"needs an image size divisible by {step}, got {shape.image_size}px")


@DISCRIMINATORS.register("multiscale-patchgan")
class MultiScalePatchGAN(Discriminator):
    """D(condition, image): (N, C, S, S) twice -> per scale [hidden activations ..., patch logits (N, P_k, P_k)]."""

    kind = "multiscale"

    @dataclass
    class Args:
        width: int = 64
        layers: int = 1          # stride-2 layers of each D_k: 1 -> 16 px patches (the paper's: 3, 70 px)
        scales: int = 2          # D_1 ... D_K at full size, 1/2, 1/4 ... (the paper: 3)
        norm: str = "instance"   # instance (the authors' code) | batch | none

    def __init__(self, shape: NetShape, args: "MultiScalePatchGAN.Args") -> None:
        super().__init__(shape, args)
        if args.norm not in NORMS:
            raise GanforgeError(f"multiscale-patchgan: norm={args.norm!r} is not one of: {', '.join(NORMS)}")
        if args.scales < 1:
            raise GanforgeError(f"multiscale-patchgan: scales must be at least 1, got {args.scales}")
        norm = None if args.norm == "none" else NORMS[args.norm]
        self.sizes = pyramid_sizes(shape.image_size, args.scales)
        self.patches = self.patch_sizes(shape.image_size)
        self.nets = nn.ModuleList([patch_layers(2 * shape.channels, args.width, args.layers, norm)
                                   for _ in range(args.scales)])  # D_k on (N, 2C, S_k, S_k)
        init_normal_(self, 0.02, bn_std=0.02)

    def patch_sizes(self, size: int, when: str = "") -> list[int]:
        """P_k of each scale for pairs of ``size`` px images; a one-line error when a scale has no patch left."""
        a = self.args
        where = f" {when}" if when else ""
        return [check_patch_args(f"multiscale-patchgan at {s}px (scale {k + 1} of {a.scales}{where})", a.layers,
                                 a.width, s)[-1] for k, s in enumerate(pyramid_sizes(size, a.scales))]

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> list[list[torch.Tensor]]:
        pair = torch.cat([condition, image], dim=1)  # (N, 2C, S, S)
        outputs = []
        for k, net in enumerate(self.nets):
            if k:
                pair = half(pair)  # (N, 2C, S_k, S_k)
            outputs.append(layer_outputs(net, pair))
        return outputs


def layer_outputs(net: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """A PatchGAN's hidden activations (each LeakyReLU's output, (N, F_i, s_i, s_i)) and its patch logits
    (N, P, P), in order."""
    found = []
    for layer in net:
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU):
            found.append(x)
    return found + [x.squeeze(1)]  # the last convolution: (N, 1, P, P) -> (N, P, P)
