"""ganforge.allocator: after keep_freed_memory, freeing and re-allocating a large tensor reuses the heap
(few page faults) and computes bitwise the same numbers; GANFORGE_MALLOC=system leaves glibc's default."""
import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's mallopt only")

PROBE = """
import hashlib, json, resource, sys
import torch
from ganforge.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "on" else None
torch.manual_seed(0)
x = torch.randn(100, 64, 56, 56)  # 80 MB: above glibc's largest dynamic mmap threshold (32 MB)
w = torch.randn(64, 64, 3, 3) / 24
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    y = torch.nn.functional.conv2d(x, w, padding=1).relu_()
    del y
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
out = torch.nn.functional.conv2d(x, w, padding=1).relu_()
print(json.dumps({"applied": applied, "faults": faults, "hash": hashlib.sha256(out.numpy().tobytes()).hexdigest()}))
"""


def probe(mode: str, opt_out: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GANFORGE_MALLOC"}
    env["OMP_NUM_THREADS"] = "1"
    if opt_out:
        env["GANFORGE_MALLOC"] = "system"
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_freed_large_tensors_are_reused_without_page_faults_and_give_the_same_numbers():
    default, kept = probe("off"), probe("on")
    assert kept["applied"] is True
    # default glibc: each 80 MB output is a fresh mmap, ~20k pages faulted in per iteration
    assert default["faults"] > 10 * 80_000_000 // 4096 // 2
    assert kept["faults"] * 5 < default["faults"]
    assert kept["hash"] == default["hash"]  # same machine, same kernels: bitwise equal outputs


def test_opt_out_keeps_the_default_allocator():
    opted = probe("on", opt_out=True)
    assert opted["applied"] is False
    assert opted["faults"] > 10 * 80_000_000 // 4096 // 2
