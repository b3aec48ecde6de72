"""CycleGAN (Zhu, Park, Isola and Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"): two translators between unpaired image sets, held together by cycle consistency.

- Domains: X is the run's ``data``, Y its ``data_target`` (e.g. ``fashion-mnist:train[class=7]``, sneakers,
  and ``fashion-mnist:train[class=5]``, sandals). The loop feeds a batch of each per step, drawn
  independently (``Batch.images`` from X, ``Batch.unpaired`` from Y), each set with its own data order.
- Networks: G: X -> Y and F: Y -> X (image-to-image generators of ``model.generator``, by default the residual
  ``resnet-g`` of section 7.2; see :mod:`ganforge.nets.resnet` for why not the U-Net), D_Y judging Y against
  G(X) and D_X judging X against F(Y) (one-image PatchGANs of ``model.discriminator``, ``patchgan-image``).
  Both generators share the ``g`` optimiser (``g_opt``) and both discriminators the ``d`` one (``d_opt``), as
  the authors' code chains their parameters.
- Objective (:mod:`ganforge.losses.cyclegan`): least-squares adversarial losses (section 4), lambda = 10 times
  the L1 cycle losses of eq. 2 (``options.lambda_cycle``) and 0.5 lambda times the L1 identity losses
  (``options.identity``; section 5.2). D's objective is halved (section 7.1). ``model.loss`` must be ``lsgan``.
- D sees a history of generated images: each D has an :class:`~ganforge.models.image_pool.ImagePool` of
  ``options.pool_size`` = 50 (section 4). Under torchrun each pool takes the global batch's fakes and is the
  same on every process (:meth:`~ganforge.models.image_pool.ImagePool.query_global`), as in one process.
- Ablations (section 5.1.4, Table 4): ``options.cycle=false`` is "GAN alone"; ``options.cycle_direction``
  ``forward`` (only ||F(G(x)) - x||) and ``backward`` (only ||G(F(y)) - y||) are "GAN + forward cycle" and
  "GAN + backward cycle"; ``options.adversarial=false`` is "Cycle alone" (no adversarial loss, and no D
  updates, since nothing reads D). The paper's ablation has no identity loss: add ``options.identity=0``.
- Training order: the loop's D update comes first (on fakes of the current G and F, through the pools), then
  the G/F update against the updated Ds. The authors' code does the G/F update first and then D's, on the
  fakes it made before that update, so both orders show D the same fakes; G and F here see a D one update
  newer. Each generator pass is recomputed for the G/F update.
- Sampling: a "latent" is a pair of source images, one of X and one of Y, flattened as (n, 2 C H W) (each set
  drawn without repetition, a permutation per pass); ``sample`` returns G(x), the translations into Y. The
  training loop draws from the training sets, ``ganforge.load`` from the test splits. Grids show, per pair,
  x | G(x) | F(G(x)) | y | F(y) | G(F(y)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import chain
from typing import Iterable, Optional

import torch

from ..errors import GanforgeError
from ..losses.cyclegan import generator_objective, l1_distance, lsgan_d_objective, lsgan_g_loss
from ..metrics.paired import paired_scores
from ..nets import DISCRIMINATORS, GENERATORS, make_args
from .base import FAMILIES, Batch, Family, apply_in_eval, build_fitting, to_uint8
from .image_pool import ImagePool

#: options.cycle_direction -> (forward cycle ||F(G(x)) - x||, backward cycle ||G(F(y)) - y||)
CYCLE_DIRECTIONS = {"both": (True, True), "forward": (True, False), "backward": (False, True)}


@FAMILIES.register("cyclegan")
class CycleGAN(Family):
    """G: X -> Y, F: Y -> X, D_Y, D_X; least-squares GAN losses + lambda cycle L1 + 0.5 lambda identity L1."""

    needs_sources = True
    unpaired = True
    unused_fields = ("encoder", "z_dist", "z_scale", "label_smoothing", "noisy_labels", "noisy_labels_range",
                     "instance_noise", "instance_noise_steps", "loss_options", "spectral_norm", "freeze_d_layers")

    @dataclass
    class Args:
        lambda_cycle: float = 10.0     # lambda of eq. 3
        identity: float = 0.5          # identity loss weight, in units of lambda (0: none)
        cycle: bool = True             # false: no cycle loss ("GAN alone")
        cycle_direction: str = "both"  # both | forward | backward (Table 4's one-direction variants)
        adversarial: bool = True       # false: no GAN losses ("Cycle alone")
        pool_size: int = 50            # generated images each D's history keeps (section 4)

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.args = args = make_args(type(self), cfg.options, typed=True)
        check_options(args, cfg.loss)
        plain = replace(shape, num_classes=0)  # the input image is the only condition
        self.G = self._generator(cfg, plain)  # X -> Y
        self.F = self._generator(cfg, plain)  # Y -> X
        self.D_Y = self._discriminator(cfg, plain)
        self.D_X = self._discriminator(cfg, plain)
        self.out_range = self.G.out_range
        seeds = torch.randint(0, 2 ** 62, (2,)).tolist()  # from the run's seed, after the weights are drawn
        self.pool_y, self.pool_x = ImagePool(args.pool_size, seeds[0]), ImagePool(args.pool_size, seeds[1])
        directions = CYCLE_DIRECTIONS[args.cycle_direction]
        self.forward_cycle, self.backward_cycle = (args.cycle and flag for flag in directions)
        self.sources: dict[str, Optional[torch.Tensor]] = {"x": None, "y": None}

    @staticmethod
    def _generator(cfg, shape):
        return build_fitting(GENERATORS, cfg.generator, shape, "generator", lambda g: getattr(g, "takes_images", False),
                             "does not fit family 'cyclegan' (it needs an image-to-image generator, e.g. resnet-g)")

    @staticmethod
    def _discriminator(cfg, shape):
        return build_fitting(DISCRIMINATORS, cfg.discriminator, shape, "discriminator",
                             lambda d: d.kind in ("plain", "patch"), "is a {kind} discriminator; family 'cyclegan' "
                             "needs one judging a single image (e.g. patchgan-image)")

    # ---- networks and optimisers
    def trainable(self):
        return {"g": self.G, "f": self.F, "d_x": self.D_X, "d_y": self.D_Y}

    def build_optimizers(self, configs, builder):
        """One optimiser for G and F together (``g_opt``) and one for D_X and D_Y (``d_opt``)."""
        return {"g": builder(list(chain(self.G.parameters(), self.F.parameters())), configs["g"]),
                "d": builder(list(chain(self.D_X.parameters(), self.D_Y.parameters())), configs["d"])}

    def enable_ema(self, decay: float, ema_bn: str = "standing") -> None:
        raise GanforgeError("family 'cyclegan' keeps no EMA of its generators (the paper has none); set ema_decay=0")

    def held_networks(self):
        return {"d_x": self.D_X, "d_y": self.D_Y}

    # ---- the two updates
    def _domains(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if batch.unpaired is None:
            raise GanforgeError("cyclegan trains on batches of two domains and got a batch without data_target "
                                "images (Batch.unpaired)")
        return batch.images, batch.unpaired

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """D_Y and D_X each descend the halved least-squares loss on real images against pooled fakes."""
        x, y = self._domains(batch)
        if not self.args.adversarial:  # "Cycle alone": nothing reads D
            return {}
        with torch.no_grad(), self.autocast():
            fake_y, fake_x = self.net("g")(x), self.net("f")(y)  # (N, C, H, W) each
        fake_y, fake_x = self.pool_y.query_global(fake_y.float()), self.pool_x.query_global(fake_x.float())
        with self.autocast():
            real_y_out, fake_y_out = self.net("d_y")(y), self.net("d_y")(fake_y)  # (N, P, P) each
            real_x_out, fake_x_out = self.net("d_x")(x), self.net("d_x")(fake_x)
        loss_y, loss_x = lsgan_d_objective(real_y_out, fake_y_out), lsgan_d_objective(real_x_out, fake_x_out)
        opts["d"].zero_grad(set_to_none=True)
        (loss_y + loss_x).backward()
        opts["d"].step()
        return {"loss_d": (loss_x + loss_y).detach(), "loss_d_x": loss_x.detach(), "loss_d_y": loss_y.detach(),
                "d_real_y": real_y_out.float().mean().detach(), "d_fake_y": fake_y_out.float().mean().detach()}

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """G and F descend their adversarial losses + lambda (cycle L1s) + identity * lambda (identity L1s)."""
        x, y = self._domains(batch)
        with self.d_held():
            terms = self._generator_terms(x, y)
            total = {kind: sum(v for k, v in terms.items() if k.startswith(kind))
                     for kind in ("loss_g_adv", "cycle", "identity")}  # 0 for a kind not in use
            loss = generator_objective(total["loss_g_adv"], total["cycle"], total["identity"],
                                       self.args.lambda_cycle, self.args.identity)
            opts["g"].zero_grad(set_to_none=True)
            loss.backward()
        opts["g"].step()
        return {"loss_g": loss.detach(), **{k: v.detach() for k, v in terms.items()}}

    def _generator_terms(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms in use, by log name: adversarial (G's, F's), cycle (x, y), identity (x, y)."""
        g, f, terms = self.net("g"), self.net("f"), {}
        with self.autocast():
            fake_y, fake_x = g(x), f(y)  # (N, C, H, W) each
            if self.args.adversarial:
                terms["loss_g_adv_g"] = lsgan_g_loss(self.net("d_y")(fake_y))
                terms["loss_g_adv_f"] = lsgan_g_loss(self.net("d_x")(fake_x))
            if self.forward_cycle:
                terms["cycle_x"] = l1_distance(f(fake_y), x)  # ||F(G(x)) - x||_1
            if self.backward_cycle:
                terms["cycle_y"] = l1_distance(g(fake_x), y)  # ||G(F(y)) - y||_1
            if self.args.identity > 0:
                terms["identity_y"] = l1_distance(g(y), y)  # ||G(y) - y||_1
                terms["identity_x"] = l1_distance(f(x), x)  # ||F(x) - x||_1
        return terms

    # ---- sources and latents
    def set_sources(self, images: torch.Tensor) -> None:
        """uint8 images (M, C, H, W) of X that sampling translates (the training set in training, else test)."""
        self.sources["x"] = self._checked(images, "data")

    def set_unpaired_sources(self, images: torch.Tensor) -> None:
        """uint8 images (M, C, H, W) of Y, the other half of each latent (grids translate them back)."""
        self.sources["y"] = self._checked(images, "data_target")

    def _checked(self, images: torch.Tensor, what: str) -> torch.Tensor:
        want = (self.shape.channels, self.shape.image_size, self.shape.image_size)
        if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != want or not len(images):
            raise GanforgeError(f"cyclegan {what} images must be uint8 (M, {want[0]}, {want[1]}, {want[2]}) with "
                                f"M > 0, got {images.dtype} {tuple(images.shape)}")
        return images.cpu()

    def sample_latent(self, n: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """n pairs (an image of X, one of Y), each set drawn without repetition: (n, 2 C H W) in [-1, 1]."""
        if self.sources["x"] is None or self.sources["y"] is None:
            raise GanforgeError("cyclegan translates images of its two domains and they are not set (the training "
                                "loop and ganforge.load set them; call set_sources and set_unpaired_sources)")
        device = device if device is not None else next(self.G.parameters()).device
        halves = []
        for images in (self.sources["x"], self.sources["y"]):
            m = len(images)
            idx = torch.cat([torch.randperm(m, generator=generator) for _ in range(math.ceil(n / m))])[:n]
            halves.append(self.from_uint8(images[idx]).flatten(1))
        return torch.cat(halves, dim=1).to(device)  # (n, 2 C H W)

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A latent (n, 2 C H W) -> its images of X and of Y, (n, C, H, W) each."""
        s = self.shape
        half = s.channels * s.image_size ** 2
        view = (-1, s.channels, s.image_size, s.image_size)
        return z[:, :half].reshape(view), z[:, half:].reshape(view)

    def run_generator(self, g, z: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        return g(self.split(z)[0])  # G(x): (N, C, H, W)

    # ---- using a trained model
    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "g", chunk: int = 500) -> torch.Tensor:
        """G(images) (``direction`` "g") or F(images) ("f") for floats (N, C, H, W) in [-1, 1], in eval mode,
        as floats on the CPU clamped to [-1, 1]."""
        return apply_in_eval(self.trainable()[direction], images, chunk=chunk).clamp(-1, 1)

    def cycle_of(self, images: torch.Tensor, direction: str = "g") -> tuple[torch.Tensor, ...]:
        """uint8 (N, C, H, W) images, their translations and reconstructions: x, G(x), F(G(x)) for
        ``direction`` "g" (images of X), y, F(y), G(F(y)) for "f" (images of Y); floats in [-1, 1] in. The
        reconstruction starts from the translation as floats (not rounded to uint8)."""
        back = {"g": "f", "f": "g"}[direction]
        translated = self.translate(images, direction)
        reconstructed = self.translate(translated, back)
        return tuple(to_uint8(self.to_unit(t.cpu())) for t in (images, translated, reconstructed))

    def cycles(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """uint8 (N, C, H, W) x, G(x), F(G(x)), y, F(y), G(F(y)) for floats x, y in [-1, 1]."""
        return self.cycle_of(x, "g") + self.cycle_of(y, "f")

    def sample_cycles(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """:meth:`cycles` of the pair latents ``z`` (see :meth:`sample_latent`)."""
        return self.cycles(*self.split(z.cpu()))

    def grid_images(self, z: torch.Tensor, labels: Optional[torch.Tensor], cols: int,
                    use_ema: bool = True) -> tuple[torch.Tensor, int]:
        """Sextets x | G(x) | F(G(x)) | y | F(y) | G(F(y)), about sqrt(n / 6) of them a row so the grid is
        roughly square. Returns uint8 (6 n, C, H, W) and the row length."""
        tiles = self.sample_cycles(z)
        per_row = max(1, round(math.sqrt(len(z) / 6)))
        return torch.stack(tiles, dim=1).flatten(0, 1), 6 * per_row

    def heldout_stats(self, batches: Iterable[Batch], limit: int = 2000) -> dict[str, float]:
        """On the test splits (at most ``limit`` images of each): L1, PSNR and SSIM of the cycle
        reconstructions F(G(x)) against x (``cycle_*_x``) and G(F(y)) against y (``cycle_*_y``)."""
        found: dict[str, list[torch.Tensor]] = {k: [] for k in ("x", "rec_x", "y", "rec_y")}
        seen = 0
        for batch in batches:
            x, _, rec_x, y, _, rec_y = self.cycles(*self._domains(batch))
            for key, value in zip(found, (x, rec_x, y, rec_y)):
                found[key].append(value)
            seen += len(x)
            if seen >= limit:
                break
        if not seen:
            return {}
        out = {}
        for side in ("x", "y"):
            scores = paired_scores(torch.cat(found[f"rec_{side}"]), torch.cat(found[side]))
            out.update({f"cycle_{k}_{side}": v for k, v in scores.items()})
        return out


def check_options(args: CycleGAN.Args, loss: str) -> None:
    """One-line errors for option values the family cannot train with."""
    if loss != "lsgan":
        raise GanforgeError(f"model.loss={loss}: family 'cyclegan' trains with its paper's least-squares loss "
                            f"(section 4); set model.loss=lsgan")
    if args.cycle_direction not in CYCLE_DIRECTIONS:
        raise GanforgeError(f"cyclegan: model.options.cycle_direction={args.cycle_direction!r} is not one of: "
                            f"{', '.join(CYCLE_DIRECTIONS)}")
    if not (args.lambda_cycle >= 0 and args.identity >= 0 and args.pool_size >= 0):
        raise GanforgeError(f"cyclegan: model.options.lambda_cycle, identity and pool_size must be >= 0, got "
                            f"{args.lambda_cycle}, {args.identity} and {args.pool_size}")
    if not args.adversarial and not (args.cycle and args.lambda_cycle > 0):
        raise GanforgeError("cyclegan: model.options.adversarial=false without a cycle loss (cycle=true, "
                            "lambda_cycle > 0) leaves only the identity loss; keep one of them")

