"""The generic, model-agnostic training loop.

One :class:`Trainer` builds everything from a :class:`~ganforge.config.RunConfig` (data, model family,
optimisers, EMA, autocast, DDP) and runs Goodfellow et al. 2014's Algorithm 1: ``d_steps`` discriminator
updates then ``g_steps`` (default one) generator updates per training step. Every ``log_every`` steps it
hands a log record to the run's log sinks (log.jsonl, and TensorBoard with ``log_to=tensorboard``:
:mod:`ganforge.logsinks`), every ``sample_every`` steps it saves a fixed-noise grid (also handed to the sinks) and the curves, every
``ckpt_every`` steps (and at the end) a checkpoint holding everything needed to continue bit-for-bit: models,
EMA, optimisers, the data sampler's position and every RNG state. A non-finite loss stops the run and keeps
the last good checkpoint.

Under torchrun every rank takes the same decisions at the same step: a non-finite loss on any rank stops all
of them, and while rank 0 alone writes grids, evaluates or saves, the others wait for it (see
:func:`~ganforge.training.distributed.wait_for_main`), so no collective times out during long evaluations.
"""
from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..config import RunConfig, from_dict, to_dict
from ..data import load_dataset, test_split_of
from ..errors import DataMismatch, GanforgeError, TrainingDiverged
from ..fileio import atomic_path
from ..logsinks import LogSinks, open_sinks, require
from ..models import FAMILIES, generate_uint8
from ..models.base import Batch
from ..nets import NetShape
from ..plots import plot_curves
from ..runs import RunDir
from .checkpoint import checkpoint_config, load_checkpoint, load_model_state, save_checkpoint
from .distributed import any_rank, gather_objects, init_distributed, shutdown, wait_for_main
from .feed import DataFeed, prepare
from .optim import apply_schedule, build_optimizer, check_schedule
from .sampler import IndexSampler
from .sync_bn import convert_sync_batchnorm

GRID_SEED_OFFSET = 12345  # fixed-noise grids use their own generator, never the training RNG
TARGET_SEED_OFFSET = 54321  # the data order of an unpaired family's second domain (data_target)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware: a CUDA GPU that says so, or a CPU with AVX-512 BF16 or
    AMX tiles. Elsewhere oneDNN emulates bf16, and autocast runs the Lucic small GAN ~20x slower than fp32
    (measured on a 2-core AVX2 CPU)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def make_autocast(precision: str, device: torch.device):
    """A zero-argument context factory: bf16 autocast, or nothing for fp32; ``auto`` is bf16 where the
    hardware has it and fp32 elsewhere. Warns (once per run) when an explicit bf16 would be emulated, since
    then it is much slower than fp32 and buys nothing."""
    if precision == "auto":
        precision = "bf16" if native_bf16(device) else "fp32"
    elif precision == "bf16":
        if not native_bf16(device):
            warnings.warn(f"precision=bf16 on a {device.type} without native bf16 (no AVX-512 BF16/AMX): it is "
                          "emulated and far slower than fp32 here; set precision=fp32 or auto", stacklevel=2)
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


