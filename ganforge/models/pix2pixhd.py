"""pix2pixHD (Wang, Liu, Zhu, Tao, Kautz and Catanzaro 2018, "High-Resolution Image Synthesis and Semantic
Manipulation with Conditional GANs"): pix2pix with a coarse-to-fine generator, multi-scale discriminators and a
feature-matching loss, at CPU scale (28 px Fashion-MNIST, 32 px user data).

- Pairs: as pix2pix (:class:`~.pix2pix.TaskPairedFamily`): ``options.task`` names a pair task of
  :mod:`ganforge.data.pairs` (``edges:0.25`` in the preset, in place of the paper's semantic label maps).
- G: the coarse-to-fine generator ``pix2pixhd-g`` (:mod:`ganforge.nets.pix2pixhd`, section 3.2): a global
  generator G1 on the input downsampled by 2 and a local enhancer G2 at full size whose front-end features are
  summed with G1's last feature map.
- D: ``multiscale-patchgan``: the same PatchGAN at ``scales`` levels of the image pyramid of the (input, image)
  pair, each returning its hidden activations and patch logits.
- Losses (:mod:`ganforge.losses.pix2pixhd`): least-squares GAN losses summed over the scales (D's halved) plus
  ``options.fm_weight`` (lambda = 10) times the discriminator feature-matching loss of eq. 4. ``model.loss``
  must be ``lsgan``. The paper's optional VGG perceptual loss (eq. 6) is left out; so is its instance-map and
  feature-encoder machinery (section 3.3-3.4), which needs instance labels the pair tasks do not have.
- Schedule (section 3.2: "we first train the global generator and then train the local enhancer in the order of
  their resolutions. We then jointly fine-tune all the networks together"), counted in real pairs shown:
  * ``global`` for the first ``options.global_images``: G1 alone maps half(x) to half(y) through its own output
    layer, and D judges pairs at half size (its scales then start at S/2);
  * ``local`` for the next ``options.local_images`` (the authors' ``niter_fix_global``; 0 skips it): the full
    network at full size, G1 fixed (no gradient), G2 training;
  * ``joint`` from then on: everything trains together at full size.
  The authors' code starts a new optimiser for each stage; with ``options.reset_optimizers`` (default) both
  optimisers' states are cleared at the first step of a new phase. The count of pairs (``images_seen``) and the
  phase of the last step are buffers of the family, saved in every checkpoint, so a resumed run crosses a phase
  boundary exactly as an uninterrupted one, and a loaded model knows its phase.
- Sampling: during the global phase (and for a checkpoint taken in it) the model's output is G1's image of
  half(x) upsampled bilinearly to full size, since G2 has not trained yet; afterwards the full network's.
- Optimiser as the paper's: Adam, lr 2e-4, betas (0.5, 0.999).
- Under torchrun, as family ``progan`` does: the phases count the pairs of the global batch (every process's),
  so all processes change phase at the same step, and G is wrapped in DistributedDataParallel for one phase at a
  time, ignoring the parameters that phase gives no gradient (G2's in the global phase, G1's in the local one,
  G1's output layer in the joint one: :meth:`~ganforge.nets.pix2pixhd.CoarseToFine.unused_parameter_names`);
  both networks are wrapped anew when a phase begins (:class:`~.base.WrappedPerPhase`), and a resumed run wraps
  them for the phase it resumes in.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..errors import GanforgeError
from ..losses.pix2pix import l1_reconstruction
from ..losses.pix2pixhd import FM_WEIGHT, feature_matching, generator_objective, multiscale_d_objective, \
    multiscale_g_loss
from ..nets import DISCRIMINATORS, GENERATORS, make_args
from ..nets.pix2pixhd import CoarseToFine, MultiScalePatchGAN, half
from .base import FAMILIES, Batch, WrappedPerPhase, apply_in_eval, build_fitting, world_size
from .pix2pix import TaskPairedFamily

PHASES = ("global", "local", "joint")
GLOBAL, LOCAL, JOINT = range(3)
#: the generator call that trains in each phase: G1 alone at half size; G2 on a fixed G1; everything
CALLS = {GLOBAL: {"coarse": True}, LOCAL: {"fixed_global": True}, JOINT: {}}


def phase_at(images: int, global_images: int, local_images: int) -> int:
    """The phase of a step that starts after ``images`` real pairs: GLOBAL while fewer than ``global_images``
    were shown, then LOCAL for ``local_images`` more, then JOINT."""
    if images < global_images:
        return GLOBAL
    return LOCAL if images < global_images + local_images else JOINT


class Shown(nn.Module):
    """The generator as the model shows it in a phase: G(x), or during the global phase G1's upsampled image."""

    def __init__(self, g: nn.Module, enhance: bool) -> None:
        super().__init__()
        self.g, self.enhance = g, enhance

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g(x, enhance=self.enhance)  # (N, C, H, W)


