"""Likelihood metrics of a trained model (``ganforge eval RUN --metrics ais,iwae``): they need the model's
decoder and prior, not features of its samples, so they have their own registry beside ``METRICS``.

Each entry is ``fn(model, images, opts) -> (values, protocol)`` over a :class:`TrainedModel` and uint8 test
images; :func:`evaluate_likelihood` writes one record per metric, ``RUN/eval/step-<step>-<metric>.json``
(so ``eval --metrics fid`` and ``eval --metrics ais`` never overwrite each other).

- ``ais``: annealed importance sampling of log p(x) (Wu et al. 2017, "On the Quantitative Analysis of
  Decoder-Based Generative Models"), with a Gaussian observation model N(x; G(z), sigma^2 I) on pixels in
  [0, 1] for a GAN (``--ais-sigma``) and the decoder's own Bernoulli likelihood for a VAE; the BDMC upper
  bound on images simulated from the model checks convergence (their section 4.1).
- ``iwae``: the VAE's importance-weighted bound with k samples (Burda et al. 2016) beside its ELBO.

Values are nats per image (higher is better); ``*_bpd`` gives bits per dimension, -log p(x) / (D ln 2).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from .. import __version__
from ..data import load_images, test_split_of
from ..errors import GanforgeError
from ..fileio import write_json
from ..metrics.ais import AISConfig, Prior, ais_log_likelihood, ais_upper_bound, gaussian_log_likelihood
from ..metrics.iwae import iwae_bound
from ..registry import Registry
from ..training.feed import prepare
from ..training.trained import TrainedModel, load
from .cache import content_hash


@dataclass
class LikelihoodOptions:
    """The CLI's likelihood options: ``n`` test images (the first n of the reference), AIS settings,
    ``sigma`` (a GAN's observation noise in [0, 1] pixel units), ``bdmc_n`` simulated images for the BDMC
    sandwich (0: none) and the IWAE's ``k``."""

    n: int = 100
    sigma: Optional[float] = None
    ais: AISConfig = field(default_factory=AISConfig)
    bdmc_n: int = 10
    iwae_k: int = 1000

    def __post_init__(self) -> None:
        if self.n < 1 or self.bdmc_n < 0 or self.iwae_k < 1:
            raise GanforgeError(f"likelihood options: --ais-n and --iwae-k must be >= 1 and --bdmc-n >= 0 "
                                f"(got {self.n}, {self.iwae_k}, {self.bdmc_n})")
        if self.sigma is not None and not self.sigma > 0:
            raise GanforgeError(f"--ais-sigma must be a positive noise level in [0, 1] pixel units, got {self.sigma}")


@dataclass(frozen=True)
class LatentDecoder:
    """A model as AIS sees it: the prior, log p(x | z) on [0, 1] images, a way to simulate x given z and
    the observation model's name."""

    prior: Prior
    log_lik: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    simulate: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
    observation: str


def latent_decoder(model: TrainedModel, sigma: float | None) -> LatentDecoder:
    """The decoder-based view of a one-pass unconditional model (a GAN generator or a VAE decoder)."""
    family = model.family
    name = model.config.model.family
    if family.conditional or model.paired or family.needs_sources or family.iterative:
        raise GanforgeError(f"ais: model family {name!r} is not an unconditional decoder from a latent prior "
                            f"(expected a GAN or a VAE run)")
    cfg = family.cfg
    prior = Prior("uniform" if cfg.z_dist == "uniform" else "normal", cfg.z_dim, cfg.z_scale)
    g = family.sampler(use_ema=True).eval().requires_grad_(False)  # AIS differentiates in z only
    if family.likelihood == "bernoulli":
        def log_lik(z, x):
            logits = g.logits(z)
            return -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)

        def simulate(z, gen):
            return torch.bernoulli(torch.sigmoid(g.logits(z)), generator=gen)
        return LatentDecoder(prior, log_lik, simulate, "bernoulli (the VAE decoder's own likelihood)")
    if sigma is None or not sigma > 0:
        raise GanforgeError(f"ais on a {name!r} run needs --ais-sigma, the observation noise in [0, 1] pixel units "
                            f"(e.g. 0.05; the ais-sigma experiment scans a grid of them)")

    def mean(z):
        return family.to_unit(family.run_generator(g, z, None).float())

    def simulate(z, gen):
        m = mean(z)
        return m + sigma * torch.randn(m.shape, generator=gen)
    return LatentDecoder(prior, lambda z, x: gaussian_log_likelihood(mean(z), x, sigma), simulate,
                         f"gaussian, sigma {sigma} on pixels in [0, 1]")


MODEL_METRICS: Registry[Callable] = Registry("likelihood metric")


def _bpd(log_px: float, dims: int) -> float:
    return -log_px / (dims * math.log(2))


