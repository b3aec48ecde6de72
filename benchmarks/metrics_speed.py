"""Wall-clock seconds of ganforge.metrics on real Fashion-MNIST images.

Real side: the first ``--n`` images of ``fashion-mnist:test``; "generated" side: the first ``--n`` images
of ``fashion-mnist:train`` (real images stand in for samples; the timings do not depend on the content).
Both are flattened to 784-d float in [0, 1]. Timed:

* Parzen: ``parzen_log_likelihood(train, test, sigma=0.2)`` in 784-d pixels, one sigma (goal: < 5 s at
  n = 10,000 on 2 cores).
* DDM: ``ddm(test, train)`` on the 784-d pixels and on a random 10-d Gaussian projection of them (the thesis
  uses 10-d classifier logits; a random projection has the same shape and cost).
* PRDC: ``precision_recall`` (k = 3) plus ``density_coverage`` (k = 5), 784-d pixels.
* Nearest neighbours: ``nearest_neighbour_distances(train, test, k=1)`` in 784-d pixels.
* FID and KID on random 2048-d Gaussian features of ``--n`` points each (Inception features have that
  shape; extracting them is not timed here). KID uses its defaults (100 subsets of 1,000).
* Inception images/s: ganforge's ``inception`` extractor (resize to 299, pool_3) on the first
  ``--inception-n`` real test images (default 200), batches of 50, after a 10-image warm-up. Needs the
  weights in the cache (``ganforge fetch inception``); without them the row is skipped and says why.

    .venv/bin/python benchmarks/metrics_speed.py              # n = 10,000
    .venv/bin/python benchmarks/metrics_speed.py --n 2000 --only parzen,ddm

Numbers are only meaningful on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ganforge import metrics as M
from ganforge.data import load_dataset

ALL = ("parzen", "ddm", "prdc", "nn", "fid", "kid", "inception")


def flat(spec: str, n: int) -> np.ndarray:
    images = load_dataset(f"{spec}[:{n}]").images
    return images.reshape(images.shape[0], -1).to(torch.float32).div_(255.0).numpy()


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def inception_row(n: int) -> tuple[tuple[str, float, str] | None, str]:
    """Time ganforge's Inception extractor on ``n`` real images; (row, "") or (None, why it was skipped)."""
    from ganforge.errors import GanforgeError
    from ganforge.features import extract
    from ganforge.features.inception import InceptionFeatures

    try:
        extractor = InceptionFeatures()
    except GanforgeError as exc:
        return None, f"Inception images/s skipped: {exc}"
    images = load_dataset(f"fashion-mnist:test[:{n}]").images
    extract(extractor, images[:10], batch_size=10)  # warm-up: the first TorchScript calls optimise the graph
    t, feats = timed(lambda: extract(extractor, images, batch_size=50))
    return (f"Inception images/s ({n} images, 299 px)", t, f"{n / t:.1f} images/s, features {feats.shape}"), ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="images per side (default 10000)")
    parser.add_argument("--chunk", type=int, default=1024, help="rows per distance block (default 1024)")
    parser.add_argument("--inception-n", type=int, default=200, help="images for the Inception row (default 200)")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma list out of {','.join(ALL)}")
    args = parser.parse_args()
    only = set(args.only.split(","))

    test, train = flat("fashion-mnist:test", args.n), flat("fashion-mnist:train", args.n)
    n = min(len(test), len(train))
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, n = {n} per side, chunk = {args.chunk}")
    rows = []
    if "parzen" in only:
        t, ll = timed(lambda: M.parzen_log_likelihood(train, test, 0.2, chunk=args.chunk))
        rows.append(("Parzen, 784-d pixels, sigma 0.2", t, f"mean log p = {ll.mean():.1f}"))
    if "ddm" in only:
        t, v = timed(lambda: M.ddm(test, train, chunk=args.chunk))
        rows.append(("DDM, 784-d pixels", t, f"{v:.2f}"))
        proj = rng.normal(size=(784, 10)) / np.sqrt(784)
        t, v = timed(lambda: M.ddm(test @ proj, train @ proj, chunk=args.chunk))
        rows.append(("DDM, random 10-d projection", t, f"{v:.3f}"))
    if "prdc" in only:
        t, v = timed(lambda: (M.precision_recall(test, train, chunk=args.chunk),
                              M.density_coverage(test, train, chunk=args.chunk)))
        (p, r), (d, c) = v
        rows.append(("PRDC (P/R k=3 + D/C k=5), 784-d", t, f"P {p:.3f} R {r:.3f} D {d:.3f} C {c:.3f}"))
    if "nn" in only:
        t, (dist, _) = timed(lambda: M.nearest_neighbour_distances(train, test, k=1, chunk=args.chunk))
        rows.append(("nearest neighbour (k=1), 784-d", t, f"median {np.median(dist):.3f}"))
    if {"fid", "kid"} & only:
        f1 = rng.normal(size=(n, 2048))
        f2 = rng.normal(size=(n, 2048)) + 0.05
        if "fid" in only:
            t, v = timed(lambda: M.frechet_distance(f1, f2))
            rows.append(("FID, random 2048-d features", t, f"{v:.3f}"))
        if "kid" in only:
            t, v = timed(lambda: M.kid(f1, f2))
            rows.append(("KID (100 x 1000), random 2048-d", t, f"{v[0]:.5f} +- {v[1]:.5f}"))
    skipped = []
    if "inception" in only:
        row, why = inception_row(args.inception_n)
        rows.extend([row] if row else [])
        skipped.extend([why] if why else [])
    width = max([len(r[0]) for r in rows] + [6])
    print(f"{'metric':<{width}}  {'seconds':>8}  value")
    for name, seconds, value in rows:
        print(f"{name:<{width}}  {seconds:8.2f}  {value}")
    for line in skipped:
        print(line)


if __name__ == "__main__":
    from ganforge.allocator import keep_freed_memory

    keep_freed_memory()  # the allocator setting the CLI uses
    main()
