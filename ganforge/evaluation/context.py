"""What a metric wrapper may use besides the two feature arrays: :class:`Context`, and :class:`Extras`
(the details and pictures metrics leave for the report)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data import load_images
from ..errors import GanforgeError
from ..features import FEATURES
from .cache import cached_features
from .inputs import Side


@dataclass
class Extras:
    """What metrics leave besides their numbers: JSON ``details`` and uint8 ``pictures`` (name, array)
    per metric name; :func:`ganforge.evaluation.evaluate_run` writes both into the run's eval record."""

    details: dict[str, dict] = field(default_factory=dict)
    pictures: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)


@dataclass
class Context:
    """What a metric wrapper may use besides the two feature arrays (see ``registry.Metric``).

    The first four fields are all callers must give; ``generated`` (the second input), ``class_names``
    (of the classifier's classes) and ``extras`` are filled in by ``score``. ``notes`` collects
    protocol entries a metric adds (e.g. a warning that Parzen's validation images were trained on).
    """

    reference: str
    extractor: object
    data_root: str | None
    seed: int
    generated: Side | None = None
    class_names: list[str] | None = None
    extras: Extras = field(default_factory=Extras)
    notes: dict[str, dict] = field(default_factory=dict)
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
        return cached_features(self.images(spec), self.extractor)

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
