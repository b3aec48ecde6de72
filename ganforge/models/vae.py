"""The variational autoencoder family ``vae`` (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").

As in Skliar's report (section 1.6, Q1.10-1.12): an encoder gives the mean and log-variance of the diagonal
Gaussian q(z|x); z is drawn by the reparameterisation trick z = mean + exp(logvar / 2) * eps, eps ~ N(0, I)
(Kingma & Welling eq. 10 with L = 1); a decoder gives Bernoulli pixel probabilities; the loss is the
negative ELBO (Kingma & Welling eq. 10, the KL in closed form from their appendix B)

    ELBO(x) = sum_m [x_m log p_m + (1 - x_m) log(1 - p_m)] - 1/2 sum_d (mean_d^2 + exp(logvar_d) - logvar_d - 1)

per example, averaged over the batch. The reconstruction term is computed from the decoder's logits with
``binary_cross_entropy_with_logits`` (stable for any logit) on pixels in [0, 1] (grey levels act as soft
targets, as in the seed's and Kingma & Welling's use of MNIST intensities).

With the generic loop: ``trainable()`` is the whole autoencoder under the name "g" (one optimiser,
``g_opt``), ``d_step`` does nothing, ``g_step`` does one ELBO update on the batch. ``self.G`` is the decoder,
so sampling (and the EMA when enabled) use it; ``generate(..., draw=...)`` gives Bernoulli draws (Skliar's report,
Figs. 2-5). ``heldout_stats`` is the test-split ELBO per example (Skliar's report, Fig. 1) and, with
``model.options.iwae_k`` k > 0, the importance-weighted bound L_k on the first ``iwae_n`` test images (Burda et
al. 2016, "Importance Weighted Autoencoders", eq. 8): how far the ELBO is below log p(x) (the report's Q1.4).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError
from ..metrics.iwae import iwae_bound
from ..nets import GENERATORS, build_from_spec
from ..nets.vae import ENCODERS, Decoder, Encoder
from .base import D_HEURISTIC_FIELDS, LOGIT_D_FIELDS, Batch, FAMILIES, Family


def reparameterise(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mean + exp(logvar / 2) * eps with eps ~ N(0, I) (Kingma & Welling 2014, section 2.4); (N, D)."""
    return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) = sum over pixels of x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)), per example (N,)."""
    per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return -per_pixel.flatten(1).sum(1)


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) = 1/2 sum_d (mean^2 + exp(logvar) - logvar - 1), per example (N,)
    (Kingma & Welling 2014, appendix B; Skliar's report, Q1.10)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0).sum(1)


@dataclass
class ElboTerms:
    """Per-example terms (N,): the ELBO = log_lik - kl."""

    log_lik: torch.Tensor
    kl: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        return self.log_lik - self.kl


def elbo_terms(logits: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> ElboTerms:
    """The one-sample ELBO estimate of each example, in fp32."""
    return ElboTerms(bernoulli_log_likelihood(logits.float(), x.float()), gaussian_kl(mean.float(), logvar.float()))


class Autoencoder(nn.Module):
    """Encoder + decoder as one module (the one the optimiser and DDP see):
    x (N, C, H, W) -> (decoder logits (N, C, H, W), mean (N, z_dim), log-variance (N, z_dim))."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(x)
        return self.decoder.logits(reparameterise(mean, logvar)), mean, logvar


