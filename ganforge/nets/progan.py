"""The progressively grown generator and discriminator of Karras, Aila, Laine and Lehtinen 2018, "Progressive
Growing of GANs for Improved Quality, Stability, and Variation" (Table 2), at a size chosen by ``channels``.

Every stage is built up front; a call names the active ``stage`` (0 = the lowest resolution) and its fade-in
``alpha``, and only the layers on that path run, so the parameter list (and the optimisers' state) never
changes while the networks grow. Stage s works at resolution base * 2^s with ``channels[s]`` feature maps, the
last stage at the full image size, so base = image_size / 2^(S-1): 28 px with three stages grows 7 -> 14 -> 28,
32 px with four grows 4 -> 8 -> 16 -> 32. Both networks take and give full-size images: G enlarges its
current-resolution output by nearest-neighbour copies and D average-pools its input down to the current
resolution (as the authors' released code does), so samples, FID and gradient penalties work at any stage.

    G: z (N, Z) -> pixel norm -> dense (He constant of a base x base conv) -> (N, c0, b, b) lrelu PN
       -> conv3x3 lrelu PN                                                         -> (N, c0, b, b)
       stage s: upsample x2 -> conv3x3 lrelu PN -> conv3x3 lrelu PN                -> (N, cs, b 2^s, b 2^s)
       toRGB_s: conv1x1 (gain 1, linear)                                          -> (N, C, b 2^s, b 2^s)
       fade: (1 - alpha) upsample(toRGB_{s-1}) + alpha toRGB_s; then enlarged to (N, C, H, W)
    D: x (N, C, H, W) -> avgpool to b 2^s -> fromRGB_s conv1x1 lrelu               -> (N, cs, b 2^s, b 2^s)
       stage s: conv3x3 lrelu -> conv3x3 lrelu -> avgpool x2                      -> (N, c(s-1), b 2^(s-1), ...)
       fade: (1 - alpha) fromRGB_{s-1}(avgpool(x)) + alpha stage_s(...)
       last: minibatch stddev -> (N, c0 + 1, b, b) -> conv3x3 lrelu -> conv bxb lrelu -> (N, c0, 1, 1)
             -> dense (gain 1) -> critic value (N,)

All layers use the equalised learning rate; G normalises every feature vector (pixel norm) and its output
layer is linear (``bounded`` False: images are clamped to [-1, 1] when they are turned into pixels).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape
from .progressive import (HE_GAIN, EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, downsample,
                          fade_in, pixel_norm, upsample)


def stage_resolutions(net: str, image_size: int, channels: list[int]) -> list[int]:
    """The resolution of every stage, lowest first: image_size / 2^(S-1) ... image_size; a one-line error when
    the image size does not halve S-1 times to a whole base of at least 4 pixels."""
    stages = len(channels)
    if stages < 1 or any(c < 1 for c in channels):
        raise GanforgeError(f"{net}: channels must list at least one positive width per stage, got {channels}")
    base = image_size >> (stages - 1)
    if base < 4 or base << (stages - 1) != image_size:
        raise GanforgeError(f"{net}: image_size {image_size} does not halve {stages - 1} times to a whole base of "
                            f"at least 4 pixels (expected e.g. 28 with 3 channels entries: 7 -> 14 -> 28)")
    return [base << s for s in range(stages)]


class Progressive:
    """What the progan family needs of a progressively grown network."""

    resolutions: list[int]

    @property
    def stages(self) -> int:
        return len(self.resolutions)

    def _stage(self, stage: int | None) -> int:
        stage = self.stages - 1 if stage is None else stage
        if not 0 <= stage < self.stages:
            raise GanforgeError(f"stage {stage} is not one of this network's stages 0..{self.stages - 1}")
        return stage

    def unused_parameter_names(self, stage: int | None = None, alpha: float = 1.0) -> set[str]:
        """Parameters a call at ``stage`` and ``alpha`` leaves out: later stages' blocks, and every RGB layer but
        the current stage's (and the previous one's while fading)."""
        stage = self._stage(stage)
        rgb = {stage, stage - 1} if stage > 0 and alpha < 1.0 else {stage}
        unused = {f"{self.rgb_name}.{s}." for s in range(self.stages) if s not in rgb}
        unused |= {f"blocks.{s - 1}." for s in range(stage + 1, self.stages)}
        return {name for name, _ in self.named_parameters() if any(name.startswith(u) for u in unused)}


@GENERATORS.register("progan-g")
class ProGANGenerator(Progressive, Generator):
    """Karras et al. 2018 generator (Table 2): ``G(z, stage, alpha)`` gives full-size images (N, C, H, W)."""

    out_range = "pm1"
    bounded = False
    rgb_name = "to_rgb"

    @dataclass
    class Args:
        channels: list[int] = field(default_factory=lambda: [128, 64, 32])  # feature maps per stage, lowest first
        leak: float = 0.2

    def __init__(self, shape: NetShape, args: "ProGANGenerator.Args") -> None:
        super().__init__(shape, args)
        self.resolutions = stage_resolutions("progan-g", shape.image_size, args.channels)
        c, b = args.channels, self.resolutions[0]
        self.dense = EqualizedLinear(shape.z_dim, c[0] * b * b, gain=HE_GAIN / b)  # a bxb conv on a 1x1 latent
        self.first = nn.Sequential(nn.LeakyReLU(args.leak), PixelNorm(),
                                   EqualizedConv2d(c[0], c[0], 3), nn.LeakyReLU(args.leak), PixelNorm())
        self.blocks = nn.ModuleList(self._block(c[s - 1], c[s]) for s in range(1, len(c)))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(width, shape.channels, 1, gain=1.0) for width in c)

    def _block(self, c_in: int, c_out: int) -> nn.Sequential:
        leak = self.args.leak
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),  # (N, c_in, 2r, 2r)
                             EqualizedConv2d(c_in, c_out, 3), nn.LeakyReLU(leak), PixelNorm(),
                             EqualizedConv2d(c_out, c_out, 3), nn.LeakyReLU(leak), PixelNorm())  # (N, c_out, 2r, 2r)

    def forward(self, z: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = self._stage(stage)
        b = self.resolutions[0]
        h = self.dense(pixel_norm(z)).view(-1, self.args.channels[0], b, b)  # (N, c0, b, b)
        h = prev = self.first(h)
        for s in range(1, stage + 1):
            prev, h = h, self.blocks[s - 1](h)  # (N, cs, b 2^s, b 2^s)
        rgb = self.to_rgb[stage](h)  # (N, C, r, r)
        if stage > 0 and alpha < 1.0:
            rgb = fade_in(upsample(self.to_rgb[stage - 1](prev)), rgb, alpha)
        return upsample(rgb, 1 << (self.stages - 1 - stage))  # (N, C, H, W)


@DISCRIMINATORS.register("progan-d")
class ProGANDiscriminator(Progressive, Discriminator):
    """Karras et al. 2018 critic (Table 2): ``D(x, stage, alpha)`` on full-size images, values (N,)."""

    rgb_name = "from_rgb"

    @dataclass
    class Args:
        channels: list[int] = field(default_factory=lambda: [128, 64, 32])  # feature maps per stage, lowest first
        leak: float = 0.2
        mbstd_group: int = 0  # images per minibatch-stddev group; 0: the whole minibatch (the paper's text)

    def __init__(self, shape: NetShape, args: "ProGANDiscriminator.Args") -> None:
        super().__init__(shape, args)
        self.resolutions = stage_resolutions("progan-d", shape.image_size, args.channels)
        if args.mbstd_group < 0:
            raise GanforgeError(f"progan-d: mbstd_group must be 0 (whole minibatch) or a group size, "
                                f"got {args.mbstd_group}")
        c, b, leak = args.channels, self.resolutions[0], args.leak
        self.from_rgb = nn.ModuleList(EqualizedConv2d(shape.channels, width, 1) for width in c)
        self.blocks = nn.ModuleList(self._block(c[s], c[s - 1]) for s in range(1, len(c)))
        self.last = nn.Sequential(
            MinibatchStdDev(args.mbstd_group),  # (N, c0 + 1, b, b)
            EqualizedConv2d(c[0] + 1, c[0], 3), nn.LeakyReLU(leak),  # (N, c0, b, b)
            EqualizedConv2d(c[0], c[0], b, padding=0), nn.LeakyReLU(leak),  # (N, c0, 1, 1)
            nn.Flatten(), EqualizedLinear(c[0], 1, gain=1.0))  # (N, 1)
        self.act = nn.LeakyReLU(leak)

    def _block(self, c_in: int, c_out: int) -> nn.Sequential:
        leak = self.args.leak
        return nn.Sequential(EqualizedConv2d(c_in, c_in, 3), nn.LeakyReLU(leak),
                             EqualizedConv2d(c_in, c_out, 3), nn.LeakyReLU(leak),
                             nn.AvgPool2d(2))  # (N, c_out, r/2, r/2)

    def forward(self, x: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = self._stage(stage)
        x = downsample(x, 1 << (self.stages - 1 - stage))  # (N, C, r, r)
        h = self.act(self.from_rgb[stage](x))  # (N, cs, r, r)
        if stage > 0:
            h = self.blocks[stage - 1](h)  # (N, c(s-1), r/2, r/2)
            if alpha < 1.0:
                h = fade_in(self.act(self.from_rgb[stage - 1](downsample(x))), h, alpha)
        for s in range(stage - 1, 0, -1):
            h = self.blocks[s - 1](h)
        return self.last(h).view(-1)  # (N,)
