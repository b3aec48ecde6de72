"""Every bad input answered: a table of malformed inputs, one or more for every subcommand.

Each case runs the CLI in-process (``ganforge.cli.main``) and asserts the contract for bad input: exit
status 2, exactly one line on stderr starting ``ganforge: error:`` that names the offending thing, no
traceback, and nothing written or changed: every file and folder under the case's temporary directory
(which holds the copy of a tiny real run the case may point at) hashes the same before and after.

Two tiny real runs (an unconditional and a conditional DCGAN, one step on 64 Fashion-MNIST images, a
few hundred kB each) are trained once per module and copied per case, so cases cannot interfere.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest
import torch

import ganforge
from ganforge.cli import main

from conftest import needs_fashion

pytestmark = needs_fashion

SMALL = {"model.generator.width": 8, "model.discriminator.width": 8, "model.z_dim": 8}
TINY_RUN = dict(steps=1, data="fashion-mnist:train[:64]", batch_size=16, precision="fp32", grid_size=4,
                sample_every=1000, ckpt_every=1000)
CKPT = "checkpoints/step-0000001.pt"
RNG = np.random.default_rng(0)

# A setup writes a case's files: given the case's folder and ``where`` (the tiny runs by kind, "gan" and
# "cgan", and the case's feature/classifier "cache").
Setup = Callable[[Path, dict], None]


@dataclass(frozen=True)
class Case:
    """One malformed input: the command line (``{tmp}`` is the case's folder, ``{run}`` its copy of a run),
    the fragments its error line must contain, what to write first, and which tiny run to copy."""

    id: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    setup: Optional[Setup] = None
    run: Optional[str] = None  # "gan" or "cgan": copied to {tmp}/run before setup


# ---------------------------------------------------------------- setups: files the cases read

def both(*setups: Setup) -> Setup:
    """Several setups, in order."""
    def apply(tmp: Path, where: dict) -> None:
        for s in setups:
            s(tmp, where)
    return apply


def raw(name: str, data: bytes) -> Setup:
    """``{tmp}/name`` holding exactly ``data`` (its folders created)."""
    def write(tmp: Path, where: dict) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(data)
    return write


def npz(name: str, **arrays: np.ndarray) -> Setup:
    def write(tmp: Path, where: dict) -> None:
        np.savez(tmp / name, **arrays)
    return write


def npy(name: str, array: np.ndarray) -> Setup:
    def write(tmp: Path, where: dict) -> None:
        np.save(tmp / name, array)
    return write


def pickled_objects(name: str) -> Setup:
    """A .npy or .npz whose object array would run ``touch {tmp}/pwned`` if it were ever unpickled."""
    def write(tmp: Path, where: dict) -> None:
        objects = np.array([Evil(tmp / "pwned"), None], dtype=object)
        if name.endswith(".npz"):
            np.savez(tmp / name, images=objects)
        else:
            np.save(tmp / name, objects, allow_pickle=True)
    return write


def idx(images: np.ndarray, magic: int = 0x803, cut: int = 0) -> bytes:
    """An IDX file of ``images`` (its header says their shape), optionally with ``cut`` bytes missing."""
    data = struct.pack(">I", magic) + struct.pack(f">{images.ndim}I", *images.shape) + images.tobytes()
    return data[:len(data) - cut]


def mnist_root(images: bytes) -> Setup:
    """``{tmp}/data`` holding an MNIST test split whose images file is ``images`` (labels are fine)."""
    labels = idx(np.zeros(4, np.uint8), magic=0x801)
    return both(raw("data/t10k-images-idx3-ubyte", images), raw("data/t10k-labels-idx1-ubyte", labels))


def in_cache(rel: str, data: bytes) -> Setup:
    """The file ``rel`` of the case's cache (``$GANFORGE_CACHE``) holding ``data``."""
    def write(tmp: Path, where: dict) -> None:
        (where["cache"] / rel).parent.mkdir(parents=True, exist_ok=True)
        (where["cache"] / rel).write_bytes(data)
    return write


def in_run(rel: str, data: bytes) -> Setup:
    """The file ``rel`` of the case's run copy replaced by ``data``."""
    return raw(f"run/{rel}", data)


def truncate_checkpoint(tmp: Path, where: dict) -> None:
    """The run copy's checkpoint cut to its first 5,000 bytes (a crash mid-copy)."""
    path = tmp / "run" / CKPT
    path.write_bytes(path.read_bytes()[:5000])


def foreign_checkpoint(tmp: Path, where: dict) -> None:
    """The conditional run's checkpoint copied over the unconditional run's."""
    shutil.copyfile(where["cgan"] / CKPT, tmp / "run" / CKPT)


def state_dict_checkpoint(tmp: Path, where: dict) -> None:
    """A plain PyTorch state dict (another program's weights) where the run's checkpoint was."""
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp / "run" / CKPT)


