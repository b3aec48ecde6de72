"""``corruptions``: how each metric responds to noisy and blurred images (Basart 2017, section 3.4.6).

Protocol of the thesis (section 3.4.6, on ImageNet): real images split into train/test, 1,000 further real
images serve as the "samples", and a series of corruptions of rising strength is applied to the samples:
additive Gaussian noise, uniform random noise and Gaussian blur; DDM lost about 10 bits per unit of blur
sigma and about 12 for additive noise.

Here a seeded permutation of ``DATASET:test`` is cut into a reference half T (its first m images) and a
disjoint sample half S (the next m), m = min(--n, |test| // 2). Each registered corruption is applied to S at
each of its strengths and every chosen metric compares T with the corrupted S. Strength 0 leaves S as it is:
the clean-vs-clean value, the first point of every curve. A corruption's noise is drawn once from the seed
and scaled by the strength (common random numbers), and images are rounded back to uint8, the extractors'
input. Blur is ``torchvision.transforms.functional.gaussian_blur``.

Default metrics are those with cheap features: the Frechet distance (``fid``), KID and PRDC on the dataset
classifier's logits, classifier IS, DDM and mode coverage on the same logits, and Parzen on pixels (whose
bandwidth is chosen on ``DATASET:valid[:1000]``, so datasets without a ``valid`` split need ``--metrics``).
``--features F`` puts every chosen metric on F; the record's protocol names the features of each value.
DDM is also given in bits (``ddm_bits``), as the thesis reports it, and pixel Parzen in bits per dimension
(``parzen_bpd``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torchvision.transforms.functional import gaussian_blur

from ..data import load_dataset
from ..errors import GanforgeError
from ..evaluation import Context
from ..features import extract
from ..registry import Registry
from . import EXPERIMENTS, ExperimentOptions
from ._common import Curve, base_protocol, compute_metrics, dataset_name, error_of, panel_keys, \
    plan_embeddings, plot_panels, write_outputs

NAME = "corruptions"
DEFAULT_METRICS = ("fid", "kid", "prdc", "is", "ddm", "modes", "parzen")
CHEAP_FEATURES = {"fid": "classifier", "kid": "classifier", "prdc": "classifier"}


@dataclass(frozen=True)
class Corruption:
    """``apply(x, strength, gen)`` on float images in [0, 1] (N, C, H, W); strength 0 is the identity."""

    apply: Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]
    strengths: tuple[float, ...]
    unit: str


CORRUPTIONS: Registry[Corruption] = Registry("corruption")


def _register(name: str, strengths: tuple[float, ...], unit: str):
    def wrap(fn):
        CORRUPTIONS.register(name)(Corruption(fn, strengths, unit))
        return fn
    return wrap


@_register("gaussian-noise", (0.0, 0.05, 0.1, 0.2, 0.3, 0.5), "std s of N(0, s^2) added to pixels in [0, 1]")
def _gaussian_noise(x: torch.Tensor, s: float, gen: torch.Generator) -> torch.Tensor:
    return x + s * torch.randn(x.shape, generator=gen)


@_register("uniform-noise", (0.0, 0.1, 0.2, 0.4, 0.6, 1.0), "half-width a of U(-a, a) added to pixels in [0, 1]")
def _uniform_noise(x: torch.Tensor, s: float, gen: torch.Generator) -> torch.Tensor:
    return x + s * (2 * torch.rand(x.shape, generator=gen) - 1)


@_register("gaussian-blur", (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
           "sigma in pixels; kernel 2 ceil(3 sigma) + 1, at most 2 min(H, W) - 1")
def _gaussian_blur(x: torch.Tensor, s: float, gen: torch.Generator) -> torch.Tensor:
    k = min(2 * math.ceil(3 * s) + 1, 2 * min(x.shape[-2:]) - 1)
    return gaussian_blur(x, [k, k], [s, s])


def corrupt(images: torch.Tensor, name: str, strength: float, seed: int) -> torch.Tensor:
    """uint8 images (N, C, H, W) after corruption ``name`` at ``strength`` (clipped to [0, 1], rounded)."""
    corruption = CORRUPTIONS.get(name)
    if strength == 0:
        return images.clone()
    x = corruption.apply(images.float() / 255.0, strength, torch.Generator().manual_seed(seed))
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def split_halves(count: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted indices of the reference half (first m of a seeded permutation) and the sample half (next m)."""
    if not 1 <= m <= count // 2:
        raise GanforgeError(f"corruptions: need 1..{count // 2} images per half of the {count} test images, got {m}")
    perm = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return perm[:m].sort().values, perm[m:2 * m].sort().values


