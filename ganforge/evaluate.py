"""Evaluation orchestration: image sets -> features (reference sides cached) -> metrics -> record + protocol.

``score(a, b)`` compares any two image sets (``DATASET:SPLIT``, an image folder, an ``.npz``/``.npy`` of
uint8 images, or a run directory, which is sampled); ``evaluate_run(run)`` scores a run's latest
checkpoint against its dataset's test split and writes ``RUN/eval/step-<step>.json``. Every result carries
a ``protocol`` object naming everything that produced it: inputs, sizes, seed, extractor and its weights'
sha1, preprocessing and the ganforge version. Metrics are registered wrappers over ``ganforge.metrics``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import __version__
from . import metrics as M
from .data import load_images
from .errors import GanforgeError
from .features import FEATURES, extract
from .fileio import atomic_path, cache_dir, write_json
from .registry import Registry

PREPROCESS = {"inception": "gray tiled to RGB; bilinear resize to 299 (align_corners=False, as pytorch-fid); "
                           "TF input range [-1, 0.9921875]",
              "pixels": "flattened, scaled to [0, 1]",
              "classifier": "uint8 / 255 at the dataset's own size; logits",
              "classifier-prelogits": "uint8 / 255 at the dataset's own size; 128-d prelogits"}


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``fn(real, fake, ctx) -> {name: value}`` and its default features.

    ``ctx`` is a :class:`Context`: the reference spec and a way to get features of other splits of its
    dataset (Parzen's validation set, the training set for memorisation checks).
    """

    fn: Callable[[np.ndarray, np.ndarray, "Context"], dict]
    features: str
    params: dict


METRICS: Registry[Metric] = Registry("metric")


def _register(name: str, features: str, **params):
    def wrap(fn):
        METRICS.register(name)(Metric(fn, features, params))
        return fn
    return wrap


@_register("fid", "inception")
def _fid(real, fake, ctx):
    return {"fid": M.frechet_distance(real, fake)}


@_register("kid", "inception", kernel="(x.y/d + 1)^3", subsets=100, subset_size="min(1000, n1, n2)", seed=0)
def _kid(real, fake, ctx):
    mean, std = M.kid(real, fake, subset_size=min(1000, len(real), len(fake)), subsets=100, seed=0)
    return {"kid": mean, "kid_std": std}


@_register("prdc", "inception", k_precision_recall=3, k_density_coverage=5)
def _prdc(real, fake, ctx):
    precision, recall = M.precision_recall(real, fake, k=3)
    density, coverage = M.density_coverage(real, fake, k=5)
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@_register("ddm", "classifier", distance="||t-g||^2 / 2", equation="seed 004 eq. 3.4")
def _ddm(real, fake, ctx):
    return {"ddm": M.ddm(real, fake)}


@_register("is", "classifier", splits=10, shuffle_seed=0)
def _inception_score(real, fake, ctx):
    """Inception Score of the generated side on the dataset classifier's logits."""
    order = np.random.default_rng(0).permutation(len(fake))  # splits must not follow a class-sorted order
    mean, std = M.inception_score(fake[order], splits=min(10, len(fake)))
    return {"is": mean, "is_std": std}


@_register("modes", "classifier", histogram="argmax of logits")
def _mode_coverage(real, fake, ctx):
    """Mode coverage: classes the classifier finds among generated images and KL(p_gen || p_real)."""
    k = real.shape[1]
    p_real = np.bincount(real.argmax(1), minlength=k) / len(real)
    p_gen = np.bincount(fake.argmax(1), minlength=k) / len(fake)
    hit = p_gen > 0
    kl = float(np.sum(p_gen[hit] * np.log(p_gen[hit] / np.maximum(p_real[hit], 1e-12))))
    return {"classes_hit": int(hit.sum()), "class_kl": kl}