def empty_ganforge_checkpoint(tmp: Path, where: dict) -> None:
    """A checkpoint that claims the ganforge format but holds no weights, step or config."""
    torch.save({"format": "ganforge-checkpoint-1"}, tmp / "run" / CKPT)


class Evil:
    """Unpickling this runs a shell command that creates ``{tmp}/pwned`` (the snapshot would see it)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_checkpoint(tmp: Path, where: dict) -> None:
    """A plain pickle in place of the checkpoint, which would create ``{tmp}/pwned`` if unpickled."""
    (tmp / "run" / CKPT).write_bytes(pickle.dumps({"format": "x", "model": Evil(tmp / "pwned")}))


def folder_of(name: str, files: dict[str, bytes]) -> Setup:
    return both(*(raw(f"{name}/{f}", data) for f, data in files.items()))


def png_bomb() -> bytes:
    """A PNG header claiming 200,000 x 200,000 pixels (a decompression bomb): Pillow refuses to open it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 200_000, 200_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def saved(save, array: np.ndarray) -> bytes:
    """The bytes ``np.save`` or ``np.savez`` writes for ``array``."""
    buffer = io.BytesIO()
    save(buffer, array)
    return buffer.getvalue()


U8 = RNG.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
GOOD = npz("good.npz", images=U8)
GOOD_NPZ = saved(np.savez, U8)  # the bytes of good.npz, to cut short


# ---------------------------------------------------------------- the corpus

def dry_run(*args: str) -> tuple[str, ...]:
    return ("train", "dcgan-fashion", "--out", "{tmp}/out", "--dry-run", *args)


def fresh_train(*args: str) -> tuple[str, ...]:
    return ("train", "dcgan-fashion", "--out", "{tmp}/out", "steps=1", "batch_size=16", *args)


def resume(*args: str) -> tuple[str, ...]:
    return ("train", "dcgan-fashion", "--out", "{run}", "--resume", *args)


def sample(*args: str) -> tuple[str, ...]:
    return ("sample", "{run}", "--out", "{tmp}/s.npz", *args)


def score(input2: str, *args: str, ref: str = "fashion-mnist:test") -> tuple[str, ...]:
    return ("score", ref, input2, "--n", "16", *args)


def eval_run(*args: str) -> tuple[str, ...]:
    return ("eval", "{run}", "--n", "16", *args)


def viz(kind: str, *args: str) -> tuple[str, ...]:
    return ("viz", "{run}", kind, "--out", "{tmp}/v.png", *args)


def sweep(*args: str) -> tuple[str, ...]:
    return ("sweep", "lucic-ns", "--trials", "1", "--out", "{tmp}/sw", *args)


def sweep_report(*args: str, storage: str = "sqlite:///{tmp}/s.db") -> tuple[str, ...]:
    return ("sweep", "report", "--storage", storage, "--out", "{tmp}/r.png", *args)


def optuna_storage(name: str, *studies: str) -> Setup:
    """``{tmp}/name``: an Optuna SQLite storage holding the (empty) studies ``studies``."""
    def write(tmp: Path, where: dict) -> None:
        import optuna

        from ganforge.sweep._optuna import quiet

        with quiet():
            storage = optuna.storages.RDBStorage(f"sqlite:///{tmp / name}")
            for study in studies:
                optuna.create_study(study_name=study, storage=storage)
            storage.engine.dispose()
    return write


def experiment(name: str, dataset: str, *args: str) -> tuple[str, ...]:
    return ("experiment", name, dataset, "--out", "{tmp}/exp", "--n", "16", *args)


BAD_CONFIG = {"invalid JSON": b'{"preset": "dcgan-fashion",', "a JSON list": b'["dcgan-fashion"]',
              "unknown keys": b'{"preset": "dcgan-fashion", "bogus_key": 1}'}

