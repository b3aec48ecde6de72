"""SRGAN's content losses l^SR_X (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", eq. 4 and 5), registered by name in ``CONTENT_LOSSES`` (``model.options.content``):

- ``mse``: eq. 4, the pixel-wise MSE (the paper's SRResNet-MSE and SRGAN-MSE).
- ``classifier``: eq. 5 on the feature maps of a fixed network. The paper uses VGG19 pretrained on ImageNet
  (phi_5,4: the 4th convolution before the 5th max-pooling, after its activation). No ImageNet network fits
  28 px grayscale images, so ganforge uses its dataset classifier (``ganforge.features.classifier``,
  ``small-cnn``): ``content_layer`` K takes the output of its K-th ReLU. For small-cnn, K = 1, 2 are the 32 maps
  at full resolution, K = 3, 4 the 64 maps after the 2x2 max-pooling (K = 4 is the last convolution before the
  final pooling, the counterpart of VGG's phi_5,4) and K = 5 the 128 prelogits. Its weights come from
  ``classifier_init`` (``dataset:NAME``, the cached dataset classifier, trained first if there is none, or a
  classifier ``.safetensors``), are frozen (no gradients, always in eval mode so batch norm keeps its running
  statistics) and are saved with the model, so a checkpoint carries the exact network its loss used.

Each is an ``nn.Module`` called ``loss(output, target)`` with images in [-1, 1]; the classifier reads [0, 1].
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from ..errors import GanforgeError
from ..losses.srgan import feature_mse, pixel_mse
from ..nets import NetShape
from ..registry import Registry
from .modnet_critic import DatasetClassifier


class ContentLoss(nn.Module):
    """l^SR_X(output, target) on images (N, C, H, W) in [-1, 1]; a scalar."""

    def load_weights(self, data_root: Optional[str]) -> None:
        """Fetch any fixed network's weights (before a resume overwrites them with the checkpoint's)."""


#: name -> builder(shape, family options) -> ContentLoss
CONTENT_LOSSES: Registry[Callable[[NetShape, object], ContentLoss]] = Registry("SRGAN content loss")


@CONTENT_LOSSES.register("mse")
class PixelContent(ContentLoss):
    """Eq. 4: mean squared pixel difference."""

    def __init__(self, shape: NetShape, args) -> None:
        super().__init__()

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return pixel_mse(output, target)


def relu_depth(body: nn.Sequential, k: int, what: str) -> int:
    """How many layers of ``body`` to run to end at its k-th ReLU (1-based); a one-line error if it has fewer."""
    ends = [i + 1 for i, m in enumerate(body) if isinstance(m, nn.ReLU)]
    if not 1 <= k <= len(ends):
        raise GanforgeError(f"srgan: model.options.content_layer={k} is not a layer of the {what} classifier "
                            f"(expected 1..{len(ends)}, the output of its K-th ReLU)")
    return ends[k - 1]


@CONTENT_LOSSES.register("classifier")
class ClassifierContent(ContentLoss):
    """Eq. 5 on the dataset classifier's K-th ReLU output phi: mean of (phi(y) - phi(G(x)))^2."""

    def __init__(self, shape: NetShape, args) -> None:
        super().__init__()
        if not args.classifier_init:
            raise GanforgeError("srgan: model.options.content=classifier needs model.options.classifier_init "
                                "(dataset:NAME for the cached dataset classifier, or a classifier .safetensors)")
        if shape.num_classes < 2:
            raise GanforgeError(f"srgan: model.options.content=classifier needs a dataset classifier, and these "
                                f"data have {shape.num_classes} classes (use content=mse)")
        with torch.random.fork_rng(devices=[]):  # a throw-away initialisation: the run's streams do not move
            self.classifier = DatasetClassifier(shape, frozen=True, net=args.classifier_net)
        self.source = args.classifier_init
        self.depth = relu_depth(self.classifier.net.body, args.content_layer, args.classifier_net)

    def load_weights(self, data_root: Optional[str]) -> None:
        self.classifier.load_weights(self.source, data_root)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x) for images in [-1, 1]: (N, K, h, w), or (N, 128) for the prelogits."""
        return self.classifier.net.body[:self.depth]((x + 1.0) / 2.0)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            wanted = self.features(target)
        return feature_mse(self.features(output), wanted)