@dataclass
class Context:
    reference: str
    extractor: object
    data_root: str | None
    seed: int

    def dataset_split(self, split: str, what: str) -> str:
        if Path(self.reference).exists() or ":" not in self.reference:
            raise GanforgeError(f"{what} needs a DATASET:SPLIT reference (got {self.reference})")
        return f"{self.reference.split(':', 1)[0]}:{split}"

    def features(self, spec: str) -> np.ndarray:
        images = load_images(spec, self.data_root).images
        return cached_features(spec, "images", images, self.extractor, self.seed)


@_register("parzen", "pixels", sigma_grid="numpy.logspace(-1, 0, 10)", valid="DATASET:valid[:1000]",
           reference="Goodfellow et al. 2014, DESIGN.md section 4")
def _parzen(real, fake, ctx):
    """Parzen-window log-likelihood of the reference (test) images under the generated samples.

    sigma maximises the mean log-likelihood of 1,000 held-out training images (the ``valid`` split);
    the result is the test mean +- its standard error (std / sqrt(n)).
    """
    valid = ctx.features(ctx.dataset_split("valid[:1000]", "parzen"))
    sigma = M.select_parzen_sigma(fake, valid)
    ll = M.parzen_log_likelihood(fake, real, sigma)
    return {"parzen": float(ll.mean()), "parzen_se": float(ll.std() / np.sqrt(len(ll))), "parzen_sigma": sigma}


@_register("memorisation", "pixels", train="DATASET:train", distance="euclidean")
def _memorisation(real, fake, ctx):
    """Generated-to-train vs test-to-train nearest-neighbour distances (seed 004's memorisation check)."""
    summary = M.memorisation_summary(fake, ctx.features(ctx.dataset_split("train", "memorisation")), real)
    return {"nn_median_ratio": summary["median_ratio"], "nn_share_below_test_p1": summary["share_below_test_p1"]}


def make_extractor(name: str, reference: str, data_root: str | None):
    """Build a feature extractor; ``classifier`` means the classifier of the reference dataset."""
    base, _, arg = name.partition(":")
    if base not in ("classifier", "classifier-prelogits"):
        return FEATURES.get(name)()
    dataset = arg or reference.split(":", 1)[0]
    if Path(reference).exists() and not arg:
        raise GanforgeError(f"--features {name}: name the dataset (e.g. {base}:fashion-mnist) when the "
                            f"reference {reference} is not a DATASET:SPLIT")
    return FEATURES.get(base)(dataset, data_root)


# ---------------------------------------------------------------- inputs

def load_input(spec: str, n: int, seed: int, data_root: str | None = None) -> tuple[torch.Tensor, str]:
    """uint8 (N, C, H, W) images of an input and its kind ("run" inputs are sampled, others subsampled)."""
    path = Path(spec)
    if (path / "config.json").is_file():
        from .api import load

        model = load(path)
        return model.sample(n, seed=seed), f"run at step {model.step} ({model.checkpoint.name})"
    images = load_images(spec, data_root).images
    if len(images) > n:
        idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
        images = images[idx.sort().values]
    return images, "images"


def cached_features(spec: str, kind: str, images: torch.Tensor, extractor, seed: int) -> np.ndarray:
    """Features of a fixed input (a dataset or file), cached under a hash of everything that made them:
    input, count, seed, extractor, its weights' sha1 and the ganforge version. Run samples are not cached."""
    if kind != "images":
        return extract(extractor, images)
    key = {"input": spec, "n": len(images), "seed": seed, "extractor": extractor.name,
           "weights_sha1": extractor.weights_hash, "version": __version__}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = cache_dir() / "features" / f"{digest}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    feats = extract(extractor, images)
    with atomic_path(path) as tmp:
        np.save(tmp, feats)
    return feats