CASES = [
    # train: names, keys, values, data specs
    Case("train-unknown-preset", ("train", "nope", "--out", "{tmp}/out"), ("preset 'nope'",)),
    Case("train-unknown-key", dry_run("stepz=1"), ("stepz",)),
    Case("train-unknown-network-option", fresh_train("model.generator.widht=8"), ("widht",)),
    Case("train-network-width-text", fresh_train("model.generator.width=abc"), ("width", "abc")),
    Case("train-network-width-negative", fresh_train("model.generator.width=-3"), ("dcgan-g", "-3")),
    Case("train-adam-betas", dry_run("d_opt.betas=[2,3]"), ("d_opt.betas",)),
    Case("train-image-size-negative", dry_run("image_size=-5"), ("image_size", "-5")),
    Case("train-not-key-value", dry_run("steps"), ("'steps'", "KEY=VALUE")),
    Case("train-negative-steps", dry_run("steps=-1"), ("steps", "-1")),
    Case("train-batch-size-text", dry_run("batch_size=abc"), ("batch_size", "abc")),
    Case("train-precision-fp16", dry_run("precision=fp16"), ("precision", "fp16")),
    Case("train-device-tpu", dry_run("device=tpu"), ("device", "tpu")),
    Case("train-negative-lr", dry_run("g_opt.lr=-1"), ("g_opt.lr", "-1")),
    Case("train-ema-decay-1.5", dry_run("ema_decay=1.5"), ("ema_decay", "1.5")),
    Case("train-d-steps-0", dry_run("d_steps=0"), ("d_steps", "0")),
    Case("train-seed-too-large", dry_run(f"seed={2**64}"), ("seed", str(2**64))),
    Case("train-eval-every-negative", dry_run("eval_every=-1"), ("eval_every", "-1")),
    Case("train-log-to-unknown", dry_run("log_to=wandb"), ("log_to", "wandb", "jsonl, tensorboard")),
    Case("train-log-to-unknown-fresh", fresh_train("log_to=tensorboard,wandb"), ("log_to", "wandb", "tensorboard")),
    Case("train-label-smoothing-2", dry_run("model.label_smoothing=2"), ("model.label_smoothing", "2")),
    Case("train-unknown-loss", fresh_train("model.loss=nope"), ("loss 'nope'",)),
    Case("train-unknown-network", fresh_train("model.generator.name=nope"), ("'nope'",)),
    Case("train-unknown-dataset", fresh_train("data=nope:train"), ("dataset 'nope'",)),
    Case("train-unknown-split", fresh_train("data=fashion-mnist:bogus"), ("'bogus'", "fashion-mnist")),
    Case("train-empty-slice", fresh_train("data=fashion-mnist:train[5:5]"), ("[5:5]",)),
    Case("train-reversed-slice", fresh_train("data=fashion-mnist:train[10:3]"), ("[10:3]", "selects no images")),
    Case("train-slice-past-the-end", fresh_train("data=fashion-mnist:test[:20000]"), ("[0:20000]", "10000")),
    Case("train-out-is-a-file", ("train", "dcgan-fashion", "--out", "{tmp}/f/out", "steps=1", "batch_size=16",
                                 "data=fashion-mnist:train[:64]"), ("f/out",), raw("f", b"")),
    Case("train-empty-npz-file", fresh_train("data=npz:{tmp}/empty.npz"), ("empty.npz",), raw("empty.npz", b"")),
    Case("train-over-an-existing-run", ("train", "dcgan-fashion", "--out", "{run}", "steps=1"),
         ("already holds a run",), run="gan"),
    # train --resume on damaged runs
    *(Case(f"resume-config-{what.replace(' ', '-')}", resume("steps=2"), ("config.json",),
           in_run("config.json", text), run="gan") for what, text in BAD_CONFIG.items()),
    Case("resume-negative-steps", resume("steps=-1"), ("steps", "-1"), run="gan"),
    Case("resume-foreign-checkpoint", resume("steps=2"), ("step-0000001.pt",), foreign_checkpoint, run="gan"),
    Case("resume-truncated-checkpoint", resume("steps=2"), ("step-0000001.pt",), truncate_checkpoint, run="gan"),
    # sample
    Case("sample-n-0", sample("--n", "0"), ("--n", "0"), run="gan"),
    Case("sample-seed-negative", sample("--seed", "-1"), ("--seed", "'-1'"), run="gan"),
    Case("sample-n-text", sample("--n", "abc"), ("--n", "abc"), run="gan"),
    Case("sample-class-99", sample("--class", "99"), ("--class 99",), run="cgan"),
    Case("sample-class-negative", sample("--class", "-1"), ("--class -1",), run="cgan"),
    Case("sample-class-unconditional", sample("--class", "3"), ("--class", "not conditional"), run="gan"),
    Case("sample-out-jpg", ("sample", "{run}", "--out", "{tmp}/s.jpg"), ("s.jpg",), run="gan"),
    Case("sample-out-is-a-folder", ("sample", "{run}", "--out", "{tmp}/dir.png"), ("dir.png",),
         raw("dir.png/keep", b""), run="gan"),
    Case("sample-truncated-checkpoint", sample(), ("step-0000001.pt",), truncate_checkpoint, run="gan"),
    Case("sample-random-bytes-checkpoint", sample(), ("step-0000001.pt",),
         in_run(CKPT, RNG.integers(0, 256, 4096, dtype=np.uint8).tobytes()), run="gan"),
    Case("sample-pickle-checkpoint", sample(), ("step-0000001.pt",), evil_checkpoint, run="gan"),
    Case("sample-state-dict-checkpoint", sample(), ("step-0000001.pt", "not a ganforge checkpoint"),
         state_dict_checkpoint, run="gan"),
    Case("sample-incomplete-checkpoint", sample(), ("step-0000001.pt", "incomplete"),
         empty_ganforge_checkpoint, run="gan"),
    Case("sample-foreign-checkpoint", sample(), ("step-0000001.pt", "config.json"), foreign_checkpoint, run="gan"),
    *(Case(f"sample-config-{what.replace(' ', '-')}", sample(), ("config.json",), in_run("config.json", text),
           run="gan") for what, text in BAD_CONFIG.items()),
    Case("sample-missing-checkpoint-file", sample("--checkpoint", "{tmp}/none.pt"), ("none.pt",), run="gan"),
    Case("sample-not-a-run", ("sample", "{tmp}/plain", "--out", "{tmp}/s.png"), ("plain",), raw("plain/a.txt", b"x")),
    # score: unknown names, then malformed files of every kind
    Case("score-unknown-metric", score("{tmp}/good.npz", "--metrics", "fid,nope"), ("metric 'nope'",), GOOD),
    Case("score-empty-metrics", score("{tmp}/good.npz", "--metrics", ","), ("--metrics",), GOOD),
    Case("score-unknown-features", score("{tmp}/good.npz", "--features", "nope"), ("extractor 'nope'",), GOOD),
    Case("score-unknown-dataset", score("{tmp}/good.npz", ref="nope:test"), ("nope:test",), GOOD),
    Case("score-empty-slice", score("{tmp}/good.npz", ref="fashion-mnist:test[5:5]"), ("[5:5]",), GOOD),
    Case("score-n-0", score("{tmp}/good.npz", "--n", "0", "--features", "pixels"), ("--n", "0"), GOOD),
    Case("score-missing-file", score("{tmp}/none.npz"), ("none.npz",)),
    Case("score-txt-file", score("{tmp}/a.txt"), ("a.txt",), raw("a.txt", b"images")),
    Case("score-empty-npz", score("{tmp}/empty.npz"), ("empty.npz",), raw("empty.npz", b"")),
    Case("score-truncated-npz", score("{tmp}/cut.npz"), ("cut.npz",), raw("cut.npz", GOOD_NPZ[:900])),
    Case("score-npz-without-images", score("{tmp}/x.npz"), ("x.npz", "images"), npz("x.npz", a=U8, b=U8)),
    Case("score-npz-no-arrays", score("{tmp}/x.npz"), ("x.npz", "images"), npz("x.npz")),
    Case("score-npz-zero-images", score("{tmp}/x.npz"), ("x.npz",), npz("x.npz", images=U8[:0])),
    Case("score-npz-objects", score("{tmp}/x.npz"), ("x.npz",), pickled_objects("x.npz")),
    Case("score-npy-objects", score("{tmp}/x.npy"), ("x.npy",), pickled_objects("x.npy")),
    Case("score-npy-rank-2", score("{tmp}/x.npy"), ("x.npy", "(4, 28)"), npy("x.npy", U8[:, 0])),
    Case("score-npy-2-channels", score("{tmp}/x.npy"), ("x.npy", "(4, 28, 28, 2)"), npy("x.npy", np.stack([U8] * 2, -1))),
    Case("score-npz-4-channels", score("{tmp}/x.npz"), ("x.npz", "(4, 28, 28, 4)"),
         npz("x.npz", images=np.stack([U8] * 4, -1))),
    Case("score-float-in-01", score("{tmp}/x.npy"), ("x.npy", "float32"), npy("x.npy", (U8 / 255).astype(np.float32))),
    Case("score-float-0-255", score("{tmp}/x.npz"), ("x.npz", "float64"), npz("x.npz", images=U8 * 1.0)),
    Case("score-int64-out-of-range", score("{tmp}/x.npy"), ("x.npy", "int64"), npy("x.npy", U8.astype(np.int64) + 300)),
    Case("score-labels-wrong-count", score("{tmp}/x.npz"), ("x.npz", "labels"),
         npz("x.npz", images=U8, labels=np.arange(3))),
    Case("score-labels-float", score("{tmp}/x.npz"), ("x.npz", "labels"),
         npz("x.npz", images=U8, labels=np.zeros(4))),
    Case("score-image-size-mismatch", score("{tmp}/x.npz", "--features", "pixels", "--metrics", "fid"),
         ("x.npz", "32"), npz("x.npz", images=RNG.integers(0, 256, (4, 32, 32), dtype=np.uint8))),
    Case("score-truncated-idx", score("{tmp}/good.npz", "--data-root", "{tmp}/data", ref="mnist:test"),
         ("t10k-images-idx3-ubyte", "truncated"), both(GOOD, mnist_root(idx(U8, cut=10)))),
    Case("score-idx-wrong-magic", score("{tmp}/good.npz", "--data-root", "{tmp}/data", ref="mnist:test"),
         ("t10k-images-idx3-ubyte", "magic"), both(GOOD, mnist_root(idx(U8, magic=0x0D03)))),
    Case("score-gzip-idx-garbage", score("{tmp}/good.npz", "--data-root", "{tmp}/data", ref="mnist:test"),
         ("t10k-images-idx3-ubyte",), both(GOOD, mnist_root(gzip.compress(idx(U8))[:40]))),
    Case("score-folder-non-images", score("{tmp}/pics"), ("a.png",), folder_of("pics", {"a.png": b"not a png"})),
    Case("score-folder-decompression-bomb", score("{tmp}/pics"), ("a.png", "decompression bomb"),
         folder_of("pics", {"a.png": png_bomb()})),
    Case("score-npy-named-npz", score("{tmp}/x.npz"), ("x.npz", "not a .npz"), raw("x.npz", saved(np.save, U8))),
    Case("score-npz-named-npy", score("{tmp}/x.npy"), ("x.npy", "not a .npy"), raw("x.npy", GOOD_NPZ)),
    Case("score-cifar-garbage-batch", score("{tmp}/good.npz", "--data-root", "{tmp}/data", ref="cifar10:test"),
         ("test_batch",), both(GOOD, raw("data/cifar-10-batches-py/test_batch", b"\x80\x02garbage"))),
    Case("score-svhn-garbage-mat", score("{tmp}/good.npz", "--data-root", "{tmp}/data", ref="svhn:test"),
         ("test_32x32.mat",), both(GOOD, raw("data/svhn/test_32x32.mat", b"MATLAB 5.0 garbage"))),
    Case("score-folder-no-images", score("{tmp}/pics"), ("pics", "no images"), folder_of("pics", {"a.txt": b"x"})),
    Case("score-cond-acc-unlabelled", score("{tmp}/good.npz", "--metrics", "cond-acc"), ("cond-acc", "good.npz"), GOOD),
    Case("score-is-on-inception", score("{tmp}/good.npz", "--metrics", "is", "--features", "inception"),
         ("is", "inception"), GOOD),
    Case("score-n-too-small-for-prdc", score("{tmp}/good.npz", "--n", "2", "--metrics", "prdc", "--features",
                                             "pixels"), ("prdc", "2 and 2 images"), GOOD),
    Case("score-seed-too-large", score("{tmp}/good.npz", "--seed", str(2**64)), ("--seed", str(2**64)), GOOD),
    *(Case(f"score-classifier-record-{what}", score("{tmp}/good.npz", "--metrics", "ddm"),
           ("fashion-mnist-0123456789ab.json",), both(GOOD, in_cache("classifiers/fashion-mnist-0123456789ab.json", text)))
      for what, text in (("garbage", b"{"), ("list", b"[1]"), ("no-recipe", b'{"recipe": 1}'))),
    Case("score-is-on-pixels", score("{tmp}/good.npz", "--metrics", "is", "--features", "pixels"),
         ("is", "pixels"), GOOD),
    # eval: every refusal leaves the run as it was (no eval/ folder)
    Case("eval-not-a-run", ("eval", "{tmp}/plain"), ("plain",), raw("plain/a.txt", b"x")),
    Case("eval-unknown-metric", eval_run("--metrics", "nope"), ("metric 'nope'",), run="gan"),
    Case("eval-unknown-features", eval_run("--features", "nope"), ("extractor 'nope'",), run="gan"),
    Case("eval-unknown-reference", eval_run("--ref", "nope:test"), ("nope:test",), run="gan"),
    Case("eval-n-0", eval_run("--n", "0", "--features", "pixels"), ("--n", "0"), run="gan"),
    Case("eval-cond-acc-unconditional", eval_run("--metrics", "cond-acc"), ("cond-acc", "labels"), run="gan"),
    Case("eval-is-on-inception", eval_run("--metrics", "is", "--features", "inception"), ("is", "inception"), run="gan"),
    Case("eval-parzen-npz-reference", eval_run("--metrics", "parzen", "--ref", "{tmp}/good.npz"),
         ("parzen", "good.npz"), GOOD, run="gan"),
    Case("eval-n-too-small-for-kid", eval_run("--n", "1", "--metrics", "kid", "--features", "pixels"),
         ("kid", "1 and 1 images"), run="gan"),
    Case("eval-truncated-checkpoint", eval_run("--features", "pixels"), ("step-0000001.pt",), truncate_checkpoint,
         run="gan"),
    # report
    Case("report-not-a-run", ("report", "{tmp}/plain", "--out", "{tmp}/r.html"), ("plain",), raw("plain/a.txt", b"x")),
    *(Case(f"report-config-{what.replace(' ', '-')}", ("report", "{run}", "--out", "{tmp}/r.html"), ("config.json",),
           in_run("config.json", text), run="gan") for what, text in BAD_CONFIG.items()),
    Case("report-broken-eval-record", ("report", "{run}", "--out", "{tmp}/r.html"), ("step-0000001.json",),
         in_run("eval/step-0000001.json", b"{"), run="gan"),
    Case("report-eval-protocol-a-list", ("report", "{run}", "--out", "{tmp}/r.html"), ("step-0000001.json", "protocol"),
         in_run("eval/step-0000001.json", b'{"fid": 1.0, "protocol": [1]}'), run="gan"),
    Case("report-eval-record-binary", ("report", "{run}", "--out", "{tmp}/r.html"), ("step-0000001.json",),
         in_run("eval/step-0000001.json", b"\xff\xfe\x00"), run="gan"),
    Case("report-out-is-a-folder", ("report", "{run}", "--out", "{tmp}/r.html"), ("r.html",),
         raw("r.html/keep", b""), run="gan"),
    # viz
    Case("viz-unknown-kind", viz("nope"), ("picture 'nope'",), run="gan"),
    Case("viz-not-a-run", ("viz", "{tmp}/plain", "interpolate", "--out", "{tmp}/v.png"), ("plain",),
         raw("plain/a.txt", b"x")),
    Case("viz-manifold-on-a-gan", viz("manifold"), ("manifold", "z_dim"), run="gan"),
    Case("viz-class-sweep-unconditional", viz("class-sweep"), ("class-sweep", "conditional"), run="gan"),
    Case("viz-codes-not-infogan", viz("codes"), ("codes",), run="gan"),
    Case("viz-unknown-path", viz("interpolate", "--path", "curved"), ("curved",), run="gan"),
    Case("viz-rows-0", viz("interpolate", "--rows", "0"), ("--rows",), run="cgan"),
    Case("viz-out-jpg", ("viz", "{run}", "interpolate", "--out", "{tmp}/v.jpg"), ("v.jpg",), run="gan"),
    # sweep: every refusal comes before the storage or --out is touched
    Case("sweep-unknown-preset", ("sweep", "nope", "--trials", "1", "--out", "{tmp}/sw"), ("preset 'nope'",)),
    Case("sweep-unknown-space", sweep("--space", "nope"), ("search space 'nope'", "lucic")),
    Case("sweep-unknown-pruner", sweep("--pruner", "nope"), ("pruner 'nope'", "median")),
    Case("sweep-unknown-features", sweep("--features", "nope"), ("extractor 'nope'",)),
    Case("sweep-unknown-key", sweep("stepz=1"), ("stepz",)),
    Case("sweep-bad-storage-url", sweep("--storage", "nope://x"), ("nope://x", "SQLAlchemy database URL")),
    Case("sweep-unreachable-storage", sweep("--storage", "postgresql+psycopg://u:secret@127.0.0.1:1/db"),
         ("u:***@127.0.0.1:1/db", "SQLAlchemy database URL")),
    Case("sweep-in-memory-storage", sweep("--storage", "sqlite://"), ("sqlite://", "in-memory")),
    Case("sweep-trials-0", ("sweep", "lucic-ns", "--trials", "0", "--out", "{tmp}/sw"), ("--trials", "'0'")),
    Case("sweep-without-trials", ("sweep", "lucic-ns", "--out", "{tmp}/sw"), ("--trials N and --out DIR",)),
    Case("sweep-out-is-a-file", sweep(), ("sw", "is a file"), raw("sw", b"")),
    Case("sweep-folder-of-another-study", sweep(), ("study 'other'", "lucic-ns"), raw("sw/sweep.json", b'{"study": "other"}')),
    Case("sweep-report-unknown-study", sweep_report("--study", "nope"), ("study 'nope'", "expected one of: a"),
         optuna_storage("s.db", "a")),
    Case("sweep-report-empty-storage", sweep_report(), ("holds no study",), optuna_storage("s.db")),
    Case("sweep-report-missing-file", sweep_report(storage="sqlite:///{tmp}/none.db"), ("none.db", "no such SQLite file")),
    Case("sweep-report-out-jpg", ("sweep", "report", "--storage", "sqlite:///{tmp}/s.db", "--out", "{tmp}/r.jpg"),
         ("r.jpg", ".png"), optuna_storage("s.db", "a")),
    Case("sweep-report-nothing-to-read", ("sweep", "report"), ("--storage URL",)),
    # experiment, classifier, fetch, presets, data
    Case("experiment-unknown", experiment("nope", "fashion-mnist"), ("experiment 'nope'",)),
    Case("experiment-unknown-dataset", experiment("missing-modes", "nope"), ("dataset 'nope'",)),
    Case("experiment-dataset-with-split", experiment("corruptions", "fashion-mnist:train"), ("fashion-mnist:train",)),
    Case("experiment-unknown-metric", experiment("missing-modes", "fashion-mnist", "--metrics", "nope"),
         ("metric 'nope'",)),
    Case("experiment-n-0", experiment("corruptions", "fashion-mnist", "--n", "0", "--metrics", "fid",
                                      "--features", "pixels"), ("got 0",)),
    Case("experiment-out-is-a-file", experiment("missing-modes", "fashion-mnist"), ("exp",), raw("exp", b"")),
    Case("experiment-rows-on-a-metric-experiment", experiment("corruptions", "fashion-mnist", "--rows", "ns"),
         ("corruptions", "--rows")),
    Case("lucic-table-unknown-row", experiment("lucic-table", "fashion-mnist", "--rows", "ns,nope"),
         ("nope", "wgangp")),
    Case("lucic-table-unknown-key", experiment("lucic-table", "fashion-mnist", "--rows", "ns", "stepz=3"),
         ("stepz",)),
    Case("lucic-table-data-override", experiment("lucic-table", "fashion-mnist", "data=mnist:train"),
         ("DATASET", "data=")),
    Case("lucic-table-not-fid", experiment("lucic-table", "fashion-mnist", "--metrics", "kid"), ("FID only",)),
    Case("lucic-table-garbage-row-file", experiment("lucic-table", "fashion-mnist", "--rows", "ns", "steps=2"),
         ("ns.json",), raw("exp/ns.json", b"{not json")),
    Case("classifier-unknown-dataset", ("classifier", "train", "nope"), ("dataset 'nope'",)),
    Case("classifier-dataset-with-split", ("classifier", "train", "fashion-mnist:train"), ("fashion-mnist:train",)),
    Case("classifier-epochs-0", ("classifier", "train", "digits", "--epochs", "0"), ("--epochs", "0")),
    Case("classifier-no-action", ("classifier",), ("action",)),
    Case("fetch-unknown", ("fetch", "nope"), ("nope",)),
    Case("fetch-logits-without-from", ("fetch", "inception-logits"), ("--from",)),
    Case("fetch-logits-missing-file", ("fetch", "inception-logits", "--from", "{tmp}/none.pth"), ("none.pth",)),
    Case("fetch-logits-garbage-file", ("fetch", "inception-logits", "--from", "{tmp}/w.pth"), ("w.pth",),
         raw("w.pth", b"\x80\x04garbage")),
    Case("presets-extra-argument", ("presets", "extra"), ("extra",)),
    Case("data-missing-root", ("data", "--data-root", "{tmp}/none"), ("none",)),
    Case("no-subcommand", (), ("command",)),
]


