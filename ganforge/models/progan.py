"""Progressive growing: Karras, Aila, Laine and Lehtinen 2018, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation" (ICLR 2018).

A GAN (``ganforge.models.gan``) whose networks (``progan-g``/``progan-d``, :mod:`ganforge.nets.progan`) are
called at the current stage and fade-in alpha. The schedule is counted in real images shown to D (section 3,
appendix A: 600k images fading in a new resolution, then 600k stabilising it; ``fade_images`` and
``stable_images`` here): the lowest resolution trains for ``stable_images``, then every further stage fades in
over ``fade_images`` (alpha rising linearly from 0 to 1) and stabilises for ``stable_images``; the last stage then
trains for the rest of the run.

The count is a buffer of the family (``images_seen``, in every checkpoint), and the stage and alpha are pure
functions of it, so a run resumed anywhere -- mid-fade included -- continues bit for bit, and a loaded model
samples at the stage it was saved in. Every stage's layers exist from the start and only the active ones run,
so the optimisers hold the same parameters throughout. Like the authors' released code
(``reset_opt_for_new_lod``), both optimisers' state (Adam moments and step counts) is cleared whenever a phase
begins (``reset_optimizers``), again decided by the count alone.

The paper's WGAN-GP critic loss with the drift term is the ``wgan-gp`` loss with ``drift: 0.001``. Real
images are shown at the current resolution, blended with their half-resolution version during a fade.

Under torchrun the count is of the global batch (every process adds the images of all of them), so the schedule
is the same in images, and the stage the same on every process. DistributedDataParallel as the loop builds it
expects a gradient for every parameter it manages, and the layers of the stages not in use get none, so each
network is wrapped for the current phase only: DDP ignores the parameters that phase leaves out
(:meth:`~ganforge.nets.progan.Progressive.unused_parameter_names`), and when a phase begins -- on every process
at the same step, since the phase is a function of the count -- G and D are wrapped anew
(:class:`~.base.WrappedPerPhase`). ``find_unused_parameters=True`` would also run, but it walks the autograd graph after
every forward, all-reduces the idle layers' zero slots with the rest, and, because the generator update runs
inside D's ``no_sync`` (DDP's map of used parameters spans a ``no_sync`` session), counts a layer that update
used as used by the next D update too: the first D update of a stable phase would give the previous stage's
fromRGB layer a zero gradient where one process gives it none (with ``reset_optimizers=false``, an Adam step from
its old moments). Here the idle layers stay outside DDP, untouched as in one process.
With ``compile`` the networks are recompiled as alpha changes (it is a Python number), which buys nothing.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from ..nets.progan import Progressive
from ..nets.progressive import reals_at
from .base import FAMILIES, Batch, WrappedPerPhase, world_size
from .gan import GAN


@dataclass(frozen=True)
class Growth:
    """Where the schedule is: the active ``stage`` (0 = lowest resolution), its fade-in ``alpha`` (1 when
    stable) and the ``phase`` number (0: stage 0 stable, 2s - 1: fading in stage s, 2s: stage s stable)."""

    stage: int
    alpha: float
    phase: int

    @property
    def fading(self) -> bool:
        return self.phase % 2 == 1


def growth_at(images: int, stages: int, fade_images: int, stable_images: int) -> Growth:
    """The stage, alpha and phase after ``images`` real images (Karras et al. 2018, section 3 and appendix A).

    Stage 0 trains for ``stable_images``; stage s >= 1 then fades in over ``fade_images`` with
    alpha = (images into the fade) / fade_images, and is stable for ``stable_images``; the last stage stays."""
    if images < stable_images or stages == 1:
        return Growth(0, 1.0, 0)
    period = fade_images + stable_images
    k, into = divmod(images - stable_images, period)
    if k >= stages - 1:
        return Growth(stages - 1, 1.0, 2 * (stages - 1))
    if into < fade_images:
        return Growth(k + 1, into / fade_images, 2 * k + 1)
    return Growth(k + 1, 1.0, 2 * k + 2)


class AtStage(nn.Module):
    """A progressive critic as a one-argument network at a fixed stage and alpha (for gradient penalties)."""

    def __init__(self, d: nn.Module, stage: int, alpha: float) -> None:
        super().__init__()
        self.d, self.stage, self.alpha = d, stage, alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.d(x, self.stage, self.alpha)


def _whole(name: str, value, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise GanforgeError(f"model.options.{name} of family 'progan' must be a whole number of images >= {low}, "
                            f"got {value!r}")


@FAMILIES.register("progan")
class ProGAN(WrappedPerPhase, GAN):
    """G and D grown stage by stage with fade-in (Karras et al. 2018), trained with ``cfg.loss``."""

    @dataclass
    class Args:
        fade_images: int = 600_000  # real images over which a new stage fades in (appendix A: 600k)
        stable_images: int = 600_000  # real images a stage trains after its fade (appendix A: 600k)
        reset_optimizers: bool = True  # clear Adam's state when a phase begins (the authors' code)

        def __post_init__(self) -> None:
            _whole("fade_images", self.fade_images, 0)
            _whole("stable_images", self.stable_images, 1)
            if not isinstance(self.reset_optimizers, bool):
                raise GanforgeError(f"model.options.reset_optimizers of family 'progan' must be true or false, "
                                    f"got {self.reset_optimizers!r}")

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.int64))  # real images shown to D

    def _check_nets(self, cfg) -> None:
        for key, net in (("generator", self.G), ("discriminator", self.D)):
            if not isinstance(net, Progressive):
                raise GanforgeError(f"model.{key} {getattr(cfg, key).get('name')!r} does not grow; family 'progan' "
                                    f"needs progan-g and progan-d")
        if self.G.resolutions != self.D.resolutions:
            raise GanforgeError(f"model.generator grows through {self.G.resolutions} px but model.discriminator "
                                f"through {self.D.resolutions} px; give both the same number of channels entries")
        super()._check_nets(cfg)

    def phase_now(self) -> int:
        return self.growth().phase

    def idle_parameters(self) -> dict[nn.Module, set[str]]:
        """The layers of the stages a call at the current stage and alpha does not use, in G and in D."""
        growth = self.growth()
        return {net: net.unused_parameter_names(growth.stage, growth.alpha) for net in (self.G, self.D)}

    # ---- the schedule
    def growth(self) -> Growth:
        """The stage and alpha at the current count of real images."""
        return growth_at(int(self.images_seen), self.G.stages, self.args.fade_images, self.args.stable_images)

    def growth_stats(self, g: Growth) -> dict[str, torch.Tensor]:
        """Logged every step (means over a log interval): stage, alpha, resolution and thousands of images."""
        return {"growth_stage": torch.tensor(float(g.stage)), "growth_alpha": torch.tensor(g.alpha),
                "growth_resolution": torch.tensor(float(self.G.resolutions[g.stage])),
                "growth_kimg": torch.tensor(int(self.images_seen) / 1000.0)}

    @contextlib.contextmanager
    def sampling(self, request=None):
        """One generator pass, as every one-pass family (sampler settings are refused); the record also says
        which stage the samples come from, so an eval record of a checkpoint taken mid-growth shows it."""
        with super().sampling(request) as record:
            g = self.growth()
            yield {**record, "growth": {"stage": g.stage, "alpha": g.alpha, "resolution": self.G.resolutions[g.stage],
                                        "images_seen": int(self.images_seen)}}

    # ---- the GAN family's hooks, at the current stage
    def run_generator(self, g: nn.Module, z: torch.Tensor, labels) -> torch.Tensor:
        growth = self.growth()
        return g(z, growth.stage, growth.alpha)  # (N, C, H, W) at any stage

    def discriminate(self, x: torch.Tensor, labels) -> tuple[torch.Tensor, object]:
        growth = self.growth()
        return self.net("d")(x, growth.stage, growth.alpha), None

    def critic(self, labels) -> nn.Module:
        growth = self.growth()
        return AtStage(self.net("d"), growth.stage, growth.alpha)

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """Count this batch (of every process), clear the optimisers when it starts a phase (and, under torchrun,
        wrap the networks for it), show D the reals at the current stage (blended while fading) and run the GAN's D
        update."""
        before = self.growth()
        self.images_seen += batch.images.shape[0] * world_size()
        now = self.growth()
        if now.phase != before.phase and self.args.reset_optimizers:
            for opt in opts.values():
                opt.state.clear()
        self.wrap_for_phase()
        factor = self.G.resolutions[-1] // self.G.resolutions[now.stage]
        reals = Batch(reals_at(batch.images, factor, now.alpha), batch.labels, batch.inputs)
        return {**super().d_step(reals, opts), **self.growth_stats(now)}
