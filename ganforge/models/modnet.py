"""ModNet, the Modification Network (Basart 2017, "Analysis of Generative Adversarial Models", University of
Chicago MSc thesis, chapter 2: sections 2.2, 2.4, 2.5 and the "Training Algorithm" box).

G(y_t, x) takes a real image x and a target label y_t and returns bound(x + delta): a U-Net
(``ganforge.nets.unet``) outputs the tanh delta image, which is added to x and clipped or renormalised into
[-1, 1] (``ganforge.nets.delta``; ``options.bound``). The critic gives a real/fake logit and class logits,
shared or separate (``ganforge.models.modnet_critic``; ``options.critic``). The losses are eq. 2.2-2.7
(``ganforge.losses.modnet``):

- D minimises L_D (2.4; ``options.d_form=alternative`` for section 2.2's other form) + L_label (2.5: real x
  with its own label y, G(y_t, x) with y_t). ``options.d_label_fakes=false`` drops the second term from D's
  objective, so that a shared critic's class head is a classifier of real images only: with the term, critic
  and generator can agree on a code (Fashion-MNIST, 4,000 steps: every modification stays nearest its own
  source, and a classifier trained on modifications labelled with their targets scores 8.5% on the test
  split, below chance). ``options.d_fake_label=source`` keeps the term but with the source label y (a
  deviation): the class head learns to see through the modification, so G is rewarded only for changes a
  classifier that has seen its edits still reads as y_t, not for a private code or an adversarial nudge;
- G minimises L_G (2.3, non-saturating) + the generated term of L_label (2.5) + lambda L_1 (2.6), i.e. its
  part of eq. 2.7, with lambda = ``options.l1_weight`` and ``options.l1_scaling`` fixed (2.6 as written) or
  average (per pixel). ``options.label_weight`` (1 in eq. 2.7) scales G's label term: against a frozen
  classifier the realism critic keeps strengthening and the share of modifications that reach their target
  falls over training unless the label term is given more weight.

Where the thesis' algorithm box differs from its equations (ascending D's loss, y_t on real images, the
saturating G term and a negative L1 term) this follows the equations.

Training follows the box: each training step runs ``d_steps`` (j) D updates and ``g_steps`` (k) G updates,
(1, 1) or (1, 2) in the thesis; the loop gives every D update a fresh batch, and G's first update reuses the
last D batch while further G updates draw fresh ones. The box draws the images to modify (x_t) apart from
the real batch V; here each update modifies the images of its own batch, which are an equally random draw.
Target labels are uniform over the classes other than the source's (``options.allow_same_target`` includes
it). ModNet has no latent noise: its "latent" is the source image, flattened to (N, C*H*W), so that the
shared sampling code (EMA statistics, ``ganforge sample``) drives it; the sources come from
:meth:`set_sources` (the training data during training, the test split in ``ganforge.load``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional

import torch
from torch import nn

from ..errors import GanforgeError
from ..losses.modnet import D_FORMS, L1_SCALINGS, label_loss
from ..nets import GENERATORS, build_from_spec, make_args
from ..nets.delta import BOUNDS, DeltaGenerator
from .base import FAMILIES, Batch, Family, apply_in_eval, to_uint8
from .gan import LogitOnly, prepare_discriminator, with_penalty
from .modnet_critic import CRITICS, DatasetClassifier


@FAMILIES.register("modnet")
class ModNet(Family):
    """G(y_t, x) = bound(x + U-Net(x, y_t)); critic x -> (real/fake logit, class logits)."""

    conditional = True
    needs_sources = True
    unused_fields = ("encoder", "z_dist", "z_scale", "label_smoothing", "noisy_labels", "noisy_labels_range",
                     "instance_noise", "instance_noise_steps")

    @dataclass
    class Args:
        bound: str = "clip"             # clip | renorm (ganforge.nets.delta)
        zero_delta: bool = False        # zero the delta's last layer: G(y_t, x) = x at the start
        critic: str = "shared"          # shared | separate (ganforge.models.modnet_critic)
        classifier_init: str = ""       # separate critic: "" | dataset:NAME | path.safetensors
        classifier_net: str = "small-cnn"  # separate critic: small-cnn | shallow (features.classifier)
        freeze_classifier: bool = False  # separate critic: never update the classifier
        d_form: str = "standard"        # standard (eq. 2.4 with loss ns) | alternative (section 2.2)
        l1_weight: float = 1e-3         # lambda of eq. 2.7
        label_weight: float = 1.0       # weight of G's label term (1 in eq. 2.7)
        l1_scaling: str = "fixed"       # fixed (eq. 2.6, summed over pixels) | average (per pixel)
        allow_same_target: bool = False  # draw y_t among all classes, the source's included
        d_label_fakes: bool = True      # D's L_label includes G(y_t, x) (eq. 2.5 as written)
        d_fake_label: str = "target"    # the label D learns for G(y_t, x): target y_t (eq. 2.5) | source y

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.args = args = make_args(type(self), cfg.options, typed=True)  # l1_weight=abc: a one-line error
        net = build_from_spec(GENERATORS, cfg.generator, shape, "generator")
        if not getattr(net, "takes_images", False):
            raise GanforgeError(f"model.generator {cfg.generator['name']!r} does not fit family 'modnet' "
                                f"(it needs an image-to-image generator, e.g. unet)")
        BOUNDS.get(args.bound)
        self.G = DeltaGenerator(net, args.bound)
        if args.zero_delta:
            self.G.zero_delta_()
        if args.freeze_classifier and not args.classifier_init:
            raise GanforgeError("model.options.freeze_classifier=true needs model.options.classifier_init "
                                "(dataset:NAME or a classifier .safetensors): a frozen random classifier "
                                "gives G no useful signal")
        self.D, realfake = CRITICS.get(args.critic)(cfg, shape, args.freeze_classifier)
        self.loss = prepare_discriminator(realfake, cfg)
        self.d_loss = self.loss.d_loss if args.d_form == "standard" else D_FORMS.get(args.d_form)
        if args.d_form != "standard" and cfg.loss not in ("ns", "mm"):
            raise GanforgeError(f"model.options.d_form={args.d_form} is a form of the logit loss; it needs "
                                f"model.loss ns or mm, got {cfg.loss!r}")
        self.l1 = L1_SCALINGS.get(args.l1_scaling)
        for key in ("l1_weight", "label_weight"):
            if not getattr(args, key) >= 0:
                raise GanforgeError(f"model.options.{key} must be >= 0, got {getattr(args, key)}")
        if args.d_fake_label not in ("target", "source"):
            raise GanforgeError(f"model.options.d_fake_label must be target or source, got {args.d_fake_label!r}")
        self.sources: Optional[torch.Tensor] = None

    # ---- sources: ModNet's "latents" are images
    def set_sources(self, images: torch.Tensor) -> None:
        """uint8 images (M, C, H, W) that sampling modifies (grids, ``ganforge sample``, EMA statistics)."""
        want = (self.shape.channels, self.shape.image_size, self.shape.image_size)
        if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != want or not len(images):
            raise GanforgeError(f"modnet source images must be uint8 (M, {want[0]}, {want[1]}, {want[2]}) with "
                                f"M > 0, got {images.dtype} {tuple(images.shape)}")
        self.sources = images.cpu()

    def sample_latent(self, n: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """n source images drawn uniformly from :meth:`set_sources`'s, flattened: (n, C*H*W) in [-1, 1]."""
        if self.sources is None:
            raise GanforgeError("modnet modifies source images and none are set (the training loop and "
                                "ganforge.load set them from the data; call set_sources(images) otherwise)")
        device = device if device is not None else next(self.G.parameters()).device
        idx = torch.randint(0, len(self.sources), (n,), generator=generator)
        return self.from_uint8(self.sources[idx]).flatten(1).to(device)  # (n, C*H*W)

    def run_generator(self, g: nn.Module, z: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        s = self.shape
        return g(z.view(-1, s.channels, s.image_size, s.image_size), labels)  # (N, C, H, W)

    def target_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """y_t for sources of class ``labels``: uniform over the other K-1 classes (or all K if allowed)."""
        k = self.shape.num_classes
        if self.args.allow_same_target:
            return torch.randint(0, k, labels.shape, device=labels.device)
        return (labels + torch.randint(1, k, labels.shape, device=labels.device)) % k

    # ---- hooks the loop calls
    def trainable(self):
        return {"g": self.G, "d": self.D}

    def init_from_data(self, mean_image: torch.Tensor) -> None:
        """A separate critic's classifier starts from ``options.classifier_init`` (before any resume)."""
        if isinstance(getattr(self.D, "classifier", None), DatasetClassifier) and self.args.classifier_init:
            self.D.classifier.load_weights(self.args.classifier_init, self.data_root)

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """Descend L_D (2.4) + L_label (2.5; its real term only if not ``d_label_fakes``) in the critic's weights."""
        x, y = batch.images, batch.labels
        y_t = self.target_labels(y)
        with torch.no_grad(), self.autocast():
            fake = self.net("g")(x, y_t)  # (N, C, H, W)
        with self.autocast():
            real_out, real_cls = self.net("d")(x)
            fake_out, fake_cls = self.net("d")(fake)
        real_out, fake_out = real_out.float(), fake_out.float()
        adversarial = self.d_loss(real_out, fake_out)
        labels = label_loss(real_cls, y)
        if self.args.d_label_fakes:
            labels = labels + label_loss(fake_cls, y_t if self.args.d_fake_label == "target" else y)
        stats = {"loss_label_d": labels.detach(),
                 "acc_real": (real_cls.argmax(1) == y).float().mean().detach()}
        loss = with_penalty(self, LogitOnly(self.net("d")), x, fake, adversarial + labels, stats)
        opts["d"].zero_grad(set_to_none=True)
        loss.backward()
        opts["d"].step()
        self.loss.after_d_step(getattr(self.D, "d", self.D))  # WGAN's clipping: the real/fake net only
        squash = torch.sigmoid if self.loss.outputs_are_logits else (lambda t: t)
        return {"loss_d": adversarial.detach(), "d_real": squash(real_out).mean().detach(),
                "d_fake": squash(fake_out).mean().detach(), **stats}

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """Descend L_G (2.3) + w L_label on G(y_t, x) (2.5) + lambda L_1 (2.6): G's part of eq. 2.7 (w = 1)."""
        x = batch.images
        y_t = self.target_labels(batch.labels)
        with self.d_held():
            with self.autocast():
                fake = self.net("g")(x, y_t)  # (N, C, H, W)
                fake_out, fake_cls = self.net("d")(fake)
            adversarial = self.loss.g_loss(fake_out.float())
            labels = label_loss(fake_cls, y_t)
            l1 = self.l1(x, fake)
            loss = adversarial + self.args.label_weight * labels + self.args.l1_weight * l1
            opts["g"].zero_grad(set_to_none=True)
            loss.backward()
        opts["g"].step()
        return {"loss_g": adversarial.detach(), "loss_label_g": labels.detach(), "l1": l1.detach(),
                "fooled": (fake_cls.argmax(1) == y_t).float().mean().detach()}

    # ---- using a trained model
    @torch.no_grad()
    def modify(self, images: torch.Tensor, targets: torch.Tensor, use_ema: bool = True,
               chunk: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn ``images`` (N, C, H, W; uint8, or floats in [-1, 1]) into classes ``targets`` (N,).

        Returns (result, delta) as floats in G's range on the CPU: result = G(y_t, x) in [-1, 1] and
        delta = result - x, the change actually applied after bounding (in [-2, 2]), in eval mode."""
        x = self.from_uint8(images) if images.dtype == torch.uint8 else images.float()
        if len(targets) != len(x) or (len(targets) and not 0 <= int(targets.min()) <= int(targets.max())
                                      < self.shape.num_classes):
            raise GanforgeError(f"modnet.modify: expected one target label in 0..{self.shape.num_classes - 1} "
                                f"per image, got {len(targets)} labels for {len(x)} images")
        result = apply_in_eval(self.sampler(use_ema), x, targets, chunk=chunk)
        return result, result - x

    def grid_layout(self, n: int) -> tuple[int, int]:
        """About ``n`` images: ceil(n / K) source rows, each with its modifications into every class."""
        rows = int(math.ceil(n / self.shape.num_classes))
        return rows, rows

    def grid_images(self, z: torch.Tensor, labels: Optional[torch.Tensor], cols: int,
                    use_ema: bool = True) -> tuple[torch.Tensor, int]:
        """One row per source image: source | delta, result for target class 0 | ... | for class K-1.

        Deltas are shown as (delta / 2 + 1) / 2, so no change is mid grey. Returns uint8 (R*(1+2K), C, H, W)
        and the row length 1 + 2K. The sources are the first ``cols`` latents (the loop's grid repeats them
        per class)."""
        s, k = self.shape, self.shape.num_classes
        x = z[:cols].view(-1, s.channels, s.image_size, s.image_size).cpu()  # (R, C, H, W)
        tiles = [(x + 1) / 2]
        for cls in range(k):
            result, delta = self.modify(x, torch.full((len(x),), cls, dtype=torch.int64), use_ema)
            tiles += [(delta / 2 + 1) / 2, (result + 1) / 2]
        rows = torch.stack(tiles, dim=1).flatten(0, 1)  # (R * (1 + 2K), C, H, W), row by row
        return to_uint8(rows.clamp(0, 1)), 1 + 2 * k

    def heldout_stats(self, batches: Iterable[Batch], limit: int = 2000) -> dict[str, float]:
        """On the test split (at most ``limit`` images): the critic's accuracy on real images, and the share
        of modifications G(y_t, x) it classifies as their target y_t (the fooling rate) with their mean L1."""
        seen, real_hits, fooled, l1 = 0, 0.0, 0.0, 0.0
        was = self.training
        self.eval()
        try:
            with torch.no_grad():
                for batch in batches:
                    y_t = self.target_labels(batch.labels)
                    result = self.G(batch.images, y_t)
                    real_hits += (self.D(batch.images)[1].argmax(1) == batch.labels).sum().item()
                    fooled += (self.D(result)[1].argmax(1) == y_t).sum().item()
                    l1 += (result - batch.images).abs().mean(dim=(1, 2, 3)).sum().item()
                    seen += len(batch.labels)
                    if seen >= limit:
                        break
        finally:
            self.train(was)
        n = max(seen, 1)
        return {"critic_acc_real": real_hits / n, "fooling_rate": fooled / n, "l1_per_pixel": l1 / n}
