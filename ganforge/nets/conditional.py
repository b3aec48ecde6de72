"""Class-conditional networks built on the DCGAN convolutional stacks (``ganforge.nets.dcgan``).

- ``cdcgan-g`` / ``cdcgan-d``: the conditional DCGAN of Nair and Shah 2017 ("Conditional DCGAN Architecture", after
  Mirza and Osindero 2014). G gets z concatenated with a code of the label (one-hot or a learned
  embedding); D runs its conv stack to a feature vector of size ``features`` (100, 200 or 400 in the
  report), optionally batch-normalises it, concatenates a code of the label (the one-hot vector, a learned
  10-d sigmoid embedding or a learned 200-d embedding) and maps the result to one logit with a linear
  layer. Every variant the report describes is a config value.
- ``projection-d``: the projection discriminator of Miyato and Koyama 2018 (eq. 3):
  D(x, y) = psi(phi(x)) + embed(y) . phi(x).
- ``acgan-d``: the auxiliary-classifier discriminator of Odena et al. 2017 (Basart 2017 section 2.1): one
  body, a real/fake logit and K class logits.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .layers import init_normal_


# ---------------------------------------------------------------- label codes

class LabelCode(nn.Module):
    """Maps int64 labels (N,) to a float code (N, dim)."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.dim = dim


LABEL_CODES: Registry[type[LabelCode]] = Registry("label code", base=LabelCode)


@LABEL_CODES.register("onehot")
class OneHot(LabelCode):
    """The one-hot vector of the label (Mirza and Osindero 2014); ``dim`` is the number of classes."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__(num_classes, num_classes)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels, self.num_classes).float()  # (N, K)


@LABEL_CODES.register("sigmoid")
class SigmoidEmbedding(LabelCode):
    """A learned K-d code sigmoid(W onehot + b) (Nair and Shah 2017: "a sigmoid layer ... small 10-dimensional
    embeddings over the class conditionals")."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__(num_classes, num_classes)
        self.linear = nn.Linear(num_classes, num_classes)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(F.one_hot(labels, self.num_classes).float()))  # (N, K)


