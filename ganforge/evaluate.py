"""Evaluation orchestration: image sets -> features (reference sides cached) -> metrics -> record + protocol.

``score(a, b)`` compares any two image sets (``DATASET:SPLIT``, an image folder, an ``.npz``/``.npy`` of
uint8 images, or a run directory, which is sampled); ``evaluate_run(run)`` scores a run's latest
checkpoint against its dataset's test split and writes ``RUN/eval/step-<step>.json``. Every result carries
a ``protocol`` object naming everything that produced it: inputs, sizes, seed, extractor and its weights'
sha1, preprocessing and the ganforge version. Metrics are registered wrappers over ``ganforge.metrics``
(in :mod:`ganforge.evaluate_metrics`); what they leave besides numbers (class histograms, the
nearest-neighbour panel) goes into the run's eval record and folder for ``ganforge report``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import __version__
from . import metrics as M
from .data import load_images, parse_spec
from .errors import GanforgeError
from .evaluate_metrics import METRICS, Metric, check_logits, register_metric  # noqa: F401  (re-exported)
from .evaluate_panel import write_png
from .features import FEATURES, extract
from .fileio import atomic_path, cache_dir, write_json

PREPROCESS = {"inception": "gray tiled to RGB; bilinear resize to 299 (align_corners=False, as pytorch-fid); "
                           "TF input range [-1, 0.9921875]",
              "inception-logits": "as inception; then pool_3 @ fc.weight^T (1008 logits, no bias)",
              "pixels": "flattened, scaled to [0, 1]",
              "classifier": "uint8 / 255 at the dataset's own size; logits",
              "classifier-prelogits": "uint8 / 255 at the dataset's own size; 128-d prelogits"}


@dataclass(frozen=True)
class Side:
    """One loaded input: uint8 (N, C, H, W) ``images``, its ``kind`` ("images" or "run at step ..."), the
    class ``labels`` (N,) the images belong to or were generated for (None if unknown) and class names."""

    spec: str
    images: torch.Tensor
    kind: str
    labels: torch.Tensor | None = None
    class_names: list[str] | None = None


@dataclass
class Extras:
    """What metrics leave besides their numbers: JSON ``details`` and uint8 ``pictures`` (name, array)
    per metric name; :func:`evaluate_run` writes both into the run's eval record and folder."""

    details: dict[str, dict] = field(default_factory=dict)
    pictures: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)


@dataclass
class Context:
    """What a metric wrapper may use besides the two feature arrays (see :class:`Metric`).

    The first four fields are all callers must give; ``generated`` (the second input), ``class_names``
    (of the classifier's classes) and ``extras`` are filled in by :func:`score`.
    """

    reference: str
    extractor: object
    data_root: str | None
    seed: int
    generated: Side | None = None
    class_names: list[str] | None = None
    extras: Extras = field(default_factory=Extras)
    _loaded: dict = field(default_factory=dict, init=False, repr=False)

    def dataset_split(self, split: str, what: str) -> str:
        if Path(self.reference).exists() or ":" not in self.reference:
            raise GanforgeError(f"{what} needs a DATASET:SPLIT reference (got {self.reference})")
        return f"{self.reference.split(':', 1)[0]}:{split}"

    def images(self, spec: str) -> torch.Tensor:
        """uint8 images of a dataset split (loaded once per context)."""
        if spec not in self._loaded:
            self._loaded[spec] = load_images(spec, self.data_root).images
        return self._loaded[spec]

    def features(self, spec: str) -> np.ndarray:
        return cached_features(spec, "images", self.images(spec), self.extractor, self.seed)

    def generated_labels(self, metric: str) -> torch.Tensor:
        """The labels the generated images were made for; a user error when the input has none."""
        if self.generated is None or self.generated.labels is None:
            raise no_labels_error(metric, self.generated.spec if self.generated else "the generated input")
        return self.generated.labels

    def keep(self, metric: str, details: dict, picture: tuple[str, np.ndarray] | None = None) -> None:
        """Leave JSON ``details`` and optionally a (name, uint8 array) picture for the eval record."""
        self.extras.details[metric] = details
        if picture is not None:
            self.extras.pictures[metric] = picture


def no_labels_error(metric: str, spec: str) -> GanforgeError:
    return GanforgeError(f"{metric}: {spec} has no class labels (expected a conditional run, a labelled "
                         "DATASET:SPLIT or an .npz with a 'labels' array)")


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
    side = load_side(spec, n, seed, data_root)
    return side.images, side.kind


def load_side(spec: str, n: int, seed: int, data_root: str | None = None) -> Side:
    """An input as a :class:`Side`: a run directory is sampled (a conditional one with balanced labels
    ``i mod K``); an image set keeps a random ``n`` of its images (in order) and their labels."""
    if (Path(spec) / "config.json").is_file():
        return _sample_run(spec, n, seed)
    data = load_images(spec, data_root)
    images, labels = data.images, data.labels
    if len(images) > n:
        idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        images, labels = images[idx], labels[idx]
    labelled = data.num_classes > 0 and bool((labels >= 0).all())
    return Side(spec, images, "images", labels if labelled else None, data.class_names)


def _sample_run(spec: str, n: int, seed: int) -> Side:
    from .api import load

    model = load(spec)
    kind = f"run at step {model.step} ({model.checkpoint.name})"
    if not model.conditional:
        return Side(spec, model.sample(n, seed=seed), kind)
    labels = torch.arange(n) % model.num_classes
    return Side(spec, model.sample(n, seed=seed, labels=labels), f"{kind}, labels i mod {model.num_classes}",
                labels)


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
    return score_with_extras(input1, input2, metrics, features, n, seed, data_root)[0]


