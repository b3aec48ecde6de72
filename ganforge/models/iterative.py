"""What the iterative families (``ddpm``, ``flow``) share: one denoising network trained by regression and
sampled by integrating it over many steps.

- Network: ``model.generator`` names a registered denoiser (:mod:`ganforge.nets.time_unet`), the only trained
  network, under the optimiser name ``"g"`` (``g_opt``). It is ``self.G``, so the EMA of the loop
  (``ema_decay``) averages it and sampling uses the averaged weights, as for the GAN families.
- Training step: :meth:`g_step` is one optimiser step on the family's loss (:meth:`loss`), the gradient norm
  clipped at ``options.grad_clip`` (Ho et al. 2020 clip at 1); :meth:`d_step` does nothing (the VAE's way
  of using the generic loop).
- Latents: the start noise x (N, C*H*W), flattened so that the shared sampling code (grids, ``ganforge
  sample``, seeds, chunks) drives the family unchanged. A family whose samplers may draw fresh noise on the
  way (``ddpm``: ancestral sampling, DDIM with eta > 0) has one more column, an N(0, 1) draw whose 32 bits
  seed that image's own noise generator (:class:`ImageNoise`): an image depends on its latent alone, never
  on the chunk it is sampled in or on the global random state.
- Class conditioning (``options.class_cond``): while training each label is replaced by the null class with
  probability ``p_uncond``; sampling with guidance weight w > 0 uses (1 + w) f(x, y) - w f(x, null) (Ho and
  Salimans 2021, "Classifier-Free Diffusion Guidance", eq. 6, on the network output: noise or velocity), two
  network evaluations per step (one batch of twice the size).
- Sampler settings: the model's defaults (``options.sampler``, ``sample_steps``, ...) can be overridden when
  sampling (:meth:`sampling`, ``ganforge sample --steps N``), which also yields the number of network
  evaluations per image.

The ``model`` fields of the adversarial families (discriminator, loss, D heuristics) and of the latent
(encoder, ``z_dist``, ``z_scale``) are refused; ``z_dim`` is not read (the latent has the image's size).
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Iterator, Optional

import torch
from torch import nn

from ..errors import GanforgeError
from ..nets import NetShape, build_from_spec, make_args
from ..nets.time_unet import DENOISERS
from ..registry import Registry
from .base import D_HEURISTIC_FIELDS, LOGIT_D_FIELDS, Batch, Family, SamplerRequest

#: f(x, net_time) -> network output of x's shape: the (guided) denoiser a sampler integrates
NetFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Sampler:
    """A registered sampler: ``run`` (its signature is the family's), network evaluations per step, and
    whether it reads DDIM's ``eta``."""

    run: Callable
    evaluations_per_step: int = 1
    takes_eta: bool = False


@dataclass(frozen=True)
class SamplerSettings:
    sampler: str
    steps: int
    eta: float
    guidance: float


class ImageNoise:
    """Fresh N(0, I) draws of shape (N, *shape) for a batch, each image's from its own generator."""

    def __init__(self, seeds: list[int], shape: tuple[int, ...], device: torch.device) -> None:
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.shape, self.device = shape, device

    def __call__(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.shape, generator=g) for g in self.generators]).to(self.device)


