"""Evaluation inputs: any image set ``score`` accepts, loaded as a :class:`Side` (uint8 images + labels).

An input is ``DATASET:SPLIT``, an image folder, an ``.npz``/``.npy`` of uint8 images, or a run directory,
which is sampled from its latest checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from ..data import load_images, test_split_of
from ..errors import GanforgeError
from ..models import SamplerRequest, to_uint8
from ..training.trained import load
from .cache import content_hash


#: which translator of an unpaired run (CycleGAN) is scored: G: X -> Y (``xy``) or F: Y -> X (``yx``)
DIRECTIONS = ("xy", "yx")


@dataclass(frozen=True)
class Side:
    """One loaded input: uint8 (N, C, H, W) ``images``, its ``kind`` ("images" or "run at step ..."), the
    class ``labels`` (N,) the images belong to or were generated for (None if unknown), class names and the
    ``content`` hash of images and labels (the feature cache's key, recorded in the protocol)."""

    spec: str
    images: torch.Tensor
    kind: str
    labels: torch.Tensor | None = None
    class_names: list[str] | None = None
    content: str = ""
    trained_on: str | None = None  # a run's training data spec (None for image sets)
    #: how a run was sampled (``TrainedModel.sample_timed``: sampler, steps, network evaluations per image,
    #: seconds); None for image sets
    sampling: dict | None = None
    inputs: torch.Tensor | None = None  # a paired run's (pix2pix) inputs of ``images``, uint8 (N, C, H, W)
    targets: torch.Tensor | None = None  # ... and the targets ``images`` should match, uint8 (N, C, H, W)
    #: an unpaired run's (CycleGAN) translations of ``images`` back into ``inputs``' domain, F(G(x)) (G(F(y))
    #: for the direction ``yx``), uint8
    reconstructions: torch.Tensor | None = None
    #: an image-modifying run's (ModNet) real image that each of ``images`` modifies, uint8 (N, C, H, W)
    sources: torch.Tensor | None = None


def make_side(spec: str, images: torch.Tensor, kind: str, labels: torch.Tensor | None = None,
              class_names: list[str] | None = None, trained_on: str | None = None,
              sampling: dict | None = None, inputs: torch.Tensor | None = None,
              targets: torch.Tensor | None = None, reconstructions: torch.Tensor | None = None,
              sources: torch.Tensor | None = None) -> Side:
    return Side(spec, images, kind, labels, class_names, content_hash(images, labels), trained_on, sampling,
                inputs, targets, reconstructions, sources)


def load_input(spec: str, n: int, seed: int, data_root: str | None = None) -> tuple[torch.Tensor, str]:
    """uint8 (N, C, H, W) images of an input and its kind ("run" inputs are sampled, others subsampled)."""
    side = load_side(spec, n, seed, data_root)
    return side.images, side.kind


def load_side(spec: str, n: int, seed: int, data_root: str | None = None,
              sampler: Mapping[str, Any] | None = None, checkpoint: str | Path | None = None,
              direction: str = "xy") -> Side:
    """An input as a :class:`Side`: a run directory is sampled from its latest checkpoint or ``checkpoint`` (a
    conditional one with balanced labels ``i mod K``; ``sampler``: an iterative family's sampler settings, e.g.
    ``{"steps": 20}``; a paired one, pix2pix, translates n test inputs and keeps inputs and targets; an unpaired
    one, CycleGAN, translates n test images of ``data`` and keeps them and their reconstructions, or with
    ``direction="yx"`` n test images of ``data_target`` through F); an image set keeps a random ``n`` of its
    images (in order) and their labels."""
    if direction not in DIRECTIONS:
        raise GanforgeError(f"--direction {direction!r} is not one of: {', '.join(DIRECTIONS)}")
    if (Path(spec) / "config.json").is_file():
        return _sample_run(spec, n, seed, sampler or {}, checkpoint, direction)
    if direction != "xy":
        raise no_reverse_error(spec)
    data = load_images(spec, data_root)
    images, labels = data.images, data.labels
    if len(images) > n:
        idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        images, labels = images[idx], labels[idx]
    labelled = data.num_classes > 0 and bool((labels >= 0).all())
    return make_side(spec, images, "images", labels if labelled else None, data.class_names)


def no_reverse_error(spec: str) -> GanforgeError:
    return GanforgeError(f"--direction yx scores the reverse translator F: Y -> X of an unpaired run (e.g. cyclegan); "
                         f"{spec} is not one")


def _sample_run(spec: str, n: int, seed: int, sampler: Mapping[str, Any], checkpoint: str | Path | None,
                direction: str = "xy") -> Side:
    model = load(spec, checkpoint)
    kind = f"run at step {model.step} ({model.checkpoint.name})"
    data = model.config.data
    if model.unpaired:
        return _translate_run(spec, model, n, seed, sampler, kind, direction)
    if direction != "xy":
        raise no_reverse_error(spec)
    if model.paired:  # outputs for n test inputs, each with its input and target (paired metrics)
        with model.family.sampling(SamplerRequest(**sampler)) as record:  # one pass: refuses sampler settings
            inputs, outputs, targets = model.pairs(n, seed=seed)
        return make_side(spec, outputs, f"{kind}, outputs for {n} test pairs", trained_on=data, sampling=record,
                         inputs=inputs, targets=targets)
    if not model.conditional:
        images, record = model.sample_timed(n, seed=seed, **sampler)
        return make_side(spec, images, kind, trained_on=data, sampling=record)
    labels = torch.arange(n) % model.num_classes
    images, record = model.sample_timed(n, seed=seed, labels=labels, **sampler)
    sources = _sources(model, n, seed) if model.family.needs_sources else None
    return make_side(spec, images, f"{kind}, labels i mod {model.num_classes}", labels, trained_on=data,
                     sampling=record, sources=sources)


def _sources(model, n: int, seed: int) -> torch.Tensor:
    """The real images an image-modifying run (ModNet) modified in ``sample(n, seed)``: its latents are its
    sources, drawn by the same ``sample_latent`` call with the same seed, as uint8 (N, C, H, W)."""
    family = model.family
    z = family.sample_latent(n, torch.Generator().manual_seed(seed), device="cpu")  # (N, C*H*W) in G's range
    shape = family.shape
    x = z.view(n, shape.channels, shape.image_size, shape.image_size)
    return to_uint8((x + 1) / 2 if family.out_range == "pm1" else x)


def _translate_run(spec: str, model, n: int, seed: int, sampler: Mapping[str, Any], kind: str,
                   direction: str = "xy") -> Side:
    """An unpaired run's translations G(x) of n test images x of its ``data``, with x and F(G(x)); labelled with
    the class of ``data_target`` when its test split is of one class (the target-class share). Direction
    ``yx``: F(y) of n test images y of ``data_target``, with y and G(F(y)), labelled with ``data``'s class."""
    with model.family.sampling(SamplerRequest(**sampler)) as record:  # one pass: refuses sampler settings
        inputs, outputs, reconstructions = model.translations(n, seed=seed, direction=direction)
    cfg = model.config
    source, target = (cfg.data, cfg.data_target) if direction == "xy" else (cfg.data_target, cfg.data)
    classes = load_images(test_split_of(target), cfg.data_root).labels.unique()
    one_class = len(classes) == 1 and int(classes[0]) >= 0
    labels = torch.full((n,), int(classes[0]), dtype=torch.int64) if one_class else None
    note = f", target class {int(classes[0])}" if one_class else ""
    how = "translations" if direction == "xy" else "F: Y -> X translations"
    return make_side(spec, outputs, f"{kind}, {how} of {n} images of {test_split_of(source)}{note}", labels,
                     trained_on=target, sampling=record, inputs=inputs, reconstructions=reconstructions)
