"""The model-family interface the generic training loop drives.

A family (plain GAN, conditional GAN, VAE, ...) owns its networks and losses and exposes two short update
methods, ``d_step`` and ``g_step``, each doing one optimiser update and returning a dict of scalar tensors
to log (pythae's ``ModelOutput`` idea: the loop never looks inside). The loop supplies the autocast context
and, under DDP, wraps the trainable networks via :meth:`Family.wrap`; families call networks through
:meth:`Family.net` so the same code runs plain or distributed.
"""
from __future__ import annotations

import abc
import contextlib
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, ContextManager, Iterable, Iterator, Mapping, Optional

import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ..config import CHOICES, ModelConfig, OptimConfig
from ..errors import GanforgeError
from ..nets import NetShape, build_from_spec, make_args
from ..registry import Registry


#: ModelConfig fields of the GAN family's real/fake discriminator: its adversarial loss and D switches
LOGIT_D_FIELDS = ("loss", "loss_options", "spectral_norm", "freeze_d_layers")
#: ModelConfig fields of the GAN family's training heuristics on what D sees (targets, instance noise)
D_HEURISTIC_FIELDS = ("label_smoothing", "noisy_labels", "noisy_labels_range", "instance_noise",
                      "instance_noise_steps")


@dataclass(frozen=True)
class SamplerRequest:
    """Sampler settings asked for at sampling time (``ganforge sample --steps N``); None keeps the model's
    own. Only iterative families (``ddpm``, ``flow``) have them: ``sampler`` names one of the family's
    samplers, ``steps`` its number of steps, ``eta`` DDIM's stochasticity, ``guidance`` the classifier-free
    guidance weight w."""

    sampler: Optional[str] = None
    steps: Optional[int] = None
    eta: Optional[float] = None
    guidance: Optional[float] = None


@dataclass
class Batch:
    """A batch of real data: images as floats in the generator's range, and int64 labels; for a paired
    image-to-image family (pix2pix) also the conditioning ``inputs`` of which ``images`` are the targets; for
    an unpaired one (CycleGAN) also a batch of the second domain, ``unpaired``, drawn independently of
    ``images``."""

    images: torch.Tensor  # (N, C, H, W)
    labels: torch.Tensor  # (N,)
    inputs: Optional[torch.Tensor] = None  # (N, C, H, W) in the generator's range, or None
    unpaired: Optional[torch.Tensor] = None  # (M, C, H, W) images of the second domain (``data_target``), or None


