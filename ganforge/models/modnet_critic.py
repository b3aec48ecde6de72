"""ModNet's two critic variants (Basart 2017, "Analysis of Generative Adversarial Models", section 2.5.1 and
Fig. 2.5): every critic maps images (N, C, H, W) in [-1, 1] to a real/fake logit (N,) and class logits
(N, K), the D(.) of eq. 2.3-2.4 and the softmax(D(.)) of eq. 2.5.

- ``shared``: one network with two heads, "the discriminator acts as both discriminator and classifier as
  seen in Odena et al. [2016]": any registered discriminator of kind ``auxiliary`` (e.g. ``acgan-d``).
- ``separate``: a plain real/fake discriminator (kind ``plain``, e.g. ``dcgan-d``) beside a separate
  classifier, so G receives "two different gradient signals". The classifier is one of ganforge's
  dataset-classifier networks (``ganforge.features.classifier.CLASSIFIER_NETS``, read images in [0, 1];
  ``classifier_net``: ``small-cnn``, the metrics' classifier, or ``shallow``, the deliberately weak one-layer
  net of the interpretability experiment of section 2.5.3); it may start from a
  checkpoint (``classifier_init``) and may be frozen (``freeze_classifier``): then it is never updated, its
  batch-norm statistics included, and only its error signal reaches G (section 2.5.2, the interpretability use).

``classifier_init`` is ``""`` (random weights), ``dataset:NAME`` (the cached ``classifier_net`` classifier of
dataset NAME that ``ganforge classifier train NAME --net NET`` stores under ``~/.cache/ganforge/classifiers``;
if there is none yet, it is trained first, as every classifier metric does: a few CPU minutes for
Fashion-MNIST) or the path of such a ``.safetensors`` state dict of that network.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file
from torch import nn

from ..config import ModelConfig
from ..errors import GanforgeError
from ..features.classifier import CLASSIFIER_NETS, build_classifier, load_classifier
from ..nets import DISCRIMINATORS, NetShape, build_from_spec
from ..registry import Registry


class DatasetClassifier(nn.Module):
    """The dataset-classifier network on images in [-1, 1]: (N, C, H, W) -> class logits (N, K).

    When ``frozen`` its parameters never receive gradients and it stays in eval mode (dropout off, running
    batch-norm statistics used and never updated), whatever mode the model around it is put in."""

    def __init__(self, shape: NetShape, frozen: bool, net: str = "small-cnn") -> None:
        super().__init__()
        self.net_name = net
        self.net = build_classifier(net, shape.channels, shape.num_classes, shape.image_size)
        self.frozen = frozen
        if frozen:
            self.net.requires_grad_(False)
            self.net.eval()

    def train(self, mode: bool = True) -> "DatasetClassifier":
        return super().train(mode and not self.frozen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x + 1.0) / 2.0)[0]  # (N, K)

    def load_weights(self, source: str, data_root: str | None = None) -> None:
        """Load ``dataset:NAME`` (the cached dataset classifier) or a ``.safetensors`` path (see module doc)."""
        if source.startswith("dataset:"):
            state = load_classifier(source.split(":", 1)[1], data_root, net=self.net_name)[0].state_dict()
        else:
            path = Path(source).expanduser()
            if not path.is_file():
                raise GanforgeError(f"model.options.classifier_init: {path} is not a file (expected a classifier "
                                    f".safetensors from `ganforge classifier train`, or dataset:NAME)")
            state = load_file(str(path))
        try:
            self.net.load_state_dict(state)
        except RuntimeError:
            raise GanforgeError(f"model.options.classifier_init {source!r} does not fit a {self.net_name} "
                                f"{self.net.head[-1].out_features}-class classifier of these images") from None


class SeparateCritic(nn.Module):
    """A plain real/fake discriminator and a separate classifier: x -> (logit (N,), class logits (N, K))."""

    def __init__(self, d: nn.Module, classifier: DatasetClassifier) -> None:
        super().__init__()
        self.d = d
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.d(x), self.classifier(x)


#: critic name -> builder(cfg, shape, freeze_classifier) -> (critic, the real/fake network inside it)
CriticBuilder = Callable[[ModelConfig, NetShape, bool], tuple[nn.Module, nn.Module]]
CRITICS: Registry[CriticBuilder] = Registry("ModNet critic")


def _discriminator(cfg: ModelConfig, shape: NetShape, kind: str, critic: str) -> nn.Module:
    d = build_from_spec(DISCRIMINATORS, cfg.discriminator, shape, "discriminator")
    if d.kind != kind:
        raise GanforgeError(f"model.discriminator {cfg.discriminator.get('name')!r} is a {d.kind} discriminator; "
                            f"model.options.critic={critic} needs a {kind} one")
    return d


@CRITICS.register("shared")
def shared_critic(cfg: ModelConfig, shape: NetShape, freeze: bool) -> tuple[nn.Module, nn.Module]:
    given = [k for k in ("freeze_classifier", "classifier_init") if cfg.options.get(k)]
    given += ["classifier_net"] if cfg.options.get("classifier_net", "small-cnn") != "small-cnn" else []
    if given:
        option = given[0]
        raise GanforgeError(f"model.options.{option} needs model.options.critic=separate (a shared critic's "
                            f"classifier is the discriminator itself)")
    d = _discriminator(cfg, shape, "auxiliary", "shared")
    return d, d


@CRITICS.register("separate")
def separate_critic(cfg: ModelConfig, shape: NetShape, freeze: bool) -> tuple[nn.Module, nn.Module]:
    d = _discriminator(cfg, shape, "plain", "separate")
    net = cfg.options.get("classifier_net", "small-cnn")
    CLASSIFIER_NETS.get(net)
    return SeparateCritic(d, DatasetClassifier(shape, freeze, net)), d
