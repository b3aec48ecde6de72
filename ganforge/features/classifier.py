"""``classifier``: a small CNN trained on a dataset's train split, giving ``logits`` and ``prelogits``.

This is the embedding the thesis (Basart 2017, chapter 3) uses for the Distribution Divergence Measure, and
it gives a dataset-specific Inception Score, class histograms (mode coverage) and conditional accuracy.
No maintained package ships classifiers for these datasets, so ganforge trains one on first use (a few
CPU minutes for Fashion-MNIST), stores it as safetensors with a JSON record of its test accuracy under
``~/.cache/ganforge/classifiers`` (``$GANFORGE_CACHE``), and reuses it afterwards.

Networks (any C x H x W; registered in ``CLASSIFIER_NETS``, named by the recipe's ``net``):

- ``small-cnn`` (the metric classifier): conv3x3 32 BN ReLU, conv3x3 32 BN ReLU, maxpool 2, conv3x3 64 BN
  ReLU, conv3x3 64 BN ReLU, adaptive avg-pool 4x4, fc 128 ReLU (the prelogits), dropout 0.3, fc K (logits).
- ``shallow``: one conv5x5 8 ReLU layer, maxpool 4, fc K: the deliberately weak classifier of the thesis'
  interpretability experiment (section 2.5.3), whose decisions a small change of the image can flip. Metrics
  never use it: :func:`load_classifier` takes ``small-cnn`` unless asked otherwise.
Training: Adam 1e-3 with cosine decay, batch 128, random 2-pixel shifts, 10 epochs, seed 0, fp32. (bf16
autocast is emulated on CPUs without AVX-512 BF16/AMX and ran this network ~20x slower there; fp32 also keeps
one recipe's weights the same kind of number on every machine. The recipe records the precision, so a cached
classifier trained under another precision is never mistaken for this one.)
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from ..data import DATASETS, load_dataset, parse_spec
from ..errors import GanforgeError
from ..fileio import atomic_path, cache_dir, sha1_of, write_json
from ..registry import Registry
from .base import FEATURES, FeatureExtractor, check_images

ARCH_VERSION = 1


@dataclass(frozen=True)
class ClassifierRecipe:
    dataset: str
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    arch: int = ARCH_VERSION
    precision: str = "fp32"


    net: str = "small-cnn"

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


CLASSIFIER_NETS: Registry = Registry("classifier network")


@CLASSIFIER_NETS.register("small-cnn")
class SmallCNN(nn.Module):
    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.body = nn.Sequential(
            *block(channels, 32), *block(32, 32), nn.MaxPool2d(2),  # (N, 32, H/2, W/2)
            *block(32, 64), *block(64, 64), nn.AdaptiveAvgPool2d(4),  # (N, 64, 4, 4)
            nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(),  # (N, 128) prelogits
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, num_classes))  # (N, K) logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pre = self.body(x)
        return self.head(pre), pre


@CLASSIFIER_NETS.register("shallow")
class ShallowCNN(nn.Module):
    """One convolution layer: the weak classifier of the interpretability experiment (see module doc)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 8, 5, padding=2), nn.ReLU(),  # (N, 8, H, W)
            nn.MaxPool2d(4), nn.Flatten(),  # (N, 8 * (H/4) * (W/4))
        )
        self.head = nn.Sequential(nn.LazyLinear(num_classes))  # (N, K); its input size follows the image size

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pre = self.body(x)
        return self.head(pre), pre


def build_classifier(net: str, channels: int, num_classes: int, image_size: int) -> nn.Module:
    """A registered classifier network with every parameter materialised (one dry run on a blank image)."""
    model = CLASSIFIER_NETS.get(net)(channels, num_classes)
    with torch.no_grad():
        model.eval()(torch.zeros(1, channels, image_size, image_size))
    return model.train()


def empty_classifier(channels: int, num_classes: int, net: str = "small-cnn", image_size: int = 28) -> nn.Module:
    """A classifier to load weights into, built in a forked RNG: its throw-away initialisation (e.g. during a
    GAN's ``eval_every``) never moves the caller's random streams."""
    with torch.random.fork_rng(devices=[]):
        return build_classifier(net, channels, num_classes, image_size)