# ---------------------------------------------------------------- the test

@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    """One unconditional and one conditional DCGAN, one step each on 64 Fashion-MNIST images."""
    root = tmp_path_factory.mktemp("tiny-runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_CACHE", str(root / "cache"))
    mp.delenv("GANFORGE_DATA", raising=False)
    runs = {"gan": ganforge.train("dcgan-fashion", root / "gan", **TINY_RUN, **SMALL),
            "cgan": ganforge.train("cdcgan-fashion", root / "cgan", **TINY_RUN, **SMALL,
                                   **{"model.discriminator.features": 16})}
    mp.undo()
    return {k: Path(v) for k, v in runs.items()}


def snapshot(folder: Path) -> dict[str, str]:
    """sha1 of every file and a marker for every folder under ``folder``, by relative path."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        out[rel] = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "<dir>"
    return out


def prepare(case: Case, tmp: Path, where: dict) -> list[str]:
    """Copy the case's run and write its files into ``tmp``; its command line with the paths filled in."""
    if case.run:
        shutil.copytree(where[case.run], tmp / "run")
    if case.setup:
        case.setup(tmp, where)
    return [a.format(tmp=tmp, run=tmp / "run") for a in case.argv]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tiny_runs, tmp_path_factory, capsys, monkeypatch):
    """Exit 2, one ``ganforge: error:`` line naming the thing, and every file under ``tmp`` as it was (the
    feature/classifier cache lives elsewhere: a cache may be filled before a late refusal)."""
    tmp, cache = tmp_path_factory.mktemp("case"), tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    argv = prepare(case, tmp, {**tiny_runs, "cache": cache})
    before = snapshot(tmp)
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), captured.err
    assert "Traceback" not in captured.err and len(lines[0]) < 600, lines[0]
    for fragment in case.names:
        assert fragment in lines[0], lines[0]
    assert snapshot(tmp) == before


