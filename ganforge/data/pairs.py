"""Paired image-to-image tasks built on the fly from any image set: (input, target) with the image as target.

Isola et al. 2017 ("Image-to-Image Translation with Conditional Adversarial Networks", pix2pix) learn a
mapping from an input image x to a target image y on aligned pairs. None of the datasets installed here comes
in pairs, so each task derives x deterministically from y. A task is named ``NAME`` or ``NAME:ARG``:

=================  =====================================================================================
``edges``          Sobel edge magnitude of the luminance, |g| / 4 clipped to [0, 1] (white edges on black;
                   a unit step between black and white gives 1). ``edges:T`` thresholds it: 1 where
                   |g| / 4 > T, else 0 (binary edge maps, as the edges -> shoes task of the paper).
``downscale:F``    low -> high resolution: the F x F box average (area downscaling by F), upsampled back
                   to the full size bicubically (PyTorch's ``interpolate``, ``align_corners=False``). The
                   input keeps the target's size, so the U-Net maps size to size and the input itself is
                   the interpolation baseline a super-resolution model must beat. F must divide the size.
                   (:func:`box_downscale` gives the small image itself, rounded to uint8, for networks
                   that upsample it, e.g. SRGAN; :func:`bicubic_upscale` enlarges such an image.)
``gray``           grayscale -> colour: the luminance Y = 0.2989 R + 0.587 G + 0.114 B (ITU-R BT.601,
                   torchvision's ``rgb_to_grayscale``; PIL's ``convert("L")`` uses 0.299), repeated over
                   the three channels; 3-channel images only (a single-channel set is a one-line error).
``mask`` / ``mask:S``  inpainting: an S x S square (default half the image size) set to mid grey (128, the
                   0 of the generator's [-1, 1] range); its corner is a hash (splitmix64) of the task seed
                   and the image's index, so image i always loses the same square, whatever the set size.
=================  =====================================================================================

Every task returns uint8 images with the target's shape (N, C, H, W): single-channel results (edges, gray)
are repeated over the C channels, so networks see as many input as output channels. Inputs are computed
once, in chunks, when a data set is loaded and kept in memory beside it. :func:`cached_inputs` also keeps
those of sets of 10,000 images or more on disk (``$GANFORGE_CACHE/pairs``, a ``.npy`` named by the sha1 of
the images, the task, its seed and :data:`PAIRS_VERSION`): the Sobel edges of the 60,000 Fashion-MNIST
training images take about 8 s on one busy core here, reading them back a small fraction of that; smaller
sets are recomputed. The index of an image (for ``mask``) is its position in the loaded set, after slices
and class filters.

The luminance is torchvision's ``rgb_to_grayscale``; the Sobel filters are scikit-image's (``sobel`` along
each axis with replicate padding, so image borders make no edges), tested against a direct computation. Each
task is a registered function, so a new task is one decorated function.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from skimage.filters import sobel
from torchvision.transforms.functional import rgb_to_grayscale

from ..errors import DataMismatch, GanforgeError
from ..fileio import atomic_path, cache_dir
from ..registry import Registry
from .base import ImageSet

#: a task: (uint8 images (N, C, H, W), its argument or None, the task seed, the first image's index)
#: -> uint8 inputs (N, C, H, W)
PairTask = Callable[[torch.Tensor, Optional[str], int, int], torch.Tensor]
PAIR_TASKS: Registry[PairTask] = Registry("pair task")

SOBEL_NORM = 4.0  # |g| of a unit step edge (the Sobel weights on one side sum to 4)
MASK_VALUE = 128
PAIRS_VERSION = 3  # part of the disk cache's key: bump it when a task's output changes
CACHE_MIN_IMAGES = 10_000


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Float images (N, C, H, W) -> (N, 1, H, W): the channel itself for C = 1, the ITU-R BT.601 luma
    0.2989 R + 0.587 G + 0.114 B for C = 3 (torchvision's ``rgb_to_grayscale``)."""
    return x if x.shape[1] == 1 else rgb_to_grayscale(x)


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """The Sobel gradient magnitude sqrt(gx^2 + gy^2) of single-channel images (N, 1, H, W), replicate-padded;
    gx is the cross-correlation with [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] (rightwards change), gy its
    transpose (downwards change). scikit-image's ``sobel`` along each axis (``mode="nearest"``) per image; it
    divides the kernel by :data:`SOBEL_NORM`, which is multiplied back."""
    planes = x[:, 0].detach().cpu().double().numpy()  # (N, H, W)
    out = np.stack([np.hypot(sobel(p, axis=0, mode="nearest"), sobel(p, axis=1, mode="nearest")) for p in planes])
    return torch.from_numpy(out * SOBEL_NORM).to(x).unsqueeze(1)  # (N, 1, H, W), on x's device and dtype