@LABEL_CODES.register("embed")
class LearnedEmbedding(LabelCode):
    """A learned ``dim``-d embedding per class (Nair and Shah 2017: "a much larger (200-dimensional) embedding")."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__(num_classes, dim)
        self.table = nn.Embedding(num_classes, dim)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.table(labels)  # (N, dim)


def make_code(name: str, shape: NetShape, dim: int) -> LabelCode:
    return LABEL_CODES.get(name)(shape.num_classes, dim)


# ---------------------------------------------------------------- generator

@GENERATORS.register("cdcgan-g")
class ConditionalDCGANGenerator(Generator):
    """DCGAN generator fed [z, code(y)] (Nair and Shah 2017): (N, z_dim + code) -> (N, C, H, W), tanh output."""

    out_range = "pm1"
    takes_labels = True

    @dataclass
    class Args:
        width: int = 64
        label_code: str = "onehot"  # onehot | embed (Nair and Shah's 200-d generator embedding) | sigmoid
        code_dim: int = 200

    def __init__(self, shape: NetShape, args: "ConditionalDCGANGenerator.Args") -> None:
        super().__init__(shape, args)
        self.code = make_code(args.label_code, shape, args.code_dim)
        inner = dataclasses.replace(shape, z_dim=shape.z_dim + self.code.dim)
        self.body = DCGANGenerator(inner, DCGANGenerator.Args(width=args.width))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([z, self.code(labels).to(z.dtype)], dim=1))  # (N, C, H, W)


# ---------------------------------------------------------------- discriminators

def dcgan_body(shape: NetShape, width: int) -> tuple[nn.Sequential, int]:
    """The DCGAN discriminator without its last convolution, flattened: (N, C, H, W) -> (N, F)."""
    convs = DCGANDiscriminator(shape, DCGANDiscriminator.Args(width=width)).main[:-1]
    with torch.no_grad():
        size = convs(torch.zeros(1, shape.channels, shape.image_size, shape.image_size)).numel()
    return nn.Sequential(*convs, nn.Flatten()), size  # (N, 512 * 4 * 4) at 64 px


def feature_layer(in_features: int, features: int, batchnorm: bool) -> nn.Sequential:
    """Linear -> [BatchNorm1d] -> LeakyReLU(0.2): the conv feature vector of Nair and Shah 2017."""
    layers: list[nn.Module] = [nn.Linear(in_features, features)]  # (N, features)
    if batchnorm:
        layers.append(nn.BatchNorm1d(features))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


@DISCRIMINATORS.register("cdcgan-d")
class ConditionalDCGANDiscriminator(Discriminator):
    """Nair and Shah's conditional D: conv stack -> feature vector (N, features) [-> BN] -> concat code(y)
    [-> ``hidden`` units, LeakyReLU] -> Linear -> logit (N,).

    With ``hidden = 0`` (the report's main model) the logit is w . h(x) + v . code(y) + b, a sum of an image
    term and a label term: D cannot tell whether an image matches its label, so nothing pushes G to use
    the label -- which explains the report's finding that "the class conditional makes very little
    difference" (Nair and Shah 2017, Figs. 3, 4 and 6). ``hidden > 0`` is the report's "additional linear and
    non-linear layers after the concatenation", which lets image and label interact.
    """

    kind = "conditional"

    @dataclass
    class Args:
        width: int = 64
        features: int = 400          # 100, 200 or 400 in Nair and Shah 2017
        feature_bn: bool = False     # Nair and Shah 2017: batch-normalising the feature vector first
        label_code: str = "onehot"   # onehot | sigmoid (10-d) | embed (code_dim, 200 in Nair and Shah 2017)
        code_dim: int = 200
        hidden: int = 0              # units of a layer after the concatenation (0: none, as in Nair and Shah 2017)

    def __init__(self, shape: NetShape, args: "ConditionalDCGANDiscriminator.Args") -> None:
        super().__init__(shape, args)
        self.body, size = dcgan_body(shape, args.width)
        self.features = feature_layer(size, args.features, args.feature_bn)
        self.code = make_code(args.label_code, shape, args.code_dim)
        joint = args.features + self.code.dim
        head: list[nn.Module] = []
        if args.hidden > 0:
            head += [nn.Linear(joint, args.hidden), nn.LeakyReLU(0.2)]  # (N, hidden)
            joint = args.hidden
        self.head = nn.Sequential(*head)
        self.out = nn.Linear(joint, 1)  # (N, 1)
        init_normal_(self.features, 0.02, bn_std=0.02)
        init_normal_(self.head, 0.02)
        init_normal_(self.out, 0.02)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.features(self.body(x))  # (N, features)
        joint = self.head(torch.cat([h, self.code(labels).to(h.dtype)], dim=1))  # (N, features + code | hidden)
        return self.out(joint).view(-1)  # (N,)


@DISCRIMINATORS.register("projection-d")
class ProjectionDiscriminator(Discriminator):
    """Miyato and Koyama 2018, eq. 3: logit = psi(phi(x)) + <embed(y), phi(x)>, phi the conv features."""

    kind = "conditional"

    @dataclass
    class Args:
        width: int = 64
        features: int = 400

    def __init__(self, shape: NetShape, args: "ProjectionDiscriminator.Args") -> None:
        super().__init__(shape, args)
        self.body, size = dcgan_body(shape, args.width)
        self.features = feature_layer(size, args.features, batchnorm=False)
        self.psi = nn.Linear(args.features, 1)  # (N, 1)
        self.embed = nn.Embedding(shape.num_classes, args.features)  # (K, features)
        init_normal_(self.features, 0.02)
        init_normal_(self.psi, 0.02)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        phi = self.features(self.body(x))  # (N, features)
        return self.psi(phi).view(-1) + (self.embed(labels).to(phi.dtype) * phi).sum(dim=1)  # (N,)


@DISCRIMINATORS.register("acgan-d")
class AuxiliaryClassifierDiscriminator(Discriminator):
    """Odena et al. 2017: conv stack -> (N, F) -> a real/fake logit (N,) and class logits (N, K)."""

    kind = "auxiliary"

    @dataclass
    class Args:
        width: int = 64

    def __init__(self, shape: NetShape, args: "AuxiliaryClassifierDiscriminator.Args") -> None:
        super().__init__(shape, args)
        self.body, size = dcgan_body(shape, args.width)
        self.source = nn.Linear(size, 1)  # (N, 1)
        self.classes = nn.Linear(size, shape.num_classes)  # (N, K)
        init_normal_(self.source, 0.02)
        init_normal_(self.classes, 0.02)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)  # (N, F)
        return self.source(h).view(-1), self.classes(h)