def score(input1: str, input2: str, metrics: list[str] | None = None, features: str | None = None,
          n: int = 10_000, seed: int = 0, data_root: str | None = None) -> dict:
    """Metrics comparing ``input1`` (the reference) with ``input2``, plus their ``protocol``."""
    names = metrics or ["fid", "kid"]
    specs = {name: METRICS.get(name) for name in names}
    groups: dict[str, list[str]] = {}
    for name, spec in specs.items():
        groups.setdefault(features or spec.features, []).append(name)
    sides = [load_input(s, n, seed, data_root) for s in (input1, input2)]
    result: dict = {}
    protocol = {"inputs": [input1, input2], "kinds": [k for _, k in sides], "n": [len(i) for i, _ in sides],
                "seed": seed, "ganforge_version": __version__, "features": {}, "metrics": {}}
    for feat_name, metric_names in groups.items():
        extractor = make_extractor(feat_name, input1, data_root)
        feats = []
        for spec, (images, kind) in zip((input1, input2), sides):
            feats.append(cached_features(spec, kind, images, extractor, seed))
        protocol["features"][feat_name] = {**extractor.protocol(),
                                           "preprocess": PREPROCESS.get(feat_name.split(":")[0], "")}
        for name in metric_names:
            result.update(specs[name].fn(feats[0], feats[1], Context(input1, extractor, data_root, seed)))
            protocol["metrics"][name] = {"features": feat_name, **specs[name].params}
    result["protocol"] = protocol
    return result


def training_metrics(images: torch.Tensor, reference: str, data_root: str | None = None) -> dict:
    """Cheap metrics for curves during training (``eval_every``): classifier logits of ``images`` against
    ``reference`` (same count, seed 0): classifier IS, DDM, mode coverage and the Frechet distance of logits."""
    extractor = make_extractor("classifier", reference, data_root)
    ref_images, kind = load_input(reference, len(images), 0, data_root)
    real = cached_features(reference, kind, ref_images, extractor, 0)
    fake = extract(extractor, images)
    ctx = Context(reference, extractor, data_root, 0)
    out = {"fd_logits": M.frechet_distance(real, fake)}
    for name in ("is", "ddm", "modes"):
        out.update(METRICS.get(name).fn(real, fake, ctx))
    return out


def reference_for(run_data: str) -> str:
    """A run's reference set: its dataset's test split (``fashion-mnist:train[:2000]`` -> ``fashion-mnist:test``)."""
    name = run_data.split(":", 1)[0]
    return f"{name}:test"


def evaluate_run(run: str | Path, metrics: list[str] | None = None, features: str | None = None,
                 n: int = 10_000, ref: str | None = None, seed: int = 0) -> tuple[dict, Path]:
    """Score a run's latest checkpoint; writes and returns ``RUN/eval/step-<step>.json``."""
    from .api import load

    model = load(run)
    reference = ref or reference_for(model.config.data)
    result = score(reference, str(run), metrics, features, n, seed, model.config.data_root)
    result["protocol"].update(checkpoint=str(model.checkpoint), step=model.step)
    out = Path(run) / "eval" / f"step-{model.step:07d}.json"
    write_json(out, merge_record(out, result))
    return result, out


def merge_record(path: Path, result: dict) -> dict:
    """Add ``result`` to an existing record of the same checkpoint, inputs, n and seed (else replace it),
    so ``eval --metrics fid`` then ``eval --metrics parzen`` keep both."""
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return result
    same = ("inputs", "n", "seed", "checkpoint", "ganforge_version")
    if any(old.get("protocol", {}).get(k) != result["protocol"].get(k) for k in same):
        return result
    merged = {**old, **result}
    merged["protocol"] = {**old["protocol"], **result["protocol"],
                          "features": {**old["protocol"]["features"], **result["protocol"]["features"]},
                          "metrics": {**old["protocol"]["metrics"], **result["protocol"]["metrics"]}}
    return merged


def check_metric_names(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        METRICS.get(name)
    if not names:
        raise GanforgeError("--metrics is empty (expected e.g. fid,kid)")
    return names