class IterativeFamily(Family, abc.ABC):
    """Base of ``ddpm`` and ``flow``: subclasses set ``samplers``, ``seed_columns`` and implement
    :meth:`loss` and :meth:`integrate`."""

    out_range = "pm1"
    iterative = True
    #: fast with any allocator: under glibc's default thresholds a 500-image chunk's activations (over 32 MB)
    #: are re-mapped at every layer (flow-fashion U-Net, one thread: 445 image-evaluations/s at 128, 289 at
    #: 500); with the CLI's setting (ganforge.allocator) 128 and 500 run alike (594 and 635;
    #: benchmarks/sampling_speed.py, with and without --system-malloc)
    sample_chunk = 128
    unused_fields = ("discriminator", "encoder", "z_dist", "z_scale") + LOGIT_D_FIELDS + D_HEURISTIC_FIELDS
    neutral_values = MappingProxyType({"discriminator": {}})
    #: the family's samplers, by name
    samplers: Registry[Sampler]
    #: latent columns after the image: 1 when a sampler may draw fresh noise (the per-image seed)
    seed_columns = 0

    @dataclass
    class Args:
        class_cond: bool = False   # condition on the class; trained with a null class for guidance
        p_uncond: float = 0.1      # probability that a training label is replaced by the null class
        guidance: float = 0.0      # classifier-free guidance weight w at sampling (0: none)
        sampler: str = ""          # the family's default sampler (set by each family)
        sample_steps: int = 50     # its number of steps
        grad_clip: float = 1.0     # clip the gradient norm (0: off)

    def __init__(self, cfg, shape: NetShape) -> None:
        super().__init__(cfg, shape)
        self.args = args = make_args(type(self), cfg.options, typed=True)
        self.conditional = args.class_cond
        if self.conditional and shape.num_classes < 2:
            raise GanforgeError(f"model.options.class_cond needs labelled data (the dataset has "
                                f"{shape.num_classes} classes)")
        self._check_args(args)
        net_shape = NetShape(shape.channels, shape.image_size, shape.z_dim, shape.num_classes * self.conditional)
        self.G = build_from_spec(DENOISERS, cfg.generator, net_shape, "generator")
        self.settings = self.resolve(SamplerRequest())

    def _check_args(self, args) -> None:
        if not 0.0 <= args.p_uncond < 1.0:
            raise GanforgeError(f"model.options.p_uncond must be in [0, 1), got {args.p_uncond}")
        if not args.grad_clip >= 0:
            raise GanforgeError(f"model.options.grad_clip must be >= 0 (0: off), got {args.grad_clip}")

    # ---- training
    def trainable(self) -> dict[str, nn.Module]:
        return {"g": self.G}

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        return {}

    @abc.abstractmethod
    def loss(self, net: nn.Module, x: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """The family's regression loss (a scalar, fp32) for data x (N, C, H, W) in [-1, 1]."""

    def training_labels(self, labels: torch.Tensor) -> Optional[torch.Tensor]:
        """The labels the network sees: each replaced by the null class K with probability ``p_uncond``."""
        if not self.conditional:
            return None
        drop = torch.rand(labels.shape, device=labels.device) < self.args.p_uncond
        return torch.where(drop, torch.full_like(labels, self.shape.num_classes), labels)

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """One optimiser step on :meth:`loss`, the gradient norm clipped at ``grad_clip``."""
        labels = self.training_labels(batch.labels)
        with self.autocast():
            loss = self.loss(self.net("g"), batch.images, labels)
        opts["g"].zero_grad(set_to_none=True)
        loss.backward()
        stats = {"loss_g": loss.detach()}
        if self.args.grad_clip > 0:
            stats["grad_norm"] = nn.utils.clip_grad_norm_(self.G.parameters(), self.args.grad_clip)
        opts["g"].step()
        return stats

    # ---- sampling
    def sample_latent(self, n: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """N(0, I) of shape (n, C*H*W + seed_columns): the start noise, then the per-image noise seed."""
        device = device if device is not None else next(self.G.parameters()).device
        s = self.shape
        return torch.randn((n, s.channels * s.image_size ** 2 + self.seed_columns), generator=generator,
                           device=device)

    def start(self, z: torch.Tensor) -> tuple[torch.Tensor, Optional[ImageNoise]]:
        """A latent (N, C*H*W [+ 1]) as the start noise (N, C, H, W) and, with a seed column, the images'
        noise generators (seeded by the 32 bits of that float)."""
        s = self.shape
        pixels = s.channels * s.image_size ** 2
        x = z[:, :pixels].reshape(-1, s.channels, s.image_size, s.image_size)
        if not self.seed_columns:
            return x, None
        bits = z[:, pixels].float().contiguous().view(torch.int32).cpu().to(torch.int64) & 0xFFFFFFFF
        return x, ImageNoise(bits.tolist(), tuple(x.shape[1:]), x.device)

    def guided(self, g: nn.Module, labels: Optional[torch.Tensor], w: float) -> NetFn:
        """The network as f(x, net_time), with classifier-free guidance (1 + w) f(x, y) - w f(x, null)."""
        if not self.conditional:
            return lambda x, time: g(x, time, None)
        if w == 0:
            return lambda x, time: g(x, time, labels)
        null = torch.full_like(labels, self.shape.num_classes)

        def f(x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
            cond, uncond = g(torch.cat([x, x]), torch.cat([time, time]), torch.cat([labels, null])).chunk(2)
            return (1.0 + w) * cond - w * uncond

        return f

    @abc.abstractmethod
    def integrate(self, f: NetFn, x: torch.Tensor, noise: Optional[ImageNoise]) -> torch.Tensor:
        """Run the current sampler (``self.settings``) from start noise x with the network f; images in [-1, 1]."""

    def run_generator(self, g: nn.Module, z: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        x, noise = self.start(z)
        return self.integrate(self.guided(g, labels, self.settings.guidance), x, noise)

    # ---- sampler settings
    def resolve(self, request: SamplerRequest) -> SamplerSettings:
        """The model's sampler settings with ``request``'s given ones, checked."""
        a = self.args
        default = SamplerSettings(a.sampler, a.sample_steps, getattr(a, "eta", 0.0), a.guidance)
        settings = dataclasses.replace(default, **{k: v for k, v in vars(request).items() if v is not None})
        sampler = self.samplers.get(settings.sampler)
        if request.eta is not None and not sampler.takes_eta:
            raise GanforgeError(f"eta: the {self.cfg.family} sampler {settings.sampler!r} has no eta")
        if not (isinstance(settings.steps, int) and 1 <= settings.steps <= self.max_steps()):
            raise GanforgeError(f"steps must be a whole number in 1..{self.max_steps()}, got {settings.steps}")
        if not settings.eta >= 0:
            raise GanforgeError(f"eta must be >= 0, got {settings.eta}")
        if not settings.guidance >= 0 or (settings.guidance and not self.conditional):
            raise GanforgeError(f"guidance must be >= 0 and needs a class-conditional model "
                                f"(model.options.class_cond), got {settings.guidance}")
        return settings

    def max_steps(self) -> int:
        return 100_000

    def record(self, settings: SamplerSettings) -> dict:
        """What a sampling run does: sampler, steps, eta (if read), guidance and network evaluations per image."""
        sampler = self.samplers.get(settings.sampler)
        guided = 2 if self.conditional and settings.guidance else 1
        out = {"sampler": settings.sampler, "steps": settings.steps}
        if sampler.takes_eta:
            out["eta"] = settings.eta
        if self.conditional:
            out["guidance"] = settings.guidance
        out["nfe_per_image"] = settings.steps * sampler.evaluations_per_step * guided
        return out

    @contextlib.contextmanager
    def sampling(self, request: SamplerRequest | None = None) -> Iterator[dict]:
        saved, self.settings = self.settings, self.resolve(request or SamplerRequest())
        try:
            yield self.record(self.settings)
        finally:
            self.settings = saved
