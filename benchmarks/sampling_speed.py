"""Sampling speed of the iterative families (``ddpm``, ``flow``) against the chunk size.

Builds each preset's model (fresh weights: the speed does not depend on them) and times
``generate_uint8`` (the one path ``ganforge sample``, ``eval`` and the benchmarks take) on ``--images``
latents in chunks of each ``--chunks`` size, with the preset's sampler at ``--steps`` steps, after one
untimed chunk. Prints image-evaluations per second (images x network evaluations per image / seconds) and
the seconds that 10,000 images at the preset's own step count would take. The families' default chunk
(``Family.sample_chunk``) is chosen from these numbers.

    python benchmarks/sampling_speed.py --presets ddpm-fashion,flow-fashion --chunks 32 64 128 256 500

``--system-malloc`` times with glibc's default allocator thresholds instead of the command line's
(:mod:`ganforge.allocator`): the difference is the page faults of re-mapping every large activation.

The machine's other load shows up in the numbers; run on an idle machine for figures worth quoting.
"""
from __future__ import annotations

import argparse
import time

import torch

from ganforge.allocator import keep_freed_memory
from ganforge.config import resolve_config
from ganforge.models import FAMILIES, SamplerRequest, generate_uint8
from ganforge.nets import NetShape


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="ddpm-fashion,flow-fashion")
    p.add_argument("--chunks", type=int, nargs="+", default=[32, 64, 128, 256, 500])
    p.add_argument("--images", type=int, default=1000, help="images timed per chunk size")
    p.add_argument("--steps", type=int, default=10, help="sampler steps while timing")
    p.add_argument("--shape", default="1,28,10", help="channels,image size,classes of the data")
    p.add_argument("--system-malloc", action="store_true",
                   help="keep glibc's default thresholds instead of the CLI's (ganforge.allocator), to compare")
    return p.parse_args(argv)


def build(preset: str, shape: str):
    cfg = resolve_config(preset, {})
    channels, size, classes = (int(v) for v in shape.split(","))
    family = FAMILIES.get(cfg.model.family)(cfg.model, NetShape(channels, size, cfg.model.z_dim, classes))
    return family.eval(), cfg


def evaluations_per_second(family, n: int, chunk: int, steps: int) -> tuple[float, int]:
    """(image-evaluations per second, evaluations per image) of sampling n images in chunks of ``chunk``."""
    z = family.sample_latent(n, torch.Generator().manual_seed(0), device="cpu")
    labels = torch.arange(n) % family.shape.num_classes if family.conditional else None
    with family.sampling(SamplerRequest(steps=steps)) as record:
        generate_uint8(family, z[:chunk], None if labels is None else labels[:chunk], chunk=chunk)  # warm-up
        started = time.perf_counter()
        generate_uint8(family, z, labels, chunk=chunk)
        seconds = time.perf_counter() - started
    return n * record["nfe_per_image"] / seconds, record["nfe_per_image"]


def main(argv=None) -> int:
    args = parse_args(argv)
    kept = False if args.system_malloc else keep_freed_memory()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} images x {args.steps} steps, "
          f"{'freed memory kept (ganforge.allocator)' if kept else 'default malloc thresholds'}")
    for preset in args.presets.split(","):
        family, cfg = build(preset, args.shape)
        own = cfg.model.options.get("sample_steps", args.steps)
        for chunk in args.chunks:
            rate, nfe = evaluations_per_second(family, args.images, chunk, args.steps)
            own_nfe = nfe // args.steps * own
            mark = " (default)" if chunk == family.sample_chunk else ""
            print(f"{preset:16s} chunk {chunk:4d}{mark:10s} {rate:8.0f} image-evaluations/s   "
                  f"{10_000 * own_nfe / rate:7.0f} s per 10k images at {own} steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
