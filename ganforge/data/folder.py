"""``folder:PATH``: a directory of image files (.png, .jpg, .jpeg, .bmp, .webp) read with Pillow.

Two layouts:

* flat -- the images sit directly in PATH (sub-folders are then ignored); they are unlabelled (labels -1,
  ``num_classes`` 0);
* per class -- PATH holds one sub-folder per class and no images of its own; the sorted sub-folder names
  become classes 0..K-1 and ``class_names``.

Hidden files and folders (names starting with ".") are ignored. Every image must have the same size. The
set is grayscale ("L", 1 channel) if every image is grayscale (mode "1", "L" or "LA"), else RGB
(3 channels; alpha is dropped). 16-bit and float images are refused. A relative PATH that does not exist
is also looked for under the data root.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import GanforgeError
from .base import ImageSet
from .common import make_set, one_line, register, require_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
GRAYSCALE_MODES = ("1", "L", "LA")


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return [p for p in _visible(folder) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def list_images(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    """The image files of ``folder``, their labels (-1 when flat) and the class names (empty when flat)."""
    flat = _images_in(folder)
    classes = [p for p in _visible(folder) if p.is_dir()]
    if flat:
        return flat, [-1] * len(flat), []
    if not classes:
        raise GanforgeError(f"{folder}: no images found (expected {', '.join(IMAGE_SUFFIXES)} files or "
                            "one sub-folder of them per class)")
    files: list[Path] = []
    labels: list[int] = []
    for k, sub in enumerate(classes):
        found = _images_in(sub)
        if not found:
            raise GanforgeError(f"{sub}: class folder has no images (expected {', '.join(IMAGE_SUFFIXES)} files)")
        files += found
        labels += [k] * len(found)
    return files, labels, [c.name for c in classes]


def _header(path: Path) -> tuple[tuple[int, int], str]:
    """(size, mode) of an image file without decoding its pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size, im.mode
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise GanforgeError(f"{path}: not a readable image ({one_line(exc)})") from None


def read_images(files: list[Path]) -> np.ndarray:
    """Decode ``files`` into one uint8 array (N, C, H, W); all must share the first file's size."""
    from PIL import Image

    size, modes = None, set()
    for path in files:  # check every header before decoding anything
        img_size, img_mode = _header(path)
        if img_mode.startswith(("I", "F")):
            raise GanforgeError(f"{path}: image mode {img_mode} is not 8 bits per channel (expected 8-bit images)")
        size = size or img_size
        if img_size != size:
            raise GanforgeError(f"{path}: image is {img_size[0]}x{img_size[1]}, expected {size[0]}x{size[1]} "
                                f"like {files[0].name} (all images must share one size)")
        modes.add(img_mode)
    mode = "L" if modes <= set(GRAYSCALE_MODES) else "RGB"
    out = np.empty((len(files), size[1], size[0], 1 if mode == "L" else 3), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as im:
                out[i] = np.asarray(im.convert(mode)).reshape(out.shape[1:])
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise GanforgeError(f"{path}: not a readable image ({one_line(exc)})") from None
    return out.transpose(0, 3, 1, 2)


def load_folder_path(path: str | Path, root: Optional[Path] = None) -> ImageSet:
    """Load a folder of images (flat or one sub-folder per class) as an :class:`ImageSet`."""
    folder = Path(path).expanduser()
    if not folder.exists() and not folder.is_absolute() and root is not None and (root / folder).exists():
        folder = root / folder
    if not folder.is_dir():
        raise GanforgeError(f"{folder}: not a directory (expected folder:PATH to name a folder of images)")
    files, labels, class_names = list_images(folder)
    images = read_images(files)
    has_classes = bool(class_names)
    return make_set(images, np.asarray(labels) if has_classes else None, len(class_names), f"folder:{path}",
                    folder, class_names or None)


@register("folder", None)
def load_folder(split: str, root: Optional[Path]) -> ImageSet:
    """Registry entry for ``folder:PATH`` (the split part of the spec is the path)."""
    return load_folder_path(require_path("folder", split), root)