@FAMILIES.register("vae")
class VAE(Family):
    """Variational autoencoder with a Bernoulli decoder and a N(0, I) prior; ``model.encoder`` and
    ``model.generator`` (a registered decoder) name the networks, ``model.discriminator`` must be empty."""

    likelihood = "bernoulli"
    out_range = "01"
    # a VAE has no discriminator, so none of the adversarial settings apply
    unused_fields = ("discriminator",) + LOGIT_D_FIELDS + D_HEURISTIC_FIELDS
    neutral_values = MappingProxyType({"discriminator": {}})

    @dataclass
    class Args:
        iwae_k: int = 0      # importance samples of the held-out IWAE bound (0: ELBO only)
        iwae_n: int = 1000   # test images it is computed on (the first ones)

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        _check_prior(cfg)
        if self.args.iwae_k < 0 or self.args.iwae_n < 1:
            raise GanforgeError(f"model.options of family 'vae': iwae_k must be >= 0 and iwae_n >= 1 "
                                f"(got {self.args.iwae_k}, {self.args.iwae_n})")
        decoder = build_from_spec(GENERATORS, cfg.generator, shape, "generator")
        if not isinstance(decoder, Decoder):
            decoders = [n for n, c in GENERATORS.items() if issubclass(c, Decoder)]
            raise GanforgeError(f"model.generator {cfg.generator['name']!r} is not a VAE decoder "
                                f"(expected one of: {', '.join(decoders)})")
        self.vae = Autoencoder(build_from_spec(ENCODERS, cfg.encoder, shape, "encoder"), decoder)

    @property
    def G(self) -> Decoder:
        """The decoder: what sampling, grids and the EMA use."""
        return self.vae.decoder

    def trainable(self) -> dict[str, nn.Module]:
        return {"g": self.vae}

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        return {}

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """One Adam/SGD step on the negative ELBO averaged over the batch."""
        x = batch.images
        with self.autocast():
            logits, mean, logvar = self.net("g")(x)
        terms = elbo_terms(logits, x, mean, logvar)
        loss = -terms.elbo.mean()
        opts["g"].zero_grad(set_to_none=True)
        loss.backward()
        opts["g"].step()
        return {"loss_g": loss.detach(), "recon": -terms.log_lik.mean().detach(), "kl": terms.kl.mean().detach()}

    @torch.no_grad()
    def heldout_stats(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Test-split ELBO per example (one reparameterised sample each) and its two terms, in eval mode; with
        ``iwae_k`` > 0 also the IWAE bound ``test_iwae_<k>`` on the first ``iwae_n`` test images."""
        sums, count = torch.zeros(2, dtype=torch.float64), 0
        kept = []  # the first iwae_n images, for the IWAE bound
        was_training = self.vae.training
        self.vae.eval()
        try:
            for batch in batches:
                logits, mean, logvar = self.vae(batch.images)
                terms = elbo_terms(logits, batch.images, mean, logvar)
                sums += torch.stack([terms.log_lik.sum(), terms.kl.sum()]).double().cpu()
                if self.args.iwae_k > 0 and count < self.args.iwae_n:
                    kept.append(batch.images[: self.args.iwae_n - count])
                count += batch.images.shape[0]
        finally:
            self.vae.train(was_training)
        if count == 0:
            return {}
        log_lik, kl = (sums / count).tolist()
        stats = {"test_elbo": log_lik - kl, "test_recon": -log_lik, "test_kl": kl}
        if kept:
            stats[f"test_iwae_{self.args.iwae_k}"] = self.iwae_stats(torch.cat(kept), self.args.iwae_k)["iwae"]
        return stats

    @torch.no_grad()
    def iwae_stats(self, x: torch.Tensor, k: int, seed: int = 0, chunk: int = 20) -> dict[str, float]:
        """Mean IWAE bound L_k and the mean one-sample ELBO of the same draws over images ``x`` in [0, 1]
        (N, C, H, W), in eval mode, ``chunk`` images (times k samples) at a time; nats per image."""
        gen = torch.Generator().manual_seed(seed)
        was_training = self.vae.training
        self.vae.eval()
        decoder = self.vae.decoder
        try:
            iwae, elbo = [], []
            for lo in range(0, x.shape[0], chunk):
                xb = x[lo:lo + chunk]
                mean, logvar = self.vae.encoder(xb)
                res = iwae_bound(xb, mean.float(), logvar.float(),
                                 lambda z, t: bernoulli_log_likelihood(decoder.logits(z).float(), t.float()), k, gen)
                iwae.append(res.iwae)
                elbo.append(res.elbo)
        finally:
            self.vae.train(was_training)
        return {"iwae": float(torch.cat(iwae).mean()), "iwae_elbo": float(torch.cat(elbo).mean())}


def _check_prior(cfg) -> None:
    """The KL term assumes the N(0, I) prior."""
    if cfg.z_dist != "normal" or cfg.z_scale != 1.0:
        raise GanforgeError(f"family 'vae' has the prior N(0, I): expected model.z_dist 'normal' and "
                            f"z_scale 1 (got {cfg.z_dist!r}, {cfg.z_scale})")
