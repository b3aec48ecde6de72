"""SRGAN (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network"): a residual generator with sub-pixel upsampling that maps a low-resolution image to an r times
larger one, trained first on the pixel MSE (SRResNet) and then as a GAN with a perceptual loss.

- Pairs: the run's images are the high-resolution targets I^HR (N, C, H, W); each input I^LR is its r x r box
  average rounded to uint8 (:func:`ganforge.data.pairs.box_downscale`, r = the generator's ``scale``), so
  G maps (N, C, H/r, W/r) -> (N, C, H, W). (The paper downsamples with a bicubic kernel; the box average is
  the low-resolution image of pix2pix's ``downscale:F`` task, so the two families see the same information.)
- G: ``srresnet`` (:mod:`ganforge.nets.srresnet`, Fig. 4: B residual blocks, PixelShuffle upsampling, PReLU).
- D: a plain discriminator of the HR image alone (``srgan-d``, Fig. 4, scaled to 28 px), with the
  registered ``model.loss`` (``ns``: eq. 2 for D, eq. 6's -log D(G(I^LR)) for G).
- Phase 1, steps [0, ``pretrain_steps``): SRResNet-MSE, G alone descends the pixel MSE (eq. 4); D is not
  updated and its d_step returns nothing. Phase 2, from ``pretrain_steps`` on: G descends the perceptual loss
  l_X + ``adversarial_weight`` (10^-3) l_Gen (eq. 3) with the content loss ``content`` (:mod:`.srgan_content`:
  ``classifier``, eq. 5 on the dataset classifier's features in place of VGG, or ``mse``, eq. 4: SRGAN-MSE),
  and D is updated once per step before it. The paper initialises the GAN's generator with the trained
  SRResNet; here the same generator simply continues, and G's optimiser state is cleared at the first GAN
  step, so its Adam moments start afresh as in a new training run. The phase is a pure function of the step,
  so a resumed run continues exactly across the boundary.
- The paper's optimiser is Adam with beta1 = 0.9 and lr 10^-4 (10^6 SRResNet updates; 10^5 GAN updates at
  10^-4 then 10^5 at 10^-5); the presets keep the rates and scale the step counts to a CPU (no lr drop).

Sampling, grids and held-out scores follow pix2pix (:class:`~.pix2pix.PairedFamily`): a latent is a flattened
(I^LR, I^HR) pair from the source set; what grids show as the input, and what the ``*_input`` scores of
``eval_every`` and ``ganforge eval --metrics l1,psnr,ssim`` measure, is the bicubic upsampling of I^LR
(:func:`ganforge.data.pairs.bicubic_upscale`), the paper's baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..data.pairs import bicubic_upscale, box_downscale
from ..errors import GanforgeError
from ..losses.srgan import ADVERSARIAL_WEIGHT, perceptual_loss, pixel_mse
from ..nets import DISCRIMINATORS, GENERATORS, build_from_spec, make_args
from .base import FAMILIES, Batch, to_uint8
from .gan import prepare_discriminator, update_discriminator, with_penalty
from .pix2pix import PairedFamily
from .srgan_content import CONTENT_LOSSES


@FAMILIES.register("srgan")
class SRGAN(PairedFamily):
    """G: I^LR -> I^SR (SRResNet), D: I -> logit; MSE pre-training, then content + 10^-3 adversarial loss."""

    unused_fields = ("encoder", "z_dist", "z_scale", "label_smoothing", "noisy_labels", "noisy_labels_range",
                     "instance_noise", "instance_noise_steps")

    @dataclass
    class Args:
        pretrain_steps: int = 1000          # SRResNet-MSE steps before the GAN phase
        content: str = "classifier"         # classifier (eq. 5) | mse (eq. 4): the GAN phase's content loss
        content_layer: int = 4              # content=classifier: the K-th ReLU's output of the classifier
        classifier_init: str = ""           # content=classifier: dataset:NAME | a classifier .safetensors
        classifier_net: str = "small-cnn"   # content=classifier: the network of that classifier
        adversarial_weight: float = ADVERSARIAL_WEIGHT  # the 10^-3 of eq. 3

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.args = args = make_args(type(self), cfg.options, typed=True)
        if args.pretrain_steps < 0 or not args.adversarial_weight >= 0:
            raise GanforgeError(f"srgan: model.options.pretrain_steps and adversarial_weight must be >= 0, got "
                                f"{args.pretrain_steps} and {args.adversarial_weight}")
        unconditional = replace(shape, num_classes=0)  # the low-resolution image is the only condition
        self.G = build_from_spec(GENERATORS, cfg.generator, unconditional, "generator")
        if not getattr(self.G, "takes_images", False) or getattr(self.G, "scale", 1) < 2:
            raise GanforgeError(f"model.generator {cfg.generator['name']!r} does not fit family 'srgan' (it needs "
                                f"a super-resolution generator that upsamples, e.g. srresnet)")
        self.scale = self.G.scale
        self.D = build_from_spec(DISCRIMINATORS, cfg.discriminator, unconditional, "discriminator")
        if self.D.kind != "plain":
            raise GanforgeError(f"model.discriminator {cfg.discriminator['name']!r} is a {self.D.kind} "
                                f"discriminator; family 'srgan' needs a plain one (e.g. srgan-d)")
        self.loss = prepare_discriminator(self.D, cfg)
        self.content = CONTENT_LOSSES.get(args.content)(shape, args)
        self.out_range = self.G.out_range
        self._fresh_at = -1  # the step at which G's optimiser state was last cleared

    # ---- pairs: small inputs, shown (and scored as the baseline) upsampled bicubically
    def make_paired_inputs(self, images: torch.Tensor) -> torch.Tensor:
        return box_downscale(images.cpu(), self.scale)  # (M, C, H/r, W/r)

    def input_shape(self) -> tuple[int, int, int]:
        s = self.shape
        return s.channels, s.image_size // self.scale, s.image_size // self.scale

    def shown_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The bicubic upsampling of I^LR (N, C, h, w) in [-1, 1]: uint8 (N, C, H, W)."""
        return bicubic_upscale(to_uint8(self.to_unit(x.cpu())), (self.shape.image_size,) * 2)

    def init_from_data(self, mean_image: torch.Tensor) -> None:
        """The content loss's fixed network gets its weights (before any resume)."""
        self.content.load_weights(self.data_root)

    # ---- the two phases
    def pretraining(self) -> bool:
        """Whether the current step (``self.step``, set by the loop) is in the SRResNet-MSE phase."""
        return self.step < self.args.pretrain_steps

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """GAN phase: D descends the registered loss on I^HR as real and G(I^LR) as fake (eq. 2)."""
        if self.pretraining():
            return {}
        x, y = self._pair(batch)
        with torch.no_grad(), self.autocast():
            fake = self.net("g")(x)  # (N, C, H, W)
        with self.autocast():
            real_out, fake_out = self.net("d")(y), self.net("d")(fake)  # (N,) each
        real_out, fake_out = real_out.float(), fake_out.float()
        stats: dict[str, torch.Tensor] = {}
        loss = with_penalty(self, self.net("d"), y, fake, self.loss.d_loss(real_out, fake_out), stats)
        return update_discriminator(self, loss, loss, real_out, fake_out, opts, stats)

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """Phase 1: the pixel MSE (eq. 4), logged as ``loss_mse``. Phase 2: content + 10^-3 adversarial (eq. 3),
        logged as ``loss_content`` and ``loss_g`` (the adversarial part), with the pixel MSE as ``loss_mse``."""
        x, y = self._pair(batch)
        if self.pretraining():
            with self.autocast():
                fake = self.net("g")(x)  # (N, C, H, W)
            loss = pixel_mse(fake, y)
            opts["g"].zero_grad(set_to_none=True)
            loss.backward()
            opts["g"].step()
            return {"loss_mse": loss.detach()}
        if self.step == self.args.pretrain_steps and self._fresh_at != self.step:
            opts["g"].state.clear()  # the GAN phase starts its generator's optimiser afresh
            self._fresh_at = self.step
        with self.d_held():
            with self.autocast():
                fake = self.net("g")(x)  # (N, C, H, W)
                fake_out = self.net("d")(fake)  # (N,)
                content = self.content(fake, y).float()
            adversarial = self.loss.g_loss(fake_out.float())
            loss = perceptual_loss(content, adversarial, self.args.adversarial_weight)
            opts["g"].zero_grad(set_to_none=True)
            loss.backward()
        opts["g"].step()
        return {"loss_g": adversarial.detach(), "loss_content": content.detach(),
                "loss_mse": pixel_mse(fake.detach(), y)}