@FAMILIES.register("pix2pixhd")
class Pix2PixHD(WrappedPerPhase, TaskPairedFamily):
    """G: coarse-to-fine (G1 + G2), D: multi-scale PatchGANs; LSGAN + lambda feature matching; global then joint."""

    unused_fields = ("encoder", "z_dist", "z_scale", "label_smoothing", "noisy_labels", "noisy_labels_range",
                     "instance_noise", "instance_noise_steps", "loss_options", "spectral_norm", "freeze_d_layers")

    @dataclass
    class Args:
        task: str = "edges"          # a pair task of ganforge.data.pairs (NAME or NAME:ARG)
        task_seed: int = 0           # seeds the mask task's squares (by image index)
        fm_weight: float = FM_WEIGHT  # lambda of eq. 5
        global_images: int = 64_000  # real pairs G1 trains on alone, at half size
        local_images: int = 0        # then pairs G2 trains on with G1 fixed (the authors' niter_fix_global)
        reset_optimizers: bool = True  # clear both optimisers' states when a phase begins

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.args = args = make_args(type(self), cfg.options, typed=True)
        check_options(args, cfg.loss)
        self.check_task()
        plain = replace(shape, num_classes=0)  # the input image is the only condition
        self.G = build_fitting(GENERATORS, cfg.generator, plain, "generator", lambda g: isinstance(g, CoarseToFine),
                               "does not fit family 'pix2pixhd' (it needs the coarse-to-fine generator pix2pixhd-g)")
        self.D = build_fitting(DISCRIMINATORS, cfg.discriminator, plain, "discriminator",
                               lambda d: isinstance(d, MultiScalePatchGAN), "is a {kind} discriminator; family "
                               "'pix2pixhd' needs multi-scale ones (multiscale-patchgan)")
        if args.global_images:  # the global phase shows D half-size pairs
            self.D.patch_sizes(shape.image_size // 2, "in the global phase")
        self.out_range = self.G.out_range
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.int64))  # real pairs shown to D
        self.register_buffer("phase", torch.tensor(phase_at(0, args.global_images, args.local_images)))

    # ---- the schedule
    def current_phase(self) -> int:
        """The phase of the last step trained (of the first step, before any)."""
        return int(self.phase)

    def phase_now(self) -> int:
        """The phase of the next step (of this one while it starts), from the count of pairs shown so far."""
        return phase_at(int(self.images_seen), self.args.global_images, self.args.local_images)

    def _advance(self, batch: Batch, opts) -> int:
        """The phase of this step; entering a new one clears the optimisers' states (and, under torchrun, wraps
        the networks for it). Counts the batch of every process."""
        now = self.phase_now()
        if now != self.current_phase():
            if self.args.reset_optimizers:
                for opt in opts.values():
                    opt.state.clear()
            self.phase.fill_(now)
        self.wrap_for_phase()
        self.images_seen += batch.images.shape[0] * world_size()
        return now

    def idle_parameters(self) -> dict[nn.Module, set[str]]:
        """G's parameters the current phase's generator call gives no gradient (D trains whole in every phase)."""
        return {self.G: self.G.unused_parameter_names(**CALLS[self.phase_now()])}

    # ---- what each phase trains
    @staticmethod
    def _at_phase(x: torch.Tensor, y: torch.Tensor, phase: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The (condition, target) pair D judges: half size in the global phase, else as given."""
        return (half(x), half(y)) if phase == GLOBAL else (x, y)

    @staticmethod
    def _generate(g: nn.Module, x: torch.Tensor, phase: int) -> torch.Tensor:
        """G1's half-size image in the global phase, else the full network's (G1 fixed in the local phase)."""
        return g(x, **CALLS[phase])

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """The discriminators descend sum_k 1/2 [(D_k(s, x) - 1)^2 + D_k(s, G(s))^2] (means over patches)."""
        phase = self._advance(batch, opts)
        x, y = self._pair(batch)
        condition, target = self._at_phase(x, y, phase)
        with torch.no_grad(), self.autocast():
            fake = self._generate(self.net("g"), x, phase)  # (N, C, S, S), (N, C, S/2, S/2) in the global phase
        with self.autocast():
            real_out, fake_out = self.net("d")(condition, target), self.net("d")(condition, fake)
        loss = multiscale_d_objective(real_out, fake_out)
        opts["d"].zero_grad(set_to_none=True)
        loss.backward()
        opts["d"].step()
        return {"loss_d": loss.detach(), "d_real": real_out[0][-1].float().mean().detach(),
                "d_fake": fake_out[0][-1].float().mean().detach(), "phase": torch.tensor(float(phase))}

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """G descends sum_k (D_k(s, G(s)) - 1)^2 + lambda sum_k L_FM(G, D_k) (eq. 5); logs the adversarial part
        as ``loss_g``, eq. 4 as ``loss_fm`` and the L1 distance to the target as ``l1`` (not trained on)."""
        phase = self.current_phase()
        x, y = self._pair(batch)
        condition, target = self._at_phase(x, y, phase)
        with self.d_held():
            with self.autocast():
                fake = self._generate(self.net("g"), x, phase)
                with torch.no_grad():
                    real_out = self.net("d")(condition, target)
                fake_out = self.net("d")(condition, fake)
            adversarial, fm = multiscale_g_loss(fake_out), feature_matching(real_out, fake_out)
            loss = generator_objective(adversarial, fm, self.args.fm_weight)
            opts["g"].zero_grad(set_to_none=True)
            loss.backward()
        opts["g"].step()
        return {"loss_g": adversarial.detach(), "loss_fm": fm.detach(), "l1": l1_reconstruction(fake.detach(), target)}

    # ---- using the model: what it shows depends on the phase reached
    def enhancing(self) -> bool:
        """Whether the model's output is the full network's (after the global phase) or G1's upsampled image."""
        return self.current_phase() != GLOBAL

    def run_generator(self, g, z: torch.Tensor, labels) -> torch.Tensor:
        return g(self.split(z)[0], enhance=self.enhancing())  # (N, C, H, W)

    @torch.no_grad()
    def translate(self, x: torch.Tensor, use_ema: bool = True, chunk: int = 500) -> torch.Tensor:
        """The model's output for inputs (N, C, H, W) in [-1, 1], in eval mode, as floats on the CPU."""
        return apply_in_eval(Shown(self.sampler(use_ema), self.enhancing()), x, chunk=chunk)

    @contextlib.contextmanager
    def sampling(self, request=None):
        """One generator pass; the record also names the phase the outputs come from."""
        with super().sampling(request) as record:
            yield {**record, "phase": PHASES[self.current_phase()], "images_seen": int(self.images_seen)}


def check_options(args: Pix2PixHD.Args, loss: str) -> None:
    """One-line errors for option values the family cannot train with."""
    if loss != "lsgan":
        raise GanforgeError(f"model.loss={loss}: family 'pix2pixhd' trains with its paper's least-squares loss; "
                            f"set model.loss=lsgan")
    if not args.fm_weight >= 0:
        raise GanforgeError(f"pix2pixhd: model.options.fm_weight must be >= 0, got {args.fm_weight}")
    for name in ("global_images", "local_images"):
        value = getattr(args, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise GanforgeError(f"pix2pixhd: model.options.{name} must be a whole number of images >= 0, got {value!r}")