@EXPERIMENTS.register(NAME)
def corruptions(options: ExperimentOptions) -> dict:
    """Every chosen metric of T vs corrupted S for each corruption and strength (section 3.4.6)."""
    dataset = dataset_name(options.dataset)
    reference = f"{dataset}:test"
    test = load_dataset(reference, options.data_root)
    m = min(options.n, len(test) // 2)
    ref_idx, sample_idx = split_halves(len(test), m, options.seed)
    embeddings = plan_embeddings(options.metrics or DEFAULT_METRICS, options.features, CHEAP_FEATURES, reference,
                                 options.data_root)
    real = {e.features: extract(e.extractor, test.images[ref_idx]) for e in embeddings}
    ctx = {e.features: Context(reference, e.extractor, options.data_root, options.seed) for e in embeddings}

    dims = int(test.images[0].numel())

    def measure(images: torch.Tensor) -> tuple[dict, dict]:
        values, sources = compute_metrics(embeddings, real, {e.features: extract(e.extractor, images)
                                                             for e in embeddings}, ctx)
        bits = in_bits(values, sources, dims)
        return {**values, **bits}, {**sources, **{k: sources[k.rsplit("_", 1)[0]] for k in bits}}

    samples = test.images[sample_idx]
    clean, sources = measure(samples)
    results = {name: [{"strength": s, "values": clean if s == 0 else
                       measure(corrupt(samples, name, s, options.seed))[0]} for s in c.strengths]
               for name, c in CORRUPTIONS.items()}
    protocol = base_protocol(
        NAME, dataset, options.seed, embeddings, source="Basart 2017 section 3.4.6",
        splits={"reference": f"{reference}[perm[:m]]", "samples": f"{reference}[perm[m:2m]]",
                "perm": "torch.randperm(|test|) seeded with seed"},
        n={"reference": m, "samples": m}, strengths={name: list(c.strengths) for name, c in CORRUPTIONS.items()},
        corruptions={name: c.unit for name, c in CORRUPTIONS.items()}, value_features=sources)
    record = {"protocol": protocol, "clean": clean, "results": results}
    return write_outputs(options.out, NAME, record, lambda path: _plot(record, path))


def in_bits(values: dict, sources: dict, dims: int) -> dict:
    """The thesis' units (section 3.4.6 reports DDM changes in bits): ``ddm_bits`` = DDM / ln 2, and the
    Parzen log-likelihood on pixels as bits per dimension, ``parzen_bpd`` = -log p(x) / (D ln 2)."""
    out = {}
    if "ddm" in values:
        out["ddm_bits"] = values["ddm"] / math.log(2)
    if "parzen" in values and sources.get("parzen") == "pixels":
        out["parzen_bpd"] = -values["parzen"] / (dims * math.log(2))
    return out


def _plot(record: dict, path) -> None:
    proto = record["protocol"]
    panels = {}
    for key in panel_keys(record["clean"]):
        curves = []
        for name, rows in record["results"].items():
            errs = [error_of(key, r["values"]) for r in rows]
            strengths = ", ".join(f"{r['strength']:g}" for r in rows)
            curves.append(Curve(f"{name} ({strengths})", list(range(len(rows))), [r["values"][key] for r in rows],
                                None if None in errs else errs))
        panels[f"{key} [{proto['value_features'][key]}]"] = curves
    title = (f"corruptions on {proto['dataset']}: {proto['n']['reference']} test images vs {proto['n']['samples']} "
             f"other test images, corrupted\n(noise in [0, 1] pixel units, blur sigma in pixels; Basart 2017 "
             f"section 3.4.6)")
    plot_panels(panels, path, "strength level (values in the legend)", title)