class Family(nn.Module, abc.ABC):
    """Base class of model families. Subclasses set ``self.G`` (the sampler) in ``__init__``.

    A family's own settings (``model.options`` in config) are the fields of its nested ``Args`` dataclass;
    a key the family does not have is an error, and so is a ModelConfig field the family does not use
    (``unused_fields``) set to anything but its neutral value. ``self.step`` is set by the training loop
    before each step.
    """

    out_range: str = "pm1"
    conditional: bool = False
    likelihood: str = ""  # "bernoulli" when the generator's outputs are pixel probabilities (VAE)
    #: True when the generator modifies given images (ModNet): the loop and ``load`` call :meth:`set_sources`
    needs_sources: bool = False
    #: True for an unpaired image-to-image family (CycleGAN): the loop also feeds batches of the run's
    #: ``data_target`` (``Batch.unpaired``), and the loop and ``load`` call :meth:`set_unpaired_sources`
    unpaired: bool = False
    #: True when images come from many network evaluations (ddpm, flow), not one pass of ``G`` on a latent
    iterative: bool = False
    #: images per chunk when sampling many (``generate_uint8``: sampling, eval, pictures); the results do not
    #: depend on it, only the speed does
    sample_chunk: int = 500
    #: ModelConfig fields this family ignores; each must keep its neutral value (checked in ``__init__``)
    unused_fields: tuple[str, ...] = ()
    #: neutral values that differ from ModelConfig's defaults (the VAE's ``discriminator`` is ``{}``)
    neutral_values: Mapping[str, Any] = MappingProxyType({})

    @dataclass
    class Args:
        pass

    def __init__(self, cfg: ModelConfig, shape: NetShape) -> None:
        super().__init__()
        refuse_unused_fields(type(self), cfg)
        self.cfg = cfg
        self.shape = shape
        self.args = make_args(type(self), cfg.options)
        self.step = 0
        if self.conditional and shape.num_classes < 2:
            raise GanforgeError(f"model family {cfg.family!r} is conditional and needs labelled data "
                                f"(the dataset has {shape.num_classes} classes)")
        self.g_ema: Optional[AveragedModel] = None
        self.ema_bn = "standing"
        self.autocast: Callable[[], ContextManager] = contextlib.nullcontext
        self.distributed = False
        self._runners: dict[str, nn.Module] = {}

    # ---- hooks the loop calls
    @abc.abstractmethod
    def trainable(self) -> dict[str, nn.Module]:
        """Networks with their own optimiser, by optimiser name (e.g. {"g": G, "d": D})."""

    def build_optimizers(self, configs: dict[str, OptimConfig], builder) -> dict[str, torch.optim.Optimizer]:
        return {name: builder(net.parameters(), configs[name]) for name, net in self.trainable().items()}

    @abc.abstractmethod
    def d_step(self, batch: Batch, opts: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        """One discriminator (critic) update; returns scalars to log."""

    @abc.abstractmethod
    def g_step(self, batch: Batch, opts: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        """One generator update; returns scalars to log."""

    #: where the run reads its datasets (``cfg.data_root``; set by the training loop before
    #: :meth:`init_from_data`), for a family that reads data itself, e.g. ModNet training its classifier
    data_root: Optional[str] = None

    def init_from_data(self, mean_image: torch.Tensor) -> None:
        """Data-dependent initialisation (mean image in the output range); default: nothing."""

    def set_sources(self, images: torch.Tensor) -> None:
        """uint8 images (M, C, H, W) an image-modifying family samples from (``needs_sources``); default: unused."""

    def set_unpaired_sources(self, images: torch.Tensor) -> None:
        """uint8 images (M, C, H, W) of the second domain an unpaired family samples from; default: unused."""

    def paired_inputs(self, images: torch.Tensor) -> Optional[torch.Tensor]:
        """For a paired image-to-image family (pix2pix): the uint8 conditioning image (M, C, H, W) of each of
        the uint8 target images (M, C, H, W), image i with index i; the loop feeds them as ``Batch.inputs``.
        Default: None (the family trains on images alone)."""
        return None

    def grid_layout(self, n: int) -> tuple[int, int]:
        """For ``ganforge sample``'s PNG of about ``n`` images from an image-modifying family: how many latents
        (source images) it shows and the ``cols`` handed to :meth:`grid_images`; by default n and a square."""
        return n, int(math.ceil(math.sqrt(n)))

    def grid_images(self, z: torch.Tensor, labels: Optional[torch.Tensor], cols: int,
                    use_ema: bool = True) -> tuple[torch.Tensor, int]:
        """The progress grid for fixed latents ``z`` (and labels): uint8 images (N, C, H, W) and the row
        length; by default the samples themselves, ``cols`` per row."""
        return generate_uint8(self, z, labels, use_ema=use_ema), cols

    def heldout_stats(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Statistics on held-out data (the test split) logged every ``eval_every`` steps; default: none.

        The VAE logs its test-set ELBO here (Skliar's report, Fig. 1)."""
        return {}

    def wrap(self, wrapper: Callable[[nn.Module], nn.Module]) -> None:
        """Route calls to the trainable networks through ``wrapper`` (e.g. DistributedDataParallel)."""
        self._runners = {name: wrapper(net) for name, net in self.trainable().items()}
        self.distributed = True

    def net(self, name: str) -> nn.Module:
        return self._runners[name] if name in self._runners else self.trainable()[name]

    def held_networks(self) -> dict[str, nn.Module]:
        """The discriminators :meth:`d_held` holds, by the name :meth:`net` knows them by: D by default
        (CycleGAN holds its two)."""
        return {"d": self.D}

    @contextlib.contextmanager
    def d_held(self) -> Iterator[None]:
        """For a generator update through D: D's weights receive no update and no all-reduce.

        In one process D's trainable parameters are frozen (their weight gradients are not even computed;
        layers frozen by config stay frozen afterwards). Under DDP they keep requires_grad (DDP registered
        its hooks for them when wrapping) and the backward runs inside D's ``no_sync``: their gradients stay
        local and the next D update's ``zero_grad`` discards them. Gradients flow through D into G either way.
        Every network of :meth:`held_networks` is held alike.
        """
        nets = self.held_networks()
        trainable = [p for net in nets.values() for p in net.parameters() if p.requires_grad]
        if not self.distributed:
            for p in trainable:
                p.requires_grad_(False)
        try:
            with contextlib.ExitStack() as stack:
                for name in nets:
                    no_sync = getattr(self.net(name), "no_sync", None)
                    if no_sync is not None:
                        stack.enter_context(no_sync())
                yield
        finally:
            for p in trainable:
                p.requires_grad_(True)

    # ---- EMA of the generator (Yazici et al. 2019); torch's AveragedModel, buffers averaged too
    def enable_ema(self, decay: float, ema_bn: str = "standing") -> None:
        """Keep an EMA of G's weights. ``ema_bn`` says which batch-norm statistics the EMA generator uses:
        ``"standing"`` (recomputed for its own weights by :meth:`refresh_ema_bn`) or ``"averaged"`` (the EMA
        of the live network's running statistics, which belong to other weights)."""
        if ema_bn not in CHOICES["ema_bn"]:
            raise GanforgeError(f"ema_bn={ema_bn!r} is not one of: {', '.join(CHOICES['ema_bn'])}")
        # standing: only the weights are averaged; the statistics are recomputed for them, never fed back
        self.g_ema = AveragedModel(self.G, multi_avg_fn=ema_with_warmup(decay), use_buffers=ema_bn == "averaged")
        self.g_ema.requires_grad_(False)
        self.ema_bn = ema_bn

    @torch.no_grad()
    def refresh_ema_bn(self, step: int, batch_size: int, batches: int = 16, seed: int = 0) -> None:
        """Standing statistics: recompute the EMA generator's batch-norm running mean and variance for its own
        weights ("Large Scale GAN Training for High Fidelity Natural Image Synthesis", Brock et al. 2019).

        Runs ``batches`` batches of ``batch_size`` fresh latents through the EMA generator in train mode with
        cumulative averaging (BN momentum None), so each running mean (variance) is the mean of the batch means
        (unbiased batch variances). The latents come from a generator of their own seeded from ``seed`` and
        ``step``, and the global RNG state is restored, so training's random stream never moves; conditional
        families use the balanced labels i mod K. Nothing happens without an EMA, with ``ema_bn="averaged"``
        or when G has no batch norm.
        """
        norms = batch_norms(self.g_ema.module) if self.g_ema is not None else []
        if not norms or self.ema_bn != "standing":
            return
        g = self.g_ema.module
        device = next(g.parameters()).device
        draw = torch.Generator().manual_seed(standing_seed(seed, step))
        momenta, was_training = [m.momentum for m in norms], g.training
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        g.train()
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                for _ in range(batches):
                    z = self.sample_latent(batch_size, draw, device="cpu").to(device)
                    labels = torch.arange(batch_size, device=device) % self.shape.num_classes \
                        if self.conditional else None
                    self.run_generator(g, z, labels)
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            g.train(was_training)

    def update_ema(self) -> None:
        if self.g_ema is not None:
            self.g_ema.update_parameters(self.G)

    def sampler(self, use_ema: bool = True) -> nn.Module:
        return self.g_ema.module if (use_ema and self.g_ema is not None) else self.G

    # ---- sampling
    def sampling(self, request: "SamplerRequest | None" = None) -> ContextManager[dict]:
        """A context in which :meth:`generate` uses the sampler settings of ``request``, yielding the record
        of what it runs: ``nfe_per_image``, the network evaluations per image (and, for iterative families,
        the sampler, steps, eta and guidance). One generator pass here: settings are refused, since a
        one-pass family has no sampler to set (the iterative families ``ddpm`` and ``flow`` override this)."""
        given = [name for name, value in vars(request or SamplerRequest()).items() if value is not None]
        if given:
            raise GanforgeError(f"{given[0]}: model family {self.cfg.family!r} draws each image in one network "
                                f"evaluation and has no sampler settings (the iterative families ddpm and flow do)")
        return contextlib.nullcontext({"nfe_per_image": 1})

    def sample_latent(self, n: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """z ~ N(0, I) or uniform(-z_scale, z_scale)^z_dim, shape (n, z_dim), on ``device`` (default: G's)."""
        device = device if device is not None else next(self.G.parameters()).device
        shape = (n, self.cfg.z_dim)
        if self.cfg.z_dist == "uniform":
            u = torch.rand(shape, generator=generator, device=device)
            return (2.0 * u - 1.0) * self.cfg.z_scale
        return torch.randn(shape, generator=generator, device=device) * self.cfg.z_scale

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Generator output -> [0, 1]; a generator of unbounded values (``"real"``, toy data) makes no images."""
        if self.out_range not in ("pm1", "01"):
            raise GanforgeError(f"this generator's outputs ({self.out_range!r}) are not images")
        return (x + 1.0) / 2.0 if self.out_range == "pm1" else x

    def from_uint8(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images -> floats in the generator's output range."""
        x = x.float() / 255.0
        return x * 2.0 - 1.0 if self.out_range == "pm1" else x

    def run_generator(self, g: nn.Module, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Call the generator ``g``; conditional families pass the labels too."""
        return g(z, labels) if self.conditional else g(z)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, use_ema: bool = True,
                 draw: torch.Generator | None = None) -> torch.Tensor:
        """Images in [0, 1] for latents z (and labels, for conditional families), in eval mode (batch norm
        uses running statistics).

        With ``draw`` (a random generator) a family with a Bernoulli likelihood (the VAE) returns binary
        draws from the pixel distribution instead of its means (Skliar's report, Figs. 2-5)."""
        if self.conditional and labels is None:
            raise GanforgeError(f"model family {self.cfg.family!r} is conditional: sampling needs labels")
        if draw is not None and self.likelihood != "bernoulli":
            raise GanforgeError(f"model family {self.cfg.family!r} has no pixel likelihood to draw from")
        g = self.sampler(use_ema)
        was_training = g.training
        g.eval()
        try:
            x = self.to_unit(self.run_generator(g, z, labels).float()).clamp(0.0, 1.0)
        finally:
            g.train(was_training)
        return torch.bernoulli(x.cpu(), generator=draw).to(x.device) if draw is not None else x


class WrappedPerPhase(abc.ABC):
    """Mixin (before the family class) for families whose training phases leave parameters without gradients
    (ProGAN's growth stages, pix2pixHD's global/local/joint phases). Under torchrun the trainable networks are
    wrapped anew once per phase, DistributedDataParallel ignoring the parameters the phase does not train
    (``_ddp_params_and_buffers_to_ignore``, the attribute its constructor reads: what
    ``DistributedDataParallel._set_params_and_buffers_to_ignore_for_model`` sets); in one process they are
    wrapped once, as every family's. A family defines :meth:`phase_now` and :meth:`idle_parameters` and calls
    :meth:`wrap_for_phase` when a step starts; a resumed run is wrapped for the phase it resumes in."""

    _wrapper: Optional[Callable[[nn.Module], nn.Module]] = None
    _wrapped_phase: Optional[int] = None

    @abc.abstractmethod
    def phase_now(self) -> int:
        """The phase of the step being taken (of the next one, between steps)."""

    @abc.abstractmethod
    def idle_parameters(self) -> dict[nn.Module, set[str]]:
        """For each trainable network, the names of its parameters the current phase gives no gradient."""

    def wrap(self, wrapper: Callable[[nn.Module], nn.Module]) -> None:
        if world_size() == 1:
            super().wrap(wrapper)  # type: ignore[misc]
            return
        self._wrapper, self._wrapped_phase = wrapper, None
        self.distributed = True
        self.wrap_for_phase()

    def wrap_for_phase(self) -> None:
        """Under torchrun, wrap the trainable networks for the current phase unless they already are."""
        phase = self.phase_now()
        if self._wrapper is None or phase == self._wrapped_phase:
            return
        for net, names in self.idle_parameters().items():
            net._ddp_params_and_buffers_to_ignore = sorted(names)
        self._runners = {name: self._wrapper(net) for name, net in self.trainable().items()}  # type: ignore[attr-defined]
        self._wrapped_phase = phase


def world_size() -> int:
    """Processes sharing the global batch (1 outside torchrun)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The batch-norm layers of ``module`` that keep running statistics."""
    return [m for m in module.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def standing_seed(seed: int, step: int) -> int:
    """The seed of the latents for the standing statistics at ``step`` of a run with ``seed``: its own stream,
    the same on every process and after a resume."""
    return (seed * 1_000_003 + step + 0x5EED) % (2 ** 63)


def refuse_unused_fields(family: type[Family], cfg: ModelConfig) -> None:
    """A one-line error for the first field of ``family.unused_fields`` that ``cfg`` sets to a value other than
    its neutral one (``family.neutral_values``, else the ModelConfig default): a setting the family would
    silently ignore is a mistake in the config, not a no-op."""
    defaults = ModelConfig()
    for name in family.unused_fields:
        neutral = family.neutral_values.get(name, getattr(defaults, name))
        value = getattr(cfg, name)
        if value != neutral:
            raise GanforgeError(f"model.{name}={value!r} is not used by family {cfg.family!r} "
                                f"(expected {neutral!r}); remove it")


def ema_with_warmup(decay: float):
    """EMA update with TensorFlow's ``num_updates`` warm-up: decay_t = min(decay, (1 + t) / (10 + t)).

    Without the warm-up an EMA with decay 0.999 is still mostly the random initial weights for the first
    thousand steps. Integer buffers (BatchNorm's ``num_batches_tracked``) are copied, not averaged.
    """

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():
            torch._foreach_copy_(averaged, current)
            return
        t = float(num_averaged)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1.0 + t) / (10.0 + t)))

    return update


FAMILIES: Registry[type[Family]] = Registry("model family", base=Family)


def build_fitting(registry: Registry, spec: Mapping[str, Any], shape: NetShape, key: str,
                  fits: Callable[[nn.Module], bool], problem: str) -> nn.Module:
    """The network of config section ``model.<key>`` (``spec``) built for ``shape``, checked to fit the family
    that builds it: when ``fits(net)`` is false, the one-line error ``model.<key> 'NAME' <problem>``, where
    ``problem`` may name the network's ``{kind}`` (e.g. "is a {kind} discriminator; family 'x' needs ...")."""
    net = build_from_spec(registry, spec, shape, key)
    if not fits(net):
        raise GanforgeError(f"model.{key} {spec.get('name')!r} {problem.format(kind=getattr(net, 'kind', ''))}")
    return net


@torch.no_grad()
def apply_in_eval(net: nn.Module, *inputs: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    """``net(*inputs)`` over chunks of ``chunk`` rows in eval mode (no dropout, running batch-norm statistics;
    the net's mode is restored after), as floats on the CPU; a clone of the first input when it is empty. The
    image-to-image families' translate/modify."""
    device, was_training = next(net.parameters()).device, net.training
    net.eval()
    try:
        out = [net(*(t[i:i + chunk].to(device) for t in inputs)).float().cpu()
               for i in range(0, len(inputs[0]), chunk)]
    finally:
        net.train(was_training)
    return torch.cat(out) if out else inputs[0].clone()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats -> uint8 with rounding (as torchvision.utils.save_image)."""
    return x.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def generate_uint8(family: Family, z: torch.Tensor, labels: torch.Tensor | None = None, use_ema: bool = True,
                   draw: torch.Generator | None = None, chunk: int | None = None) -> torch.Tensor:
    """``family.generate`` over latents z (N, D) in chunks of ``chunk``, as uint8 (N, C, H, W) on the CPU.

    The one way every caller (sampling, evaluation during training, the pictures) turns latents into
    images: the chunks run on the family's device and the result does not depend on ``chunk`` (default: the
    family's ``sample_chunk``)."""
    device, chunk = next(family.parameters()).device, chunk or family.sample_chunk
    out = []
    for start in range(0, len(z), chunk):
        lab = None if labels is None else labels[start:start + chunk].to(device)
        images = family.generate(z[start:start + chunk].to(device), lab, use_ema=use_ema, draw=draw)
        out.append(to_uint8(images).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8)
