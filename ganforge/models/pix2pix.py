"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks"): a
conditional GAN that learns a mapping from an input image x to a target image y on aligned pairs.

- Pairs: ``options.task`` names a paired task of :mod:`ganforge.data.pairs` (``edges``, ``edges:T``,
  ``downscale:F``, ``gray``, ``mask:S``); the run's images are the targets y and the task derives each
  input x (``options.task_seed`` fixes the ``mask`` squares). The loop feeds (x, y) batches.
- G: an image-to-image generator (the U-Net of :mod:`ganforge.nets.unet`, section 3.2.1, unconditional
  here) with dropout in its decoder as the only noise z: "we provide noise only in the form of dropout,
  applied on several layers of our generator" (section 3.2). At sampling time dropout is off (eval mode),
  so outputs are deterministic; the paper keeps it on at test time and notes it yields "only minor
  stochasticity in the output". Batch norm uses running statistics at sampling time, where the paper uses
  the test batch's.
- D: a discriminator of kind ``paired`` (the PatchGAN of :mod:`ganforge.nets.patchgan`), scoring (x, y)
  against (x, G(x)).
- Losses (:mod:`ganforge.losses.pix2pix`): the registered adversarial ``model.loss`` (``ns``, the paper's,
  averaged over patches), D's objective times ``options.d_scale`` (1/2), G's adversarial loss plus
  ``options.l1_weight`` (lambda = 100) times the per-pixel L1 (eq. 4). Losses with a gradient penalty
  (``wgan-gp``, ``dragan``) need a one-input critic and are refused.
- Training: one D then one G update per step (``d_steps``, ``g_steps``), both on the same batch; G's output
  is recomputed for its update (a fresh dropout mask), where the authors' code reuses the D step's.

