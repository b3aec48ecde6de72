"""LAPGAN (Denton, Chintala, Szlam and Fergus 2015, "Deep Generative Image Models using a Laplacian Pyramid of
Adversarial Networks"): one GAN per level of a Laplacian pyramid, sampled coarse to fine.

- Pyramid (section 2.2, :mod:`ganforge.nets.pyramid`): I_0 the image, I_k+1 = d(I_k) (2 x 2 average pooling),
  l_k = u(I_k+1) (bilinear x 2), h_k = I_k - l_k. ``options.levels`` = K + 1 levels: 3 gives 28 -> 14 -> 7.
- Coarsest level K: a plain GAN on I_K, networks ``model.generator`` and ``model.discriminator`` built for
  S_K x S_K images (the paper's CIFAR-10 model is fully connected there: ``mlp-g``/``mlp-d``).
- Levels k < K (section 2.3): a conditional GAN of the residual given the low-pass image: G_k(l_k, z_k) ->
  h~_k from ``options.level_generator`` (``lapgan-g``: noise as an extra plane, section 3) and D_k(l_k, h)
  from ``options.level_discriminator`` (a ``paired`` discriminator: ``lapgan-d``, or pix2pix's ``patchgan``).
- Training on real pyramids: every level is conditioned on the real l_k of the batch's images, never on a
  generated one, so the levels do not interact ("each level is trained independently", section 2.3). Here
  they train in the same step: one ``d_step`` updates every D_k on the sum of the levels' D losses and one
  ``g_step`` every G_k on the sum of their G losses, each level's loss the registered ``model.loss`` on its
  own D's outputs. The levels share no parameters, so the gradient of the sum for level k's parameters is
  that of level k's own loss, and one optimiser over all levels is K + 1 optimisers of the per-parameter
  kind (SGD, Adam, RMSprop: each parameter's update reads only its own gradient and state). The levels
  share each batch of real images (each sees its own level of their pyramids) and the step counter.
- Sampling (section 2.3, the sampling procedure of the GAN lecture slides' LAPGAN figure): I~_K = G_K(z_K),
  then I~_k = u(I~_k+1) + G_k(u(I~_k+1), z_k) down to I~_0. One latent row holds all the noise
  (:mod:`.laplacian`), so ``ganforge sample``, ``eval`` and the EMA generator treat LAPGAN like any
  noise-to-image GAN.
- The progress grid (``samples/step-N.png``, shown by ``ganforge report``) is the pyramid picture: for each
  latent, the coarse sample, then for each finer level the upsampled coarser image l_k and the image
  l_k + h~_k, all shown at full size (nearest-neighbour enlargement, so a 7 x 7 pixel is a 4 x 4 block).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field, replace
from typing import Optional

import torch
import torch.nn.functional as F

from ..errors import GanforgeError
from ..nets import DISCRIMINATORS, GENERATORS, make_args
from ..nets.pyramid import gaussian_pyramid, level_sizes, upsample
from .base import FAMILIES, Batch, Family, SamplerRequest, build_fitting, to_uint8
from .gan import prepare_discriminator, update_discriminator
from .laplacian import LaplacianDiscriminator, LaplacianGenerator, PairedCritic


def real_levels(images: torch.Tensor, levels: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """What LAPGAN trains on for real images (N, C, H, W): the low-pass images [l_0, ..., l_K-1] and the
    targets [h_0, ..., h_K-1, I_K] (residuals, then the coarsest image)."""
    g = gaussian_pyramid(images.float(), levels)
    lows = [upsample(g[k + 1]) for k in range(levels - 1)]
    return lows, [g[k] - low for k, low in enumerate(lows)] + [g[-1]]


def plain_image_generator(g) -> bool:
    """Whether ``g`` makes images from latents alone (no labels, images or low-pass input; a bounded range)."""
    special = g.takes_labels or g.takes_images or getattr(g, "takes_low_pass", False)
    return not special and g.out_range in ("pm1", "01")


def level_losses(fn, *outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """``fn`` (a loss's ``d_loss`` or ``g_loss``) applied level by level to D's outputs, finest first."""
    return [fn(*(out.float() for out in per_level)) for per_level in zip(*outputs)]


@FAMILIES.register("lapgan")
class LAPGAN(Family):
    """A Laplacian pyramid of GANs: a plain GAN at the coarsest level, residual cGANs above it."""

    unused_fields = ("encoder", "label_smoothing", "noisy_labels", "noisy_labels_range", "instance_noise",
                     "instance_noise_steps", "freeze_d_layers")

    @dataclass
    class Args:
        levels: int = 3  # K + 1 pyramid levels: 28 -> 14 -> 7
        level_generator: dict = field(default_factory=lambda: {"name": "lapgan-g"})
        level_discriminator: dict = field(default_factory=lambda: {"name": "lapgan-d"})

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.args = args = make_args(type(self), cfg.options, typed=True)
        self.sizes = level_sizes(shape.image_size, args.levels)
        plain = replace(shape, num_classes=0)  # unconditional: the low-pass image is each level's condition
        at = lambda size: replace(plain, image_size=size)  # noqa: E731
        self.G = LaplacianGenerator(self._coarse_generator(cfg, at(self.sizes[-1])),
                                    [self._level_generator(at(s)) for s in self.sizes[:-1]], self.sizes, cfg.z_dim)
        self.D = LaplacianDiscriminator(self._coarse_discriminator(cfg, at(self.sizes[-1])),
                                        [self._level_discriminator(at(s)) for s in self.sizes[:-1]])
        self.loss = prepare_discriminator(self.D, cfg)
        self.out_range = self.G.out_range

    # ---- building and checking the networks of each level
    @staticmethod
    def _coarse_generator(cfg, shape):
        return build_fitting(GENERATORS, cfg.generator, shape, "generator", plain_image_generator,
                             f"does not fit family 'lapgan' (it needs a plain image generator for the "
                             f"{shape.image_size}px coarsest level, e.g. mlp-g)")

    @staticmethod
    def _coarse_discriminator(cfg, shape):
        return build_fitting(DISCRIMINATORS, cfg.discriminator, shape, "discriminator", lambda d: d.kind == "plain",
                             "is a {kind} discriminator; lapgan's coarsest level needs a plain one (e.g. mlp-d)")

    def _level_generator(self, shape):
        return build_fitting(GENERATORS, self.args.level_generator, shape, "options.level_generator",
                             lambda g: getattr(g, "takes_low_pass", False), "does not fit family 'lapgan' (it needs a "
                             "residual generator G(low, noise), e.g. lapgan-g)")

    def _level_discriminator(self, shape):
        return build_fitting(DISCRIMINATORS, self.args.level_discriminator, shape, "options.level_discriminator",
                             lambda d: d.kind == "paired", "is a {kind} discriminator; lapgan's levels need a paired "
                             "one (e.g. lapgan-d)")

    # ---- latents and data
    def sample_latent(self, n: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """z_K and every finer level's noise plane in one row (n, latent_dim), all drawn as ``model.z_dist``."""
        device = device if device is not None else next(self.G.parameters()).device
        shape = (n, self.G.latent_dim)
        if self.cfg.z_dist == "uniform":
            return (2.0 * torch.rand(shape, generator=generator, device=device) - 1.0) * self.cfg.z_scale
        return torch.randn(shape, generator=generator, device=device) * self.cfg.z_scale

    def sampling(self, request: Optional[SamplerRequest] = None):
        """The pyramid procedure has no settings (they are refused); the record counts K + 1 network
        evaluations per image, one generator per level."""
        given = [name for name, value in vars(request or SamplerRequest()).items() if value is not None]
        if given:
            raise GanforgeError(f"{given[0]}: model family 'lapgan' samples by its fixed pyramid procedure and has no "
                                f"sampler settings (the iterative families ddpm and flow do)")
        return contextlib.nullcontext({"nfe_per_image": len(self.sizes)})

    def init_from_data(self, mean_image: torch.Tensor) -> None:
        coarse_mean = gaussian_pyramid(mean_image[None].float(), self.args.levels)[-1][0]  # (C, S_K, S_K)
        self.G.coarse.init_output_bias(coarse_mean)

    def trainable(self):
        return {"g": self.G, "d": self.D}

    # ---- the two updates
    def _penalty(self, lows, real, fake, stats: dict) -> Optional[torch.Tensor]:
        """The loss's gradient penalty (WGAN-GP, DRAGAN) summed over levels, each on its own critic
        (D_k(l_k, .) for k < K), in fp32; None for losses without one."""
        critics = [PairedCritic(d, low) for d, low in zip(self.D.levels, lows)] + [self.D.coarse]
        terms = [self.loss.penalty(c, r, f) for c, r, f in zip(critics, real, fake)]
        if terms[0] is None:
            return None
        total = torch.stack(terms).sum()
        stats["penalty"] = total.detach()
        return total

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """Every D_k descends its loss on real (l_k, h_k) against (l_k, G_k(l_k, z_k)); D_K on I_K against G_K(z_K)."""
        lows, real = real_levels(batch.images, self.args.levels)
        with torch.no_grad(), self.autocast():
            fake = self.net("g")(self.sample_latent(batch.images.shape[0]), lows)
        with self.autocast():
            real_out, fake_out = self.net("d")(lows, real), self.net("d")(lows, fake)
        losses = level_losses(self.loss.d_loss, real_out, fake_out)
        total = torch.stack(losses).sum()
        stats = {f"loss_d_{k}": loss.detach() for k, loss in enumerate(losses)}
        penalty = self._penalty(lows, real, [f.float() for f in fake], stats)
        objective = total if penalty is None else total + penalty
        flat = lambda outs: torch.cat([o.float().flatten() for o in outs])  # noqa: E731
        return update_discriminator(self, objective, total, flat(real_out), flat(fake_out), opts, stats)

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """Every G_k descends its loss on D_k(l_k, G_k(l_k, z_k)) with the real l_k; G_K on D_K(G_K(z_K))."""
        lows, _ = real_levels(batch.images, self.args.levels)
        with self.d_held():
            with self.autocast():
                fake = self.net("g")(self.sample_latent(batch.images.shape[0]), lows)
                fake_out = self.net("d")(lows, fake)
            losses = level_losses(self.loss.g_loss, fake_out)
            total = torch.stack(losses).sum()
            opts["g"].zero_grad(set_to_none=True)
            total.backward()
        opts["g"].step()
        return {"loss_g": total.detach(), **{f"loss_g_{k}": loss.detach() for k, loss in enumerate(losses)}}

    # ---- the pyramid picture
    @torch.no_grad()
    def pyramid_stages(self, z: torch.Tensor, use_ema: bool = True) -> list[torch.Tensor]:
        """For latents z: [I~_K, l_K-1, I~_K-1, ..., l_0, I~_0] as uint8 (N, C, H, W), every stage enlarged
        to the image size by nearest neighbours (the coarse sample, then per finer level the upsampled
        coarser image and the image with the generated residual added)."""
        g = self.sampler(use_ema)
        device, was_training = next(g.parameters()).device, g.training
        g.eval()
        try:
            images = g.pyramid(z.to(device))
        finally:
            g.train(was_training)
        stages = [images[-1]]
        for k in reversed(range(len(images) - 1)):
            stages += [upsample(images[k + 1]), images[k]]
        size = self.shape.image_size
        show = lambda x: F.interpolate(x.float(), size=(size, size), mode="nearest")  # noqa: E731
        return [to_uint8(self.to_unit(show(x)).clamp(0, 1)).cpu() for x in stages]

    def grid_images(self, z: torch.Tensor, labels: Optional[torch.Tensor], cols: int,
                    use_ema: bool = True) -> tuple[torch.Tensor, int]:
        """The pyramid picture: each latent's 2K + 1 stages side by side, about sqrt(n / (2K + 1)) latents a
        row so the grid is roughly square. Returns uint8 ((2K + 1) n, C, H, W) and the row length."""
        stages = self.pyramid_stages(z, use_ema)
        per_row = max(1, round(math.sqrt(len(z) / len(stages))))
        return torch.stack(stages, dim=1).flatten(0, 1), len(stages) * per_row