class Meter:
    """Running means of logged scalars over one log interval."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, stats: dict[str, float]) -> None:
        for key, value in stats.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def means(self) -> dict[str, float]:
        out = {k: v / max(1, self.count) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return out


Evaluator = Callable[[torch.Tensor, Optional[torch.Tensor]], dict]


class Trainer:
    """Trains ``cfg`` into run directory ``out``. ``evaluator(images, labels) -> {name: value}`` scores
    ``eval_n`` generated uint8 images every ``eval_every`` steps (``ganforge.train`` hands in the
    classifier metrics of :mod:`ganforge.evaluation`); the loop itself imports nothing above training."""

    def __init__(self, cfg: RunConfig, out: str | Path, resume: bool = False,
                 evaluator: Optional[Evaluator] = None) -> None:
        self.cfg = cfg
        require(cfg.log_to)  # a missing optional package fails here, before anything is built or written
        self.evaluator = evaluator
        self.sinks = LogSinks()  # opened by fit() on rank 0
        self.run = RunDir(out)
        self.env, self.device = init_distributed(cfg.device, cfg.dist_timeout_min)
        if cfg.batch_size % self.env.world:
            raise GanforgeError(f"batch_size={cfg.batch_size} must divide evenly over {self.env.world} processes")
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        data = prepare(load_dataset(cfg.data, cfg.data_root), cfg.image_size)
        self.shape = NetShape(data.channels, data.image_size, cfg.model.z_dim, data.num_classes)
        try:
            self.family = FAMILIES.get(cfg.model.family)(cfg.model, self.shape).to(self.device)
        except DataMismatch as exc:  # e.g. pix2pix's gray task on a grayscale set: name the set
            raise GanforgeError(f"data {cfg.data}: {exc}") from None
        if cfg.channels_last:  # NHWC convolutions: about 15% faster for DCGAN 64 px in bf16 on CPU
            self.family.to(memory_format=torch.channels_last)
        try:
            self.sampler = IndexSampler(len(data), cfg.batch_size // self.env.world, cfg.seed,
                                        self.env.rank, self.env.world)
        except ValueError as exc:
            raise GanforgeError(f"data {cfg.data}: {exc}") from None
        self.family.data_root = cfg.data_root  # for families that read data themselves (ModNet's classifier_init)
        inputs = self.family.paired_inputs(data.images)  # a paired task's conditioning images (pix2pix), or None
        self.feed = DataFeed(data, self.sampler, self.family, self.device, cfg.channels_last, inputs)
        self.target_sampler = self._target_feed()  # an unpaired family's second domain (CycleGAN), or None
        if self.family.needs_sources:  # an image-modifying family (ModNet, pix2pix): grids use training images
            self.family.set_sources(data.images)
        self.family.init_from_data(self.feed.mean_image())
        if cfg.ema_decay > 0:
            self.family.enable_ema(cfg.ema_decay, cfg.ema_bn)
        self.opts = self.family.build_optimizers({"g": cfg.g_opt, "d": cfg.d_opt}, build_optimizer)
        for name in self.opts:  # an unknown lr_schedule fails now, naming its key
            try:
                check_schedule(getattr(cfg, f"{name}_opt"))
            except GanforgeError as exc:
                raise GanforgeError(f"config {name}_opt.lr_schedule: {exc}") from None
        self.family.autocast = make_autocast(cfg.precision, self.device)
        if self.env.active:
            torch.manual_seed(cfg.seed + 1 + self.env.rank)  # each rank draws its own noise
        self.seconds_before, self.fit_started, self.marks_passed = 0.0, 0.0, 0
        self.step = self._restore() if resume else self._start_fresh()
        self._wrap_networks()
        self.grid_cols, self.fixed_z, self.fixed_labels = self._grid_inputs()
        self._heldout = None
        self.last_checkpoint: Path | None = self.run.latest_checkpoint() if resume else None

    # ------------------------------------------------------------------ set-up
    def _start_fresh(self) -> int:
        if self.run.checkpoints():
            raise GanforgeError(f"{self.run.root} already holds a run; pass --resume to continue it "
                                f"or choose another --out")
        return 0

    def _target_feed(self) -> IndexSampler | None:
        """For an unpaired family (CycleGAN): load ``data_target``, check it fits the run's images, feed a batch
        of it with each batch of ``data`` (its own data order, seeded from the run's seed) and hand it to the
        family as its second set of sources; returns that data order's sampler. Other families: None, and a
        ``data_target`` is refused."""
        cfg = self.cfg
        if not self.family.unpaired:
            if cfg.data_target:
                raise GanforgeError(f"data_target={cfg.data_target!r} is only read by unpaired image-to-image "
                                    f"families (cyclegan); family {cfg.model.family!r} trains on data alone")
            return None
        if not cfg.data_target:
            raise GanforgeError(f"family {cfg.model.family!r} translates between data and a second image set: set "
                                f"data_target (e.g. data_target='fashion-mnist:train[class=5]')")
        target = prepare(load_dataset(cfg.data_target, cfg.data_root), cfg.image_size)
        if (target.channels, target.image_size) != (self.shape.channels, self.shape.image_size):
            raise GanforgeError(f"data_target {cfg.data_target} has {target.channels}x{target.image_size}px images "
                                f"and data {cfg.data} {self.shape.channels}x{self.shape.image_size}px; expected one "
                                f"shape (set image_size to resize both)")
        try:
            sampler = IndexSampler(len(target), cfg.batch_size // self.env.world, cfg.seed + TARGET_SEED_OFFSET,
                                   self.env.rank, self.env.world)
        except ValueError as exc:
            raise GanforgeError(f"data_target {cfg.data_target}: {exc}") from None
        self.feed.unpaired = DataFeed(target, sampler, self.family, self.device, cfg.channels_last)
        self.family.set_unpaired_sources(target.images)
        return sampler

    def _restore(self) -> int:
        path = self.run.latest_checkpoint()
        if path is None:
            raise GanforgeError(f"--resume: {self.run.root} has no checkpoint to resume from")
        payload = load_checkpoint(path)
        saved = to_dict(from_dict(RunConfig, checkpoint_config(payload)))  # keys added since: their defaults
        if saved["model"] != to_dict(self.cfg)["model"]:
            raise GanforgeError(f"checkpoint {path} was trained with a different model config; "
                                f"resume with the run's own settings")
        load_model_state(self.family, payload["model"], path)
        for name, opt in self.opts.items():
            opt.load_state_dict(payload["optim"][name])
        self.sampler.load_state_dict(payload["sampler"])
        if self.target_sampler is not None:
            if payload.get("target_sampler") is None:
                raise GanforgeError(f"checkpoint {path} holds no data order of data_target to resume")
            self.target_sampler.load_state_dict(payload["target_sampler"])
        self.seconds_before = float(payload.get("train_seconds", 0.0))  # 0 for checkpoints written before it was saved
        states = payload["rng"]
        if len(states) == self.env.world:
            torch.set_rng_state(states[self.env.rank]["torch"])
            if self.device.type == "cuda" and states[self.env.rank].get("cuda") is not None:
                torch.cuda.set_rng_state(states[self.env.rank]["cuda"], self.device)
        return int(payload["step"])

    def _wrap_networks(self) -> None:
        """Under torchrun: BatchNorm over the global batch if ``sync_bn``, then DDP; then torch.compile."""
        wrappers = []
        if self.env.active:
            if self.cfg.sync_bn:
                for net in self.family.trainable().values():
                    convert_sync_batchnorm(net, self.device)
            ids = [self.device.index] if self.device.type == "cuda" else None
            wrappers.append(lambda m: DistributedDataParallel(m, device_ids=ids))
        if self.cfg.compile:
            wrappers.append(torch.compile)
        if wrappers:
            def wrap(module):
                for w in wrappers:
                    module = w(module)
                return module
            self.family.wrap(wrap)

    def _grid_inputs(self) -> tuple[int, torch.Tensor, torch.Tensor | None]:
        """Fixed latents for the progress grids: a square grid, or for conditional models one row per
        class where each column keeps its z (so a column is also a class sweep, Nair and Shah 2017 Fig. 3)."""
        gen = torch.Generator().manual_seed(self.cfg.seed + GRID_SEED_OFFSET)
        cols = int(math.ceil(math.sqrt(self.cfg.grid_size)))
        if not self.family.conditional:
            return cols, self.family.sample_latent(self.cfg.grid_size, gen, device="cpu").to(self.device), None
        k = self.shape.num_classes
        z = self.family.sample_latent(cols, gen, device="cpu").repeat(k, 1)
        labels = torch.arange(k).repeat_interleave(cols)
        return cols, z.to(self.device), labels.to(self.device)

    # ------------------------------------------------------------------ one step
    def train_step(self) -> dict[str, torch.Tensor]:
        """``d_steps`` discriminator updates then ``g_steps`` generator updates (Goodfellow et al. 2014,
        Algorithm 1, with k = ``d_steps`` and one G update; Basart 2017's Training Algorithm box, j and k);
        logged values are those of the last update of each kind, and the EMA is updated once per step."""
        cfg = self.cfg
        epoch = self.sampler.epochs_done()
        lrs = {f"lr_{name}": apply_schedule(opt, getattr(cfg, f"{name}_opt"), self.step, epoch, cfg.steps)
               for name, opt in self.opts.items()}
        stats: dict[str, torch.Tensor] = {}
        self.family.step = self.step
        for _ in range(cfg.d_steps):
            batch = self.feed.next()
            stats.update(self.family.d_step(batch, self.opts))
        for i in range(cfg.g_steps):  # the first G update reuses the last D batch (as with g_steps=1)
            stats.update(self.family.g_step(batch if i == 0 else self.feed.next(), self.opts))
        self.family.update_ema()
        values = torch.stack([v.float().reshape(()) for v in stats.values()])  # (K,)
        # a loss that is not finite on any rank stops every rank at this step (a rank that stopped alone
        # would leave the others waiting in the next collective)
        bad, ranks = any_rank(~torch.isfinite(values), self.env)
        if bad.any():
            names = ", ".join(k for k, b in zip(stats, bad.tolist()) if b)
            where = f" on rank{'s' * (len(ranks) > 1)} {', '.join(map(str, ranks))}" if self.env.active else ""
            last = self.last_checkpoint
            kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
            raise TrainingDiverged(f"training diverged at step {self.step + 1}{where}: {names} is not finite; "
                                f"{kept}")
        out = dict(zip(stats, values.cpu().tolist()))
        out.update(lrs)
        return out

    # ------------------------------------------------------------------ outputs
    def save_checkpoint(self) -> None:
        rng = {"torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None}
        states = gather_objects(rng, self.env)
        path = self.run.checkpoint_path(self.step)
        with wait_for_main(self.env, f"checkpoint-{self.step}"):
            if self.env.is_main:
                self.sinks.flush()  # a resume from this checkpoint re-logs only the steps after it
                save_checkpoint(path, {
                    "step": self.step, "config": json.dumps(to_dict(self.cfg)),
                    "shape": {"channels": self.shape.channels, "image_size": self.shape.image_size,
                              "num_classes": self.shape.num_classes},
                    "model": self.family.state_dict(),
                    "optim": {name: opt.state_dict() for name, opt in self.opts.items()},
                    "sampler": self.sampler.state_dict(), "rng": states,
                    "target_sampler": self.target_sampler.state_dict() if self.target_sampler is not None else None,
                    "train_seconds": self.train_seconds(),
                })
                self.run.prune_checkpoints(self.cfg.keep_checkpoints)
        self.last_checkpoint = path

    def save_grid(self) -> None:
        """The fixed-noise grid as samples/step-N.png and to the log sinks: one uint8 array for both."""
        from PIL import Image
        from torchvision.utils import make_grid

        images, cols = self.family.grid_images(self.fixed_z, self.fixed_labels, self.grid_cols)  # (N, C, H, W)
        grid = make_grid(images, nrow=cols, padding=2)  # (3, H', W') uint8, grey tiled to RGB
        with atomic_path(self.run.grid_path(self.step)) as tmp:
            Image.fromarray(grid.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
        self.sinks.image("samples", self.step, grid)
        plot_curves(self.run.read_log(), self.run.curves_path)

    def log_metrics(self) -> None:
        """Held-out statistics of the family and the evaluator's metrics of ``eval_n`` samples from a fixed
        z, logged (log.jsonl and any other sink) as ``eval_*``.

        The latents come from their own generator and everything runs in a forked RNG (the CPU's and this
        process's CUDA device's), so evaluating never changes the training streams: a run with
        ``eval_every`` trains exactly as one without.
        """
        gen = torch.Generator().manual_seed(self.cfg.seed + 2 * GRID_SEED_OFFSET)
        z = self.family.sample_latent(self.cfg.eval_n, gen, device="cpu")
        labels = torch.arange(self.cfg.eval_n) % self.shape.num_classes if self.family.conditional else None
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            values = self.family.heldout_stats(self._heldout_batches())
            if self.evaluator is not None:
                values.update(self.evaluator(generate_uint8(self.family, z, labels), labels))
        if values:
            self.sinks.record({"step": self.step, **{f"eval_{k}": v for k, v in values.items()}})

    def _heldout_batches(self, size: int = 500):
        """The test split of the training dataset as :class:`Batch` es in the family's range, with a paired
        family's inputs, or an unpaired family's images of the test split of ``data_target`` (loaded once; the
        batches end with the shorter split)."""
        if self._heldout is None:
            data = self._test_split(self.cfg.data)
            target = self._test_split(self.cfg.data_target).images if self.target_sampler is not None else None
            self._heldout = (data, self.family.paired_inputs(data.images), target)
        data, inputs, target = self._heldout

        def floats(images: torch.Tensor | None, start: int) -> torch.Tensor | None:
            return None if images is None else self.family.from_uint8(images[start:start + size].to(self.device))

        for start in range(0, len(data) if target is None else min(len(data), len(target)), size):
            yield Batch(floats(data.images, start), data.labels[start:start + size].to(self.device),
                        floats(inputs, start), floats(target, start))

    def _test_split(self, spec: str):
        return prepare(load_dataset(test_split_of(spec), self.cfg.data_root), self.cfg.image_size)

    def _log(self, meter: Meter, window_steps: int, elapsed: float, bar) -> None:
        means = meter.means()
        images = self.cfg.batch_size * self.cfg.d_steps * window_steps
        record = {"step": self.step, "epoch": round(self.sampler.epochs_done(), 4),
                  "img_per_s": round(images / max(elapsed, 1e-9), 2), "time_s": round(self.train_seconds(), 2),
                  **means}
        self.sinks.record(record)
        bar.set_postfix({k: f"{means[k]:.3f}" for k in ("loss_d", "loss_g") if k in means}
                        | {"img/s": f"{record['img_per_s']:.0f}"})

    def train_seconds(self) -> float:
        """Wall seconds spent in :meth:`fit` over every session of this run (resumes add up), outputs and
        checkpoints included: the run's time to reach this step."""
        return self.seconds_before + (time.perf_counter() - self.fit_started if self.fit_started else 0.0)

    def clock(self) -> tuple[bool, bool]:
        """Whether ``max_minutes`` of training time are reached and whether a ``ckpt_every_min`` mark has
        passed: rank 0's clock decides and every rank gets its answer, so all stop and save together."""
        cfg = self.cfg
        if not (cfg.max_minutes or cfg.ckpt_every_min):
            return False, False
        seconds, every = self.train_seconds(), 60 * cfg.ckpt_every_min
        mark = bool(every) and seconds >= every * (self.seconds_before // every + 1 + self.marks_passed)
        flags = torch.tensor([bool(cfg.max_minutes) and seconds >= 60 * cfg.max_minutes, mark], device=self.device)
        (out_of_time, mark), _ = any_rank(flags & self.env.is_main, self.env)
        self.marks_passed += int(mark)
        return bool(out_of_time), bool(mark)

    # ------------------------------------------------------------------ the loop
    def fit(self) -> Path:
        cfg, main = self.cfg, self.env.is_main
        self.fit_started = time.perf_counter()
        if main:
            self.run.write_config(to_dict(cfg))
            self.sinks = open_sinks(cfg.log_to, self.run, self.step)  # drops what was logged after self.step
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not main, desc=cfg.preset or "train",
                   unit="step", mininterval=1.0 if sys.stderr.isatty() else 30.0, dynamic_ncols=True)
        meter, window_start, t0 = Meter(), self.step, time.perf_counter()
        out_of_time = bool(cfg.max_minutes) and self.seconds_before >= 60 * cfg.max_minutes  # same on every rank
        try:
            while self.step < cfg.steps and not out_of_time:
                stats = self.train_step()
                self.step += 1
                meter.add(stats)
                bar.update(1)
                out_of_time, mark = self.clock()
                last = self.step == cfg.steps or out_of_time
                if main and (self.step % cfg.log_every == 0 or last):
                    self._log(meter, self.step - window_start, time.perf_counter() - t0, bar)
                    window_start, t0 = self.step, time.perf_counter()
                grid = self.step % cfg.sample_every == 0 or last
                evaluate = cfg.eval_every and (self.step % cfg.eval_every == 0 or last)
                save = self.step % cfg.ckpt_every == 0 or last or mark
                if grid or evaluate or save:  # every rank: the EMA generator's BN statistics for its weights
                    self.family.refresh_ema_bn(self.step, cfg.batch_size // self.env.world, seed=cfg.seed)
                if grid or evaluate:  # rank 0 alone; the others wait for it without a timeout
                    with wait_for_main(self.env, f"outputs-{self.step}"):
                        if main and grid:
                            self.save_grid()
                        if main and evaluate:
                            self.log_metrics()
                if save:
                    self.save_checkpoint()
        finally:
            bar.close()
            try:
                self.sinks.close()
            finally:
                shutdown(self.env)
        return self.run.root
