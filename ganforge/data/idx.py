"""Reader for IDX files, the format of MNIST and Fashion-MNIST (``*-idx3-ubyte`` images,
``*-idx1-ubyte`` labels), plain or gzip-compressed.

An IDX file is a 4-byte magic number (two zero bytes, a type byte -- 0x08 for unsigned bytes -- and the
number of dimensions), then one big-endian uint32 per dimension, then the data row-major. Only unsigned
byte files are read here: magic 0x00000803 for (N, H, W) images and 0x00000801 for (N,) labels.
See http://yann.lecun.com/exdb/mnist/ (section "File formats").
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import GanforgeError
from .common import one_line

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if it starts with the gzip magic (whatever its name)."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw
    except FileNotFoundError:
        raise GanforgeError(f"{path}: IDX file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise GanforgeError(f"{path}: unreadable or corrupt gzip IDX file ({one_line(exc)})") from None


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file into a uint8 array shaped by its header.

    Args:
        path: the file, plain or .gz (detected from its content).
        magic: the expected magic number (:data:`IMAGES_MAGIC` or :data:`LABELS_MAGIC`); None accepts
            either.

    Raises:
        GanforgeError: naming the file on a bad magic, a truncated or over-long body, or a bad gzip stream.
    """
    path = Path(path)
    data = _read_bytes(path)
    allowed = (magic,) if magic is not None else (IMAGES_MAGIC, LABELS_MAGIC)
    found = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None
    if found not in allowed:
        expected = " or ".join(f"0x{m:08X}" for m in allowed)
        got = "a file shorter than 4 bytes" if found is None else f"0x{found:08X}"
        raise GanforgeError(f"{path}: not an IDX file of unsigned bytes (magic {got}, expected {expected})")
    ndim = found & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GanforgeError(f"{path}: truncated IDX header ({len(data)} bytes, expected at least {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected_len = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected_len:
        what = "truncated" if len(data) < expected_len else "over-long"
        raise GanforgeError(f"{path}: {what} IDX file ({len(data)} bytes, expected {expected_len} "
                            f"for dimensions {'x'.join(map(str, dims))})")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file (N, H, W) and its labels file (N,); a count mismatch names both files."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise GanforgeError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                            f"{len(labels)} labels (expected the same count)")
    return images, labels