def test_corpus_is_large_and_covers_every_subcommand():
    from ganforge.cli import COMMANDS

    assert {c.argv[0] for c in CASES if c.argv} == {c.name for c in COMMANDS} and len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("argv", [("sweep", "lucic-ns", "--trials", "1", "--out", "{tmp}/sw"),
                                  ("sweep", "report", "--storage", "sqlite:///{tmp}/s.db", "--out", "{tmp}/r.png")])
def test_sweep_without_optuna_installed_is_one_line(argv, tmp_path, monkeypatch, capsys):
    """Without the optional optuna package (simulated: importing it fails) ``sweep`` names the extra to
    install, and writes nothing."""
    monkeypatch.setitem(sys.modules, "optuna", None)
    code = main([a.format(tmp=tmp_path) for a in argv])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "optuna" in lines[0] and "pip install 'ganforge[sweep]'" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_real_terminal_sees_one_line_and_no_traceback(tiny_runs, tmp_path):
    """The same contract through a real process: python -m ganforge on a truncated checkpoint."""
    shutil.copytree(tiny_runs["gan"], tmp_path / "run")
    truncate_checkpoint(tmp_path, tiny_runs)
    env = {**os.environ, "GANFORGE_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(Path(ganforge.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "ganforge", "sample", str(tmp_path / "run"), "--out",
                           str(tmp_path / "s.png")], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: ") and "step-0000001.pt" in lines[0], proc.stderr
    assert not (tmp_path / "s.png").exists()