Sampling follows ModNet's convention for image-modifying families: the "latent" of a sample is a pair drawn
from the source set (the training data in training, the test split after ``ganforge.load``), flattened as
(n, C h w + C H W): the input, then its target (h = H here; SRGAN's inputs are smaller). Pairs are drawn
without repetition (a permutation per pass over the set), so ``sample(n)`` with n up to the test set's size
translates n distinct test inputs. That machinery is :class:`PairedFamily`, shared with ``srgan``.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass, replace
from typing import Iterable, Optional

import torch

from ..data.pairs import cached_inputs, make_inputs
from ..errors import GanforgeError
from ..losses.base import AdversarialLoss
from ..losses.pix2pix import generator_objective, halved_d_objective, l1_reconstruction
from ..metrics.paired import paired_scores
from ..nets import DISCRIMINATORS, GENERATORS, build_from_spec, make_args
from .base import FAMILIES, Batch, Family, apply_in_eval, to_uint8
from .gan import prepare_discriminator, update_discriminator


class PairedFamily(Family):
    """What paired image-to-image families share (pix2pix, srgan): the source pairs they sample from, latents
    that are flattened (input, target) pairs, translation in eval mode, input | output | target grids and the
    held-out paired scores. A subclass sets ``G`` and implements :meth:`make_paired_inputs` (the uint8 input
    of each uint8 target) and the two updates; :meth:`input_shape` and :meth:`shown_inputs` default to inputs
    of the targets' size, shown as they are."""

    needs_sources = True

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.sources: Optional[torch.Tensor] = None
        self.source_inputs: Optional[torch.Tensor] = None
        self._memo: tuple[Optional[torch.Tensor], Optional[torch.Tensor]] = (None, None)

    @abc.abstractmethod
    def make_paired_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """The uint8 inputs (M, *input_shape) of uint8 targets (M, C, H, W), image i with index i."""

    def input_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of the generator's inputs: the targets' own shape here."""
        return self.shape.channels, self.shape.image_size, self.shape.image_size

    def shown_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs (N, *input_shape) in the generator's range as uint8 images of the targets' size (N, C, H, W):
        what grids show beside each output and what the ``*_input`` baseline scores; here the inputs."""
        return to_uint8(self.to_unit(x.cpu()))

    # ---- pairs
    def paired_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """The inputs of uint8 targets (M, C, H, W) (the last set's are remembered)."""
        if self._memo[0] is not images:
            self._memo = (images, self.make_paired_inputs(images))
        return self._memo[1]

    def set_sources(self, images: torch.Tensor) -> None:
        """uint8 targets (M, C, H, W) that sampling draws pairs from, with their task inputs."""
        want = (self.shape.channels, self.shape.image_size, self.shape.image_size)
        if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != want or not len(images):
            raise GanforgeError(f"{self.cfg.family} source images must be uint8 (M, {want[0]}, {want[1]}, "
                                f"{want[2]}) with M > 0, got {images.dtype} {tuple(images.shape)}")
        self.sources, self.source_inputs = images.cpu(), self.paired_inputs(images).cpu()

    def sample_latent(self, n: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """n pairs of the source set, each flattened input then target: (n, C h w + C H W) in [-1, 1]."""
        if self.sources is None:
            raise GanforgeError(f"{self.cfg.family} translates the inputs of source images and none are set (the "
                                f"training loop and ganforge.load set them from the data; call set_sources(images))")
        device = device if device is not None else next(self.G.parameters()).device
        m = len(self.sources)
        idx = torch.cat([torch.randperm(m, generator=generator) for _ in range(math.ceil(n / m))])[:n]
        x, y = self.from_uint8(self.source_inputs[idx]), self.from_uint8(self.sources[idx])
        return torch.cat([x.flatten(1), y.flatten(1)], dim=1).to(device)  # (n, C h w + C H W)

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A latent (n, C h w + C H W) -> its input (n, C, h, w) and target (n, C, H, W) images."""
        s, inp = self.shape, self.input_shape()
        cut = math.prod(inp)
        return z[:, :cut].reshape(-1, *inp), z[:, cut:].reshape(-1, s.channels, s.image_size, s.image_size)

    def run_generator(self, g, z: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        return g(self.split(z)[0])  # (N, C, H, W)

    def trainable(self):
        return {"g": self.G, "d": self.D}

    def _pair(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if batch.inputs is None:
            raise GanforgeError(f"{self.cfg.family} trains on (input, target) pairs and got a batch without inputs")
        return batch.inputs, batch.images

    # ---- using a trained model
    @torch.no_grad()
    def translate(self, x: torch.Tensor, use_ema: bool = True, chunk: int = 500) -> torch.Tensor:
        """G(x) for inputs (N, *input_shape) in [-1, 1], in eval mode (no dropout), as floats on the CPU."""
        return apply_in_eval(self.sampler(use_ema), x, chunk=chunk)

    def sample_pairs(self, z: torch.Tensor, use_ema: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs as shown, outputs, targets) as uint8 (N, C, H, W) for pair latents ``z`` (see
        :meth:`sample_latent` and :meth:`shown_inputs`)."""
        x, y = self.split(z.cpu())
        out = self.translate(x, use_ema).clamp(-1, 1)
        return self.shown_inputs(x), to_uint8(self.to_unit(out)), to_uint8(self.to_unit(y))

    def grid_images(self, z: torch.Tensor, labels: Optional[torch.Tensor], cols: int,
                    use_ema: bool = True) -> tuple[torch.Tensor, int]:
        """Triplets input | output | target, about sqrt(n / 3) of them a row so the grid is roughly square.
        Returns uint8 (3 n, C, H, W) and the row length."""
        x, out, y = self.sample_pairs(z, use_ema)
        per_row = max(1, round(math.sqrt(len(z) / 3)))
        return torch.stack([x, out, y], dim=1).flatten(0, 1), 3 * per_row

    def heldout_stats(self, batches: Iterable[Batch], limit: int = 2000) -> dict[str, float]:
        """On the test split (at most ``limit`` pairs): mean L1, PSNR and SSIM of G's outputs against their
        targets (the sampler's: the EMA generator if there is one), and of the shown inputs (``*_input``)."""
        outputs, inputs, targets, seen = [], [], [], 0
        for batch in batches:
            x, y = self._pair(batch)
            outputs.append(to_uint8(self.to_unit(self.translate(x).clamp(-1, 1))))
            inputs.append(self.shown_inputs(x))
            targets.append(to_uint8(self.to_unit(y.cpu())))
            seen += len(x)
            if seen >= limit:
                break
        if not seen:
            return {}
        targets_all = torch.cat(targets)
        scores = paired_scores(torch.cat(outputs), targets_all)
        baseline = paired_scores(torch.cat(inputs), targets_all)
        return {**scores, **{f"{k}_input": v for k, v in baseline.items()}}


class TaskPairedFamily(PairedFamily):
    """A paired family whose inputs a pair task of :mod:`ganforge.data.pairs` derives from the targets: its
    ``Args`` have ``task`` and ``task_seed`` (pix2pix, pix2pixhd)."""

    def check_task(self) -> None:
        """An unknown task, or one that does not fit the data's images, fails when the family is built."""
        s = self.shape
        make_inputs(self.args.task, torch.zeros(1, s.channels, s.image_size, s.image_size, dtype=torch.uint8))

    def make_paired_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """The task's uint8 inputs of uint8 targets (M, C, H, W)."""
        return cached_inputs(self.args.task, images.cpu(), self.args.task_seed)


@FAMILIES.register("pix2pix")
class Pix2Pix(TaskPairedFamily):
    """G: x -> y (a U-Net with dropout), D: (x, y) -> patch logits; cGAN loss + lambda L1."""

    unused_fields = ("encoder", "z_dist", "z_scale", "label_smoothing", "noisy_labels", "noisy_labels_range",
                     "instance_noise", "instance_noise_steps")

    @dataclass
    class Args:
        task: str = "edges"       # a pair task of ganforge.data.pairs (NAME or NAME:ARG)
        task_seed: int = 0        # seeds the mask task's squares (by image index)
        l1_weight: float = 100.0  # lambda of eq. 4
        d_scale: float = 0.5      # D's objective is divided by 2 (section 3.3)

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.args = args = make_args(type(self), cfg.options, typed=True)
        if not args.l1_weight >= 0 or not args.d_scale > 0:
            raise GanforgeError(f"pix2pix: model.options.l1_weight must be >= 0 and d_scale > 0, got "
                                f"{args.l1_weight} and {args.d_scale}")
        self.check_task()
        unconditional = replace(shape, num_classes=0)  # the input image is the only condition
        self.G = build_from_spec(GENERATORS, cfg.generator, unconditional, "generator")
        if not getattr(self.G, "takes_images", False) or getattr(self.G, "scale", 1) != 1:
            raise GanforgeError(f"model.generator {cfg.generator['name']!r} does not fit family 'pix2pix' "
                                f"(it needs an image-to-image generator, e.g. unet)")
        self.D = build_from_spec(DISCRIMINATORS, cfg.discriminator, unconditional, "discriminator")
        if self.D.kind != "paired":
            raise GanforgeError(f"model.discriminator {cfg.discriminator['name']!r} is a {self.D.kind} "
                                f"discriminator; family 'pix2pix' needs a paired one (e.g. patchgan)")
        self.loss = prepare_discriminator(self.D, cfg)
        if type(self.loss).penalty is not AdversarialLoss.penalty:
            raise GanforgeError(f"model.loss={cfg.loss} adds a gradient penalty on a one-input critic; pix2pix's "
                                f"D takes (input, output) pairs (expected ns, mm, lsgan, hinge or wgan)")
        self.out_range = self.G.out_range

    # ---- hooks the loop calls
    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """D descends d_scale * its loss on (x, y) as real and (x, G(x)) as fake (eq. 1, section 3.3)."""
        x, y = self._pair(batch)
        with torch.no_grad(), self.autocast():
            fake = self.net("g")(x)  # (N, C, H, W)
        with self.autocast():
            real_out, fake_out = self.net("d")(x, y), self.net("d")(x, fake)  # (N, P, P) each
        real_out, fake_out = real_out.float(), fake_out.float()
        adversarial = self.loss.d_loss(real_out, fake_out)
        objective = halved_d_objective(adversarial, self.args.d_scale)
        return update_discriminator(self, objective, adversarial, real_out, fake_out, opts, {})

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """G descends its adversarial loss on D(x, G(x)) + lambda ||y - G(x)||_1 (eq. 4)."""
        x, y = self._pair(batch)
        with self.d_held():
            with self.autocast():
                fake = self.net("g")(x)  # (N, C, H, W)
                fake_out = self.net("d")(x, fake)  # (N, P, P)
            adversarial = self.loss.g_loss(fake_out.float())
            l1 = l1_reconstruction(fake, y)
            loss = generator_objective(adversarial, l1, self.args.l1_weight)
            opts["g"].zero_grad(set_to_none=True)
            loss.backward()
        opts["g"].step()
        return {"loss_g": adversarial.detach(), "l1": l1.detach()}