def _to_uint8(x: torch.Tensor, channels: int) -> torch.Tensor:
    """[0, 1] floats (N, 1 or C, H, W) -> uint8 (N, C, H, W), rounded, single channels repeated."""
    out = x.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return out.expand(-1, channels, -1, -1).contiguous() if out.shape[1] != channels else out


def _float_arg(task: str, arg: str, low: float, high: float) -> float:
    try:
        value = float(arg)
    except ValueError:
        value = float("nan")
    if not low < value < high:
        raise GanforgeError(f"pair task {task}:{arg}: expected a number strictly between {low:g} and {high:g}")
    return value


def _int_arg(task: str, arg: str, low: int, high: int, meaning: str) -> int:
    if not arg.isdigit() or not low <= int(arg) <= high:
        raise GanforgeError(f"pair task {task}:{arg}: expected {meaning}, a whole number in {low}..{high}")
    return int(arg)


@PAIR_TASKS.register("edges")
def edges(images: torch.Tensor, arg: Optional[str], seed: int, first: int) -> torch.Tensor:
    """Edges -> image: Sobel magnitude / 4 of the luminance, clipped to [0, 1]; binary above ``arg``."""
    magnitude = (sobel_magnitude(luminance(images.float() / 255.0)) / SOBEL_NORM).clamp_(0.0, 1.0)
    if arg is not None:
        magnitude = (magnitude > _float_arg("edges", arg, 0.0, 1.0)).float()
    return _to_uint8(magnitude, images.shape[1])


def check_factor(factor: int, height: int, width: int, what: str = "downscale") -> int:
    """A downscaling factor that divides both image sides and leaves at least 1 pixel (one-line errors)."""
    if not isinstance(factor, int) or factor < 2:
        raise GanforgeError(f"{what}: the factor must be a whole number of at least 2, got {factor!r}")
    if height % factor or width % factor:
        raise GanforgeError(f"{what}:{factor} needs an image size divisible by {factor}, got {height}x{width}")
    return factor


def box_downscale(images: torch.Tensor, factor: int) -> torch.Tensor:
    """The true low-resolution image of ``downscale:F``: uint8 (N, C, H, W) -> the F x F box average (area
    downscaling), rounded to uint8 (N, C, H/F, W/F). Super-resolution networks (SRGAN) take this as input."""
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise GanforgeError(f"box_downscale: expected uint8 images (N, C, H, W), got {images.dtype} "
                            f"{tuple(images.shape)}")
    check_factor(factor, *images.shape[-2:], "box_downscale")
    return _to_uint8(F.avg_pool2d(images.float() / 255.0, factor), images.shape[1])  # (N, C, H/F, W/F)