@MODEL_METRICS.register("ais")
def _ais(model: TrainedModel, x: torch.Tensor, opts: LikelihoodOptions) -> tuple[dict, dict]:
    """AIS log p(x) of the test images (mean over images, its standard error over images, the mean
    per-image standard error over chains) and the BDMC sandwich on ``bdmc_n`` simulated images."""
    dec = latent_decoder(model, opts.sigma)
    res = ais_log_likelihood(x, dec.prior, dec.log_lik, opts.ais)
    lp = res.log_px
    values = {"ais": float(lp.mean()), "ais_se": float(lp.std() / math.sqrt(len(lp))) if len(lp) > 1 else math.nan,
              "ais_chain_se": float(res.se.mean()), "ais_accept": res.accept_rate,
              "ais_bpd": _bpd(float(lp.mean()), x[0].numel())}
    if opts.bdmc_n > 0:
        gen = torch.Generator().manual_seed(opts.ais.seed + 1)
        with torch.no_grad():
            z = dec.prior.sample(opts.bdmc_n, gen)
            sim = dec.simulate(z, gen).float()
        lower = ais_log_likelihood(sim, dec.prior, dec.log_lik, opts.ais).log_px.mean()
        upper = ais_upper_bound(sim, z, dec.prior, dec.log_lik, opts.ais).log_px.mean()
        values.update(bdmc_lower=float(lower), bdmc_upper=float(upper), bdmc_gap=float(upper - lower))
    protocol = {"observation": dec.observation, "prior": asdict(dec.prior), **asdict(opts.ais),
                "bdmc_simulated": opts.bdmc_n, "unit": "nats per image; ais_bpd bits per dimension",
                "reference": "Wu et al. 2017, On the Quantitative Analysis of Decoder-Based Generative Models; "
                             "Grosse et al. 2015 (BDMC)"}
    return values, protocol


@MODEL_METRICS.register("iwae")
def _iwae(model: TrainedModel, x: torch.Tensor, opts: LikelihoodOptions) -> tuple[dict, dict]:
    """The VAE's IWAE bound L_k and its ELBO on the same test images (Burda et al. 2016, eq. 8)."""
    family = model.family
    if family.likelihood != "bernoulli" or not hasattr(family, "vae"):
        raise GanforgeError(f"iwae: model family {model.config.model.family!r} has no encoder (expected a VAE run)")
    values = family.iwae_stats(x, opts.iwae_k, seed=opts.ais.seed)
    values["iwae_bpd"] = _bpd(values["iwae"], x[0].numel())
    protocol = {"k": opts.iwae_k, "likelihood": "bernoulli on pixels in [0, 1]", "prior": "N(0, I)",
                "reference": "Burda et al. 2016, Importance Weighted Autoencoders, eq. 8"}
    return values, protocol


def reference_images(model: TrainedModel, ref: str | None, n: int) -> tuple[str, torch.Tensor]:
    """The first ``n`` reference images at the model's size, as floats in [0, 1] (N, C, H, W)."""
    spec = ref or test_split_of(model.config.data)
    if n < 1:
        raise GanforgeError(f"--ais-n must be a positive number of images, got {n}")
    data = load_images(spec, model.config.data_root)
    data = prepare(data, model.family.shape.image_size)
    images = data.images[:n]
    want = (model.family.shape.channels, model.family.shape.image_size)
    if (images.shape[1], images.shape[2]) != want:
        raise GanforgeError(f"{spec}: images are {images.shape[1]}x{images.shape[2]}px, the model's are "
                            f"{want[0]}x{want[1]}px (channels x size)")
    return spec, images


def evaluate_likelihood(run: str | Path, name: str, opts: LikelihoodOptions, ref: str | None = None,
                        checkpoint: str | Path | None = None) -> tuple[dict, Path]:
    """Compute likelihood metric ``name`` of a run's checkpoint (default its latest) and write its record; its
    protocol's ``request`` holds the options asked for (so :mod:`.history` can tell a record it can reuse)."""
    fn = MODEL_METRICS.get(name)
    model = load(run, checkpoint)
    spec, images = reference_images(model, ref, opts.n)
    values, params = fn(model, images.float() / 255.0, opts)
    protocol = {"inputs": [spec, str(run)], "n": [len(images)], "content_sha1": [content_hash(images, None)],
                "checkpoint": str(model.checkpoint), "step": model.step, "ganforge_version": __version__,
                "seed": opts.ais.seed, "features": {}, "metrics": {name: {"values": sorted(values), **params}},
                "request": {"options": asdict(opts)}}
    result = {**values, "protocol": protocol}
    out = Path(run) / "eval" / f"step-{model.step:07d}-{name}.json"
    write_json(out, result)
    return result, out
