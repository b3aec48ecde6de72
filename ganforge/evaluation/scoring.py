"""Scoring two image sets: inputs -> features (content-hash cache) -> registered metrics -> result + protocol.

``score(a, b)`` compares any two image sets (``DATASET:SPLIT``, an image folder, an ``.npz``/``.npy`` of
uint8 images, or a run directory, which is sampled). Every result carries a ``protocol`` object naming
everything that produced it: inputs and their content hashes, sizes, seed, extractor and its weights'
sha1, preprocessing, the ganforge version and, for each side that is a run, how it was sampled (``sampling``:
sampler, steps, network evaluations per image and seconds; None for image sets).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .. import __version__
from ..data import parse_spec
from ..errors import GanforgeError
from .cache import cached_features, preprocessing
from .context import Context, Extras, make_extractor, no_labels_error
from .inputs import Side, load_side
from .likelihood import MODEL_METRICS
from .registry import METRICS, SOURCES_MISSING, check_logits

#: what the values of each direction of an unpaired run are called after (none for the default, G: X -> Y)
SUFFIXES = {"xy": "", "yx": "_yx"}
DIRECTION_NOTES = {"yx": "the reverse translator F: Y -> X on test images y of data_target (cycle: G(F(y)) "
                         "against y), scored against data's test split; every value's name ends in _yx"}


def score(input1: str, input2: str, metrics: list[str] | None = None, features: str | None = None,
          n: int = 10_000, seed: int = 0, data_root: str | None = None) -> dict:
    """Metrics comparing ``input1`` (the reference) with ``input2``, plus their ``protocol``."""
    return score_with_extras(input1, input2, metrics, features, n, seed, data_root)[0]


def _check_requirements(specs: dict, features: str | None, gen: Side, input2: str) -> None:
    """User errors before any features are computed: labels, logits and targets the metrics need."""
    for name, spec in specs.items():
        if spec.needs_labels and gen.labels is None:
            raise no_labels_error(name, input2)
        if spec.needs_pairs and gen.targets is None:
            raise GanforgeError(f"{name} compares each output with its own target; {input2} has no targets "
                                f"(expected a run of a paired image-to-image family, e.g. pix2pix)")
        if spec.needs_cycles and gen.reconstructions is None:
            raise GanforgeError(f"{name} compares each reconstruction F(G(x)) with its x; {input2} has none "
                                f"(expected a run of an unpaired image-to-image family, e.g. cyclegan)")
        if spec.needs_sources and gen.sources is None:
            raise GanforgeError(SOURCES_MISSING.format(name=name, spec=input2))
        if spec.needs_logits:
            check_logits(name, features or spec.features)


def score_with_extras(input1: str, input2: str, metrics: list[str] | None = None, features: str | None = None,
                      n: int = 10_000, seed: int = 0, data_root: str | None = None,
                      sampler: Mapping[str, Any] | None = None,
                      checkpoint: str | Path | None = None, direction: str = "xy") -> tuple[dict, Extras]:
    """:func:`score` and the :class:`Extras` (details, pictures) its metrics left; ``sampler``: the sampler
    settings for inputs that are runs of an iterative family (``{"steps": 20}``); ``checkpoint``: the checkpoint
    to sample when ``input2`` is a run (default its latest); ``direction``: ``yx`` scores an unpaired run's
    (CycleGAN's) reverse translator F: Y -> X instead of G, and every value's name ends in ``_yx``."""
    if n < 1:
        raise GanforgeError(f"--n must be a positive number of images, got {n}")
    for name in metrics or []:
        if name in MODEL_METRICS:
            raise GanforgeError(f"{name} needs the trained model, not only its images: use "
                                f"`ganforge eval RUN --metrics {name}`")
    specs = {name: METRICS.get(name) for name in metrics or ["fid", "kid"]}
    groups: dict[str, list[str]] = {}
    for name, spec in specs.items():
        groups.setdefault(features or spec.features, []).append(name)
    ref = load_side(input1, n, seed, data_root, sampler)
    gen = load_side(input2, n, seed, data_root, sampler, checkpoint, direction)
    _check_requirements(specs, features, gen, input2)
    result: dict = {}
    extras = Extras()
    protocol = {"inputs": [input1, input2], "kinds": [ref.kind, gen.kind], "n": [len(ref.images), len(gen.images)],
                "content_sha1": [ref.content, gen.content], "seed": seed, "ganforge_version": __version__,
                "sampling": [ref.sampling, gen.sampling], "features": {}, "metrics": {}}
    if direction != "xy":
        protocol["direction"] = f"{direction}: {DIRECTION_NOTES[direction]}"
    for feat_name, metric_names in groups.items():
        extractor = make_extractor(feat_name, input1, data_root)
        real, fake = (cached_features(s.images, extractor, s.content) for s in (ref, gen))
        _check_comparable(feat_name, real, fake, ref, gen)
        protocol["features"][feat_name] = {**extractor.protocol(), "preprocess": preprocessing(extractor)}
        ctx = Context(input1, extractor, data_root, seed, gen, _class_names(ref, extractor), extras)
        for name in metric_names:
            values = _run_metric(name, specs[name], real, fake, ctx)
            values = {f"{k}{SUFFIXES[direction]}": v for k, v in values.items()}
            result.update(values)
            protocol["metrics"][name] = {"features": feat_name, "values": sorted(values),
                                         "default_features": specs[name].features, **specs[name].params,
                                         **ctx.notes.get(name, {})}
    result["protocol"] = protocol
    return result, extras


def _run_metric(name: str, spec, real, fake, ctx) -> dict:
    """``spec.fn``; a refusal that does not name its metric (a k or subset size too large for ``--n``
    images) is prefixed with the metric and the set sizes."""
    try:
        return spec.fn(real, fake, ctx)
    except GanforgeError as exc:
        if str(exc).startswith(name):
            raise
        raise GanforgeError(f"{name} on {len(real)} and {len(fake)} images: {exc}") from None


def _check_comparable(features: str, real, fake, ref: Side, gen: Side) -> None:
    """Features of the two sides must have one length: extractors that do not resize (pixels) give
    different lengths for images of different sizes."""
    if real.shape[1] != fake.shape[1]:
        shapes = ["x".join(map(str, s.images.shape[1:])) for s in (ref, gen)]
        raise GanforgeError(f"--features {features}: {gen.spec} has {shapes[1]} images and {ref.spec} {shapes[0]}; "
                            f"these features do not resize, so compare images of one size")


def _class_names(reference: Side, extractor) -> list[str] | None:
    """The reference's class names when the extractor is a classifier of the reference's dataset."""
    dataset = getattr(extractor, "dataset", None)
    if dataset is None or reference.kind != "images" or Path(reference.spec).exists():
        return None
    return reference.class_names if parse_spec(reference.spec)[0] == dataset else None


def check_metric_names(text: str | None) -> list[str] | None:
    """``--metrics a,b`` as a list of registered metric names (None: the defaults); the likelihood metrics of
    a run (``ais``, ``iwae``) count too."""
    if not text:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        if name not in MODEL_METRICS and name not in METRICS:
            known = ", ".join(sorted([*METRICS.names(), *MODEL_METRICS.names()]))
            raise GanforgeError(f"unknown metric {name!r} (expected one of: {known})")
    if not names:
        raise GanforgeError("--metrics is empty (expected e.g. fid,kid)")
    return names