def bicubic_upscale(small: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (N, C, h, w) -> uint8 (N, C, *size): bicubic interpolation (PyTorch's ``interpolate``,
    ``align_corners=False``, as ``downscale:F``), clipped to [0, 1] and rounded. The interpolation baseline a
    super-resolution model is compared with (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution
    Using a Generative Adversarial Network", Table 2's "Bicubic" column)."""
    x = F.interpolate(small.float() / 255.0, size=tuple(size), mode="bicubic", align_corners=False)
    return _to_uint8(x.clamp_(0.0, 1.0), small.shape[1])  # (N, C, H, W)


@PAIR_TASKS.register("downscale")
def downscale(images: torch.Tensor, arg: Optional[str], seed: int, first: int) -> torch.Tensor:
    """Low -> high resolution: F x F box average, then bicubic upsampling back to the full size."""
    size = images.shape[-1]
    if arg is None:
        raise GanforgeError("pair task downscale needs its factor (expected downscale:F, e.g. downscale:2)")
    factor = _int_arg("downscale", arg, 2, max(2, size // 2), "the downscaling factor")
    if images.shape[-2] % factor or size % factor:
        raise DataMismatch(f"pair task downscale:{factor} needs an image size divisible by {factor}, "
                            f"got {images.shape[-2]}x{size}")
    x = F.avg_pool2d(images.float() / 255.0, factor)  # (N, C, H/F, W/F)
    x = F.interpolate(x, size=tuple(images.shape[-2:]), mode="bicubic", align_corners=False)  # (N, C, H, W)
    return _to_uint8(x.clamp_(0.0, 1.0), images.shape[1])


@PAIR_TASKS.register("gray")
def gray(images: torch.Tensor, arg: Optional[str], seed: int, first: int) -> torch.Tensor:
    """Grayscale -> colour: the BT.601 luminance, repeated over the three channels."""
    if arg is not None:
        raise GanforgeError(f"pair task gray takes no argument, got gray:{arg}")
    if images.shape[1] != 3:
        raise DataMismatch(f"pair task gray turns colour images into grayscale and needs 3-channel images, "
                            f"got {images.shape[1]} channel(s)")
    return _to_uint8(luminance(images.float() / 255.0), 3)


def splitmix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (Steele et al. 2014) of uint64 values: a fixed, well-mixed integer hash."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def mask_corners(indices: np.ndarray, seed: int, side: int, height: int, width: int) -> np.ndarray:
    """(N, 2) top-left corners (row, column) of the masked square of images ``indices``: the low and high
    32 bits of splitmix64(seed * 2^32 + index), each modulo the number of places the square fits."""
    with np.errstate(over="ignore"):
        keys = (np.uint64(seed % 2 ** 32) << np.uint64(32)) + indices.astype(np.uint64)
        h = splitmix64(keys)
    rows = (h & np.uint64(0xFFFFFFFF)) % np.uint64(height - side + 1)
    cols = (h >> np.uint64(32)) % np.uint64(width - side + 1)
    return np.stack([rows, cols], axis=1).astype(np.int64)


@PAIR_TASKS.register("mask")
def mask(images: torch.Tensor, arg: Optional[str], seed: int, first: int) -> torch.Tensor:
    """Inpainting: an S x S square of mid grey at a place fixed by (seed, index)."""
    height, width = images.shape[-2:]
    side = min(height, width) // 2 if arg is None else _int_arg("mask", arg, 1, min(height, width) - 1,
                                                                 "the side of the masked square")
    corners = mask_corners(np.arange(first, first + len(images)), seed, side, height, width)
    top, left = (torch.from_numpy(corners[:, k]).to(images.device)[:, None] for k in (0, 1))  # (N, 1) each
    rows, cols = torch.arange(height, device=images.device)[None], torch.arange(width, device=images.device)[None]
    in_rows, in_cols = (rows >= top) & (rows < top + side), (cols >= left) & (cols < left + side)  # (N, H), (N, W)
    square = in_rows[:, :, None] & in_cols[:, None, :]  # (N, H, W)
    return images.masked_fill(square[:, None], MASK_VALUE)  # (N, C, H, W)


def parse_task(spec: str) -> tuple[str, Optional[str]]:
    """``"downscale:2"`` -> ``("downscale", "2")``; ``"edges"`` -> ``("edges", None)``; unknown names are
    one-line errors listing the tasks."""
    name, sep, arg = str(spec).partition(":")
    PAIR_TASKS.get(name)
    return name, (arg if sep else None)


def make_inputs(task: str, images: torch.Tensor, seed: int = 0, chunk: int = 4096) -> torch.Tensor:
    """The task's inputs for uint8 targets (N, C, H, W), as uint8 (N, C, H, W), computed in chunks; image i
    of ``images`` has index i."""
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise GanforgeError(f"pair task {task}: expected uint8 images (N, C, H, W), got {images.dtype} "
                            f"{tuple(images.shape)}")
    name, arg = parse_task(task)
    fn = PAIR_TASKS.get(name)
    parts = [fn(images[start:start + chunk], arg, seed, start) for start in range(0, len(images), chunk)]
    return torch.cat(parts) if parts else images.clone()


def cached_inputs(task: str, images: torch.Tensor, seed: int = 0,
                  min_images: int = CACHE_MIN_IMAGES) -> torch.Tensor:
    """:func:`make_inputs`, kept on disk for sets of at least ``min_images`` images (see the module doc); an
    unreadable cache entry is recomputed and an unwritable cache folder only skips the write."""
    if len(images) < min_images:
        return make_inputs(task, images, seed)
    parse_task(task)
    digest = hashlib.sha1(f"pairs-{PAIRS_VERSION}|{task}|{seed}|{tuple(images.shape)}|".encode())
    digest.update(images.contiguous().numpy().tobytes())
    path = cache_dir() / "pairs" / f"{digest.hexdigest()}.npy"
    if path.is_file():
        try:
            stored = np.load(path, allow_pickle=False)
            if stored.dtype == np.uint8 and stored.shape == tuple(images.shape):
                return torch.from_numpy(stored)
        except (OSError, ValueError, EOFError):
            pass
    inputs = make_inputs(task, images, seed)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, inputs.numpy(), allow_pickle=False)
    except (OSError, GanforgeError):
        pass
    return inputs


@dataclass
class PairedSet:
    """An image set with the inputs of a task: ``inputs`` (N, C, H, W) uint8 beside ``targets.images``."""

    task: str
    inputs: torch.Tensor
    targets: ImageSet

    def __len__(self) -> int:
        return len(self.targets)


def make_pairs(data: ImageSet, task: str, seed: int = 0) -> PairedSet:
    """Pair every image of ``data`` (the target) with its task input, e.g. ``make_pairs(fashion, "edges")``."""
    try:
        return PairedSet(task, cached_inputs(task, data.images, seed), data)
    except GanforgeError as exc:
        raise GanforgeError(f"{data.name}: {exc}") from None