def score_with_extras(input1: str, input2: str, metrics: list[str] | None = None, features: str | None = None,
                      n: int = 10_000, seed: int = 0, data_root: str | None = None) -> tuple[dict, Extras]:
    """:func:`score` and the :class:`Extras` (details, pictures) its metrics left."""
    specs = {name: METRICS.get(name) for name in metrics or ["fid", "kid"]}
    groups: dict[str, list[str]] = {}
    for name, spec in specs.items():
        groups.setdefault(features or spec.features, []).append(name)
    ref, gen = (load_side(s, n, seed, data_root) for s in (input1, input2))
    for name, spec in specs.items():  # user errors before any features are computed
        if spec.needs_labels and gen.labels is None:
            raise no_labels_error(name, input2)
        if spec.needs_logits:
            check_logits(name, features or spec.features)
    result: dict = {}
    extras = Extras()
    protocol = {"inputs": [input1, input2], "kinds": [ref.kind, gen.kind], "n": [len(ref.images), len(gen.images)],
                "seed": seed, "ganforge_version": __version__, "features": {}, "metrics": {}}
    for feat_name, metric_names in groups.items():
        extractor = make_extractor(feat_name, input1, data_root)
        real, fake = (cached_features(s.spec, s.kind, s.images, extractor, seed) for s in (ref, gen))
        protocol["features"][feat_name] = {**extractor.protocol(),
                                           "preprocess": PREPROCESS.get(feat_name.split(":")[0], "")}
        ctx = Context(input1, extractor, data_root, seed, gen, _class_names(ref, extractor), extras)
        for name in metric_names:
            values = specs[name].fn(real, fake, ctx)
            result.update(values)
            protocol["metrics"][name] = {"features": feat_name, "values": sorted(values), **specs[name].params}
    result["protocol"] = protocol
    return result, extras


def _class_names(reference: Side, extractor) -> list[str] | None:
    """The reference's class names when the extractor is a classifier of the reference's dataset."""
    dataset = getattr(extractor, "dataset", None)
    if dataset is None or reference.kind != "images" or Path(reference.spec).exists():
        return None
    return reference.class_names if parse_spec(reference.spec)[0] == dataset else None


def training_metrics(images: torch.Tensor, reference: str, data_root: str | None = None,
                     labels: torch.Tensor | None = None) -> dict:
    """Cheap metrics for curves during training (``eval_every``): classifier logits of ``images`` against
    ``reference`` (same count, seed 0): classifier IS, DDM, mode coverage and the Frechet distance of logits;
    with the ``labels`` the images were generated for, also the conditional accuracy ``cond_acc``."""
    extractor = make_extractor("classifier", reference, data_root)
    ref_images, kind = load_input(reference, len(images), 0, data_root)
    real = cached_features(reference, kind, ref_images, extractor, 0)
    fake = extract(extractor, images)
    ctx = Context(reference, extractor, data_root, 0)
    out = {"fd_logits": M.frechet_distance(real, fake)}
    for name in ("is", "ddm", "modes"):
        out.update(METRICS.get(name).fn(real, fake, ctx))
    if labels is not None:
        out["cond_acc"] = M.conditional_accuracy(fake, labels)
    return out


def reference_for(run_data: str) -> str:
    """A run's reference set: its dataset's test split (``fashion-mnist:train[:2000]`` -> ``fashion-mnist:test``)."""
    name = run_data.split(":", 1)[0]
    return f"{name}:test"


def evaluate_run(run: str | Path, metrics: list[str] | None = None, features: str | None = None,
                 n: int = 10_000, ref: str | None = None, seed: int = 0) -> tuple[dict, Path]:
    """Score a run's latest checkpoint; writes and returns ``RUN/eval/step-<step>.json``.

    The record also keeps what the report shows beyond the numbers: ``details`` per metric (class
    histograms, nearest-neighbour rows) and the pictures beside it (``step-<step>-neighbours.png``),
    named in those details. The returned result holds the numbers and protocol only."""
    from .api import load

    model = load(run)
    reference = ref or reference_for(model.config.data)
    result, extras = score_with_extras(reference, str(run), metrics, features, n, seed, model.config.data_root)
    result["protocol"].update(checkpoint=str(model.checkpoint), step=model.step)
    out = Path(run) / "eval" / f"step-{model.step:07d}.json"
    record = {**result, "details": write_pictures(extras, out)} if extras.details else result
    write_json(out, merge_record(out, record))
    return result, out


def write_pictures(extras: Extras, record: Path) -> dict:
    """Write each picture beside ``record`` as ``<record stem>-<name>.png``; the details, each naming its
    picture file under ``picture``."""
    details = {metric: dict(d) for metric, d in extras.details.items()}
    for metric, (name, picture) in extras.pictures.items():
        path = write_png(picture, record.with_name(f"{record.stem}-{name}.png"))
        details.setdefault(metric, {})["picture"] = path.name
    return details


def merge_record(path: Path, result: dict) -> dict:
    """Add ``result`` to an existing record of the same checkpoint, inputs, n and seed (else replace it),
    so ``eval --metrics fid`` then ``eval --metrics parzen`` keep both (numbers, protocol and details)."""
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
    details = {**old.get("details", {}), **result.get("details", {})}
    if details:
        merged["details"] = details
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
