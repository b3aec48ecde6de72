"""``inception-logits``: the 1008 InceptionV3 logits of the Inception Score, from the user's pytorch-fid file.

The Inception Score (Salimans et al. 2016: IS = exp E_x KL(p(y|x) || p(y))) is defined on the softmax of
the TensorFlow 2015-12-05 InceptionV3. The FID TorchScript that ``ganforge fetch inception`` gets stops at
pool_3, so the user brings pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (the GitHub release of
mseitzer/pytorch-fid; nothing is downloaded here) and installs it once:

    ganforge fetch inception-logits --from pt_inception-2015-12-05-6726825d.pth

Checks before it lands in the cache: it loads with ``weights_only=True`` (never as a pickle); its keys
and shapes are those of the FID InceptionV3 with a 1008-way ``fc``; and, when the FID TorchScript is
cached, its pool_3 features on a fixed batch agree with the TorchScript's to 1e-4 relative (other weights
would give other scores). Logits are ``pool_3 @ W^T`` without the bias, as openai/improved-gan's IS code
and torch-fidelity's ``logits_unbiased`` compute them. Preprocessing is that of ``inception``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from ..errors import GanforgeError
from ..fileio import atomic_path, cache_dir, load_weights_only, sha1_of
from .base import FEATURES, FeatureExtractor, check_images
from .inception import load_torchscript_file, preprocess, weights_path
from .inception_net import build_fid_inception, fold_batchnorm, pool3, unbiased_logits

FILENAME = "pt_inception-logits.pth"
EXPECTED = "the pytorch-fid weights pt_inception-2015-12-05-6726825d.pth"
TOLERANCE = 1e-4  # relative pool_3 disagreement above which a file is not the FID network


def logits_weights_path() -> Path:
    return cache_dir() / FILENAME


def load_network(path: str | Path) -> torch.nn.Module:
    """Read a state dict safely (``weights_only=True``), check it is the FID InceptionV3's and return that
    network with these weights, batch norm folded, in eval mode."""
    state = load_weights_only(path, "{path}: not a safe PyTorch weights file ({reason})")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GanforgeError(f"{path}: expected a state dict of tensors ({EXPECTED})")
    net = build_fid_inception()
    expected = {k: v.shape for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(expected.keys() - state.keys()), sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise GanforgeError(f"{path}: not {EXPECTED}: {len(missing)} keys missing {missing[:2]}, "
                            f"{len(unexpected)} unexpected {unexpected[:2]}")
    for key, shape in expected.items():
        if state[key].shape != shape:
            raise GanforgeError(f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(shape)} "
                                f"({EXPECTED})")
    net.load_state_dict(state, strict=False)  # only num_batches_tracked may be absent
    return fold_batchnorm(net).eval()


@torch.no_grad()
def pool3_disagreement(net: torch.nn.Module) -> float | None:
    """Max relative difference of ``net``'s pool_3 and the FID TorchScript's on a fixed random batch, or
    None when the TorchScript is not cached."""
    if not weights_path().is_file():
        return None
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 64, 64), generator=gen, dtype=torch.uint8)
    x = preprocess(images)
    reference = load_torchscript_file()(x).reshape(len(x), -1)
    return float((pool3(net, x) - reference).abs().max() / reference.abs().max())


def install_logits_weights(source: str | Path, verify: bool = True) -> tuple[Path, float | None]:
    """Check ``source`` and copy it into the cache atomically; returns (path, pool_3 disagreement)."""
    source = Path(source)
    if not source.is_file():
        raise GanforgeError(f"{source}: no such file (expected {EXPECTED})")
    net = load_network(source)
    diff = pool3_disagreement(net) if verify else None
    if diff is not None and diff > TOLERANCE:
        raise GanforgeError(f"{source}: its pool_3 features differ from the FID Inception's by {diff:.2g} "
                            f"(relative; at most {TOLERANCE:g} expected): not {EXPECTED}")
    dest = logits_weights_path()
    with atomic_path(dest) as tmp:
        shutil.copyfile(source, tmp)
    return dest, diff


@FEATURES.register("inception-logits")
class InceptionLogitsFeatures(FeatureExtractor):
    """(N, 1008) unbiased logits of the FID InceptionV3 (for the Inception Score)."""

    name = "inception-logits"
    dim = 1008

    def __init__(self, device: str | torch.device = "cpu") -> None:
        path = logits_weights_path()
        if not path.is_file():
            raise GanforgeError(f"inception-logits: no Inception logits weights at {path}; the Inception Score "
                                f"needs {EXPECTED} (pytorch-fid's GitHub release; not downloadable here): "
                                f"run `ganforge fetch inception-logits --from FILE`, or use --features classifier")
        self.weights_hash = sha1_of(path)
        self.device = torch.device(device)
        self.model = load_network(path).to(self.device, memory_format=torch.channels_last)

    def protocol(self) -> dict:
        return {**super().protocol(),
                "logits": "pool_3 @ fc.weight^T without bias (openai/improved-gan; torch-fidelity logits_unbiased)"}

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = preprocess(check_images(images).to(self.device)).contiguous(memory_format=torch.channels_last)
        return unbiased_logits(self.model, pool3(self.model, x)).double().cpu().numpy()  # (N, 1008)