def _paths(recipe: ClassifierRecipe) -> tuple[Path, Path]:
    base = cache_dir() / "classifiers" / f"{recipe.dataset}-{recipe.key()}"
    return base.with_suffix(".safetensors"), base.with_suffix(".json")


def _shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random translations of up to 2 pixels (pad with zeros, crop), the usual light augmentation."""
    dx, dy = torch.randint(-2, 3, (2,), generator=gen).tolist()
    return torch.roll(F.pad(x, (2, 2, 2, 2)), shifts=(dy, dx), dims=(2, 3))[..., 2:-2, 2:-2]


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    model.eval()
    hits = sum((model(images[i:i + batch].float() / 255.0)[0].argmax(1) == labels[i:i + batch]).sum().item()
               for i in range(0, len(images), batch))
    return hits / len(images)


def batch_indices(size: int, batch_size: int, steps: int, gen: torch.Generator):
    """``steps`` batches of indices into ``size`` images: a fresh permutation per epoch, cut into full batches
    (the last partial one dropped); a set smaller than one batch is one full batch per step."""
    batch_size = min(batch_size, size)
    per_epoch = size // batch_size
    done = 0
    while done < steps:
        perm = torch.randperm(size, generator=gen)
        for i in range(min(per_epoch, steps - done)):
            yield perm[i * batch_size:(i + 1) * batch_size]
        done += per_epoch


def fit_classifier(net: str, images: torch.Tensor, labels: torch.Tensor, num_classes: int, steps: int,
                   batch_size: int = 128, lr: float = 1e-3, seed: int = 0, progress: bool = False,
                   desc: str = "classifier") -> nn.Module:
    """Train a fresh ``net`` classifier on uint8 ``images`` (N, C, H, W) for ``steps`` updates: Adam ``lr``
    with cosine decay to 0, random 2-pixel shifts, batches from :func:`batch_indices`. The seed fixes the
    initialisation, the batches, the shifts and dropout; the caller's random streams are left as they were."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]), torch.enable_grad():  # first use may come from inside a no_grad
        torch.manual_seed(seed)
        model = build_classifier(net, images.shape[1], num_classes, images.shape[2])
        opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        model.train()
        for idx in tqdm(batch_indices(len(images), batch_size, steps, gen), total=steps, desc=desc,
                        disable=not progress):
            loss = F.cross_entropy(model(_shift(images[idx].float() / 255.0, gen))[0], labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model


def check_recipe(recipe: ClassifierRecipe) -> None:
    """User errors before any data is read: a dataset spec instead of a name, no epochs or batches."""
    if ":" in recipe.dataset:
        raise GanforgeError(f"classifier dataset {recipe.dataset!r}: expected a dataset name without a split "
                            f"(e.g. fashion-mnist); it trains on the train split and is tested on test")
    DATASETS.get(recipe.dataset)
    CLASSIFIER_NETS.get(recipe.net)
    for key in ("epochs", "batch_size"):
        if getattr(recipe, key) < 1:
            raise GanforgeError(f"classifier --{key.replace('_', '-')} must be at least 1, got {getattr(recipe, key)}")


def train_classifier(recipe: ClassifierRecipe, data_root: str | None = None, progress: bool = True) -> dict:
    """Train on ``DATASET:train``, measure ``DATASET:test`` accuracy, save weights + record atomically."""
    check_recipe(recipe)
    train, test = (load_dataset(f"{recipe.dataset}:{s}", data_root) for s in ("train", "test"))
    if train.num_classes < 2:
        raise GanforgeError(f"dataset {recipe.dataset} has no class labels to train a classifier on")
    if len(train) < recipe.batch_size:
        raise GanforgeError(f"dataset {recipe.dataset}: {len(train)} training images cannot fill one batch of "
                            f"{recipe.batch_size}")
    model = fit_classifier(recipe.net, train.images, train.labels, train.num_classes,
                           recipe.epochs * (len(train) // recipe.batch_size), recipe.batch_size, recipe.lr,
                           recipe.seed, progress, f"classifier {recipe.dataset}")
    weights, record_path = _paths(recipe)
    with atomic_path(weights) as tmp:
        save_file(model.state_dict(), str(tmp))
    record = {"recipe": asdict(recipe), "test_accuracy": accuracy(model, test.images, test.labels),
              "num_classes": train.num_classes, "channels": train.channels, "image_size": train.image_size,
              "weights_sha1": sha1_of(weights)}
    write_json(record_path, record)
    return record


RECORD_FIELDS = {"recipe": dict, "weights_sha1": str, "channels": int, "num_classes": int, "image_size": int,
                 "test_accuracy": (int, float)}


def read_record(path: Path) -> dict:
    """A cached classifier's JSON record; an unreadable or malformed one is a user error naming it (a damaged
    cache would otherwise crash every metric on classifier features)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        record = None
    if not (isinstance(record, dict) and all(isinstance(record.get(k), t) for k, t in RECORD_FIELDS.items())
            and all(k in record["recipe"] for k in ("arch", "dataset", "seed"))):
        raise GanforgeError(f"{path}: not a classifier record (delete it and its .safetensors to retrain)")
    return record


def load_classifier(dataset: str, data_root: str | None = None, progress: bool = True,
                    net: str = "small-cnn", recipe: ClassifierRecipe | None = None) -> tuple[nn.Module, dict]:
    """The cached ``net`` classifier for ``dataset``, trained first if there is none: the newest one of that
    network, or with ``recipe`` exactly that recipe's (one cached model per dataset, network, seed and
    epochs, so experiments over several seeds keep them all)."""
    CLASSIFIER_NETS.get(net if recipe is None else recipe.net)
    cached = sorted((cache_dir() / "classifiers").glob(f"{dataset}-*.json"), key=lambda p: p.stat().st_mtime)
    records = [(p, read_record(p)) for p in cached]
    if recipe is not None:
        records = [(p, r) for p, r in records if r["recipe"] == asdict(recipe)]
    else:
        records = [(p, r) for p, r in records if r["recipe"]["arch"] == ARCH_VERSION
                   and r["recipe"]["dataset"] == dataset and r["recipe"].get("net", "small-cnn") == net]
    if records:  # the newest one trained by `ganforge classifier train`, or earlier on first use
        record_path, record = records[-1]
        weights = record_path.with_suffix(".safetensors")
    else:
        recipe = recipe or ClassifierRecipe(dataset, net=net)
        weights, record_path = _paths(recipe)
        record = train_classifier(recipe, data_root, progress)
    if not weights.is_file() or sha1_of(weights) != record["weights_sha1"]:
        raise GanforgeError(f"{weights} does not match its record {record_path.name}; delete both to retrain")
    model = empty_classifier(record["channels"], record["num_classes"], record["recipe"].get("net", "small-cnn"),
                             record["image_size"])
    model.load_state_dict(load_file(str(weights)))
    return model.eval(), record


class ClassifierFeatures(FeatureExtractor):
    """Logits (or prelogits) of the dataset classifier; ``dataset`` defaults to the reference set's."""

    layer = "logits"

    def __init__(self, dataset: str = "fashion-mnist", data_root: str | None = None) -> None:
        self.dataset = parse_spec(dataset)[0]
        self.model, self.record = load_classifier(self.dataset, data_root)
        self.name = f"classifier:{self.dataset}" + ("" if self.layer == "logits" else f":{self.layer}")
        self.dim = self.record["num_classes"] if self.layer == "logits" else 128
        self.weights_hash = self.record["weights_sha1"]

    def protocol(self) -> dict:
        return {**super().protocol(), "test_accuracy": self.record["test_accuracy"], "layer": self.layer}

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        images = check_images(images)
        if images.shape[1:] != (self.record["channels"], self.record["image_size"], self.record["image_size"]):
            raise GanforgeError(f"classifier:{self.dataset} takes {self.record['channels']}x"
                                f"{self.record['image_size']}x{self.record['image_size']} images, got "
                                f"{'x'.join(map(str, images.shape[1:]))}")
        logits, pre = self.model(images.float() / 255.0)
        return (logits if self.layer == "logits" else pre).double().numpy()


FEATURES.register("classifier")(ClassifierFeatures)


@FEATURES.register("classifier-prelogits")
class ClassifierPrelogits(ClassifierFeatures):
    layer = "prelogits"