def test_a_log_with_damaged_lines_is_read_around(tiny_runs, tmp_path, capsys):
    """log.jsonl lines cut short by a crash (bytes that are not UTF-8, a JSON list) are skipped, as its
    reader promises: the report is written and resuming keeps the good records."""
    from ganforge.runs import RunDir

    shutil.copytree(tiny_runs["gan"], tmp_path / "run")
    run = RunDir(tmp_path / "run")
    good = run.read_log()
    with open(run.log_path, "ab") as fh:
        fh.write(b'\xff\xfe{"step": 9\n[1, 2]\n')
    assert run.read_log() == good and len(good) == 1
    assert main(["report", str(run.root), "--out", str(tmp_path / "r.html")]) == 0, capsys.readouterr().err
    run.truncate_log(1)
    assert run.read_log() == good and run.log_path.read_bytes().count(b"\n") == 1


@pytest.mark.parametrize("old", [b"[1]", b'{"protocol": [1]}', b"\xff", b'{"protocol": {"features": 1}}'])
def test_eval_replaces_a_record_it_cannot_merge_into(old, tiny_runs, tmp_path, monkeypatch, capsys):
    """An eval record that is not one eval wrote (unreadable, or the wrong shape) is replaced, as an invalid
    JSON one always was, instead of crashing the merge after every metric was computed."""
    import json

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    shutil.copytree(tiny_runs["gan"], tmp_path / "run")
    record = tmp_path / "run" / "eval" / "step-0000001.json"
    record.parent.mkdir()
    record.write_bytes(old)
    assert main(["eval", str(tmp_path / "run"), "--metrics", "fid", "--features", "pixels", "--n", "16"]) == 0, \
        capsys.readouterr().err
    assert np.isfinite(json.loads(record.read_text())["fid"])
