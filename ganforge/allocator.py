"""Keep the memory of freed large CPU tensors in the process instead of handing it back to the OS.

glibc's ``malloc`` serves every block above its mmap threshold (which its dynamic rule caps at 32 MB) with a
fresh ``mmap`` and gives it back with ``munmap`` on ``free``; memory above the trim threshold at the top of the
heap is also returned. A CPU workload whose activations are hundreds of MB (an Inception batch at 299 px, a
sampling chunk of 500 images through a U-Net) therefore faults in tens of thousands of zeroed pages for every
layer it runs. Measured on a 2-core AVX2 CPU, one torch thread, while two other one-thread jobs shared the
cores: Inception pool_3 features went from 8.2 to 11.6 images/s (kernel time 10.3 s to 1.1 s per 400 images),
flow-matching sampling (``benchmarks/sampling_speed.py`` with and without ``--system-malloc``) from 445 to 594
image-evaluations/s at chunk 128 and from 289 to 635 at chunk 500; training at batch 64, whose tensors stay
below the threshold, is unchanged. The numbers are bitwise the same either way (tests/test_allocator.py).

The PyTorch CPU performance guide's cure is another allocator (jemalloc or tcmalloc through ``LD_PRELOAD``),
which needs a system package and an environment set before Python starts. Raising glibc's own two thresholds
with ``mallopt`` from inside the process has the same effect on the page faults and needs neither, and no
maintained Python package offers it; hence these few lines. The price is that the process keeps its peak
heap until it exits (peak RSS grew by about 15% in the sampling measurement above).

The command line calls :func:`keep_freed_memory` at start; Python API users may call it themselves. It does
nothing off glibc (macOS, Windows, musl) or when ``GANFORGE_MALLOC=system`` is set.
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # glibc <malloc.h> parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30  # blocks below 1 GiB come from the heap and are reused after free
TRIM_THRESHOLD = (1 << 31) - 1  # the largest value mallopt's int takes: the heap's top is kept
OPT_OUT = "GANFORGE_MALLOC"


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds (see the module docstring); True if both were set."""
    if os.environ.get(OPT_OUT, "").lower() == "system" or platform.system() != "Linux":
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
