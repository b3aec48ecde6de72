"""The feature cache: features of an image set, stored under a hash of everything that produced them.

The key is the *content* -- a sha1 of the uint8 images (bytes and shape) and their labels -- plus the
extractor, its weights' sha1, its preprocessing and the ganforge version (the stylegan2-ada metric
cache's recipe). A file re-sampled under the same name, a relative path seen from another folder or
another ``--data-root`` therefore never returns another set's features, and a checkpoint scored twice
(``eval --metrics fid`` then ``--metrics prdc``) computes its Inception features once. Entries are
written atomically (temp file, then rename) under ``$GANFORGE_CACHE/features``.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from .. import __version__
from ..features import extract
from ..fileio import atomic_path, cache_dir

PREPROCESS = {"inception": "gray tiled to RGB; bilinear resize to 299 (align_corners=False, as pytorch-fid); "
                           "TF input range [-1, 0.9921875]",
              "inception-logits": "as inception; then pool_3 @ fc.weight^T (1008 logits, no bias)",
              "pixels": "flattened, scaled to [0, 1]",
              "classifier": "uint8 / 255 at the dataset's own size; logits",
              "classifier-prelogits": "uint8 / 255 at the dataset's own size; 128-d prelogits"}


def preprocessing(extractor) -> str:
    """What the extractor does to the uint8 images before its network (recorded and part of the key)."""
    base = extractor.name.split(":")[0]
    if base == "classifier" and extractor.name.endswith(":prelogits"):
        base = "classifier-prelogits"
    return PREPROCESS.get(base, "")


def content_hash(images: torch.Tensor, labels: torch.Tensor | None = None) -> str:
    """sha1 of uint8 images (N, C, H, W) -- shape and bytes -- and, when given, their int64 labels (N,)."""
    h = hashlib.sha1()
    h.update(repr(tuple(images.shape)).encode())
    h.update(images.contiguous().numpy().tobytes())
    if labels is not None:
        h.update(b"labels")
        h.update(labels.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


def cached_features(images: torch.Tensor, extractor, content: str | None = None) -> np.ndarray:
    """Features (N, D) of ``images`` from ``extractor``, from the cache when the same content met the same
    extractor, weights, preprocessing and version before. ``content`` is :func:`content_hash` of the
    images when the caller has it already."""
    key = {"content_sha1": content or content_hash(images), "extractor": extractor.name,
           "weights_sha1": extractor.weights_hash, "preprocess": preprocessing(extractor),
           "version": __version__}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    path = cache_dir() / "features" / f"{digest}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):  # a damaged entry is recomputed and replaced
            pass
    feats = extract(extractor, images)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, feats)
    return feats
