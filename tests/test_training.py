"""The training loop: exact resume, divergence handling, schedules, sampler, EMA and sampling API."""
from __future__ import annotations

import json
import math

import pytest
import torch

import ganforge
from ganforge.config import OptimConfig, load_preset
from ganforge.errors import GanforgeError
from ganforge.models.base import ema_with_warmup
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.optim import scheduled_lr, scheduled_momentum
from ganforge.training.sampler import IndexSampler

from conftest import TINY, assert_bitwise_equal, needs_fashion


def _state(run_dir) -> dict:
    payload = load_checkpoint(sorted((run_dir / "checkpoints").glob("step-*.pt"))[-1])
    return {"model": payload["model"], "optim": payload["optim"], "step": payload["step"]}


@needs_fashion
@pytest.mark.parametrize("preset, extra", [
    ("quickstart", {"ema_decay": 0.9, "d_steps": 2}),           # BN, EMA, k = 2 D steps, Adam
    ("goodfellow-mnist", {"data": "fashion-mnist:train[:512]"}),  # dropout RNG, SGD momentum ramp, lr decay
])
def test_resume_is_bitwise_identical(tmp_path, preset, extra):
    over = {**TINY, **extra, "precision": "fp32"}
    ganforge.train(preset, tmp_path / "straight", steps=6, **over)
    ganforge.train(preset, tmp_path / "halves", steps=3, **over)
    ganforge.train(preset, tmp_path / "halves", resume=True, steps=6, **over)
    a, b = _state(tmp_path / "straight"), _state(tmp_path / "halves")
    assert a["step"] == b["step"] == 6
    assert_bitwise_equal(a, b)
    log = [json.loads(line) for line in (tmp_path / "halves" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]


@needs_fashion
def test_resume_continues_rather_than_restarts(tmp_path):
    over = {**TINY, "ckpt_every": 2}
    ganforge.train("quickstart", tmp_path / "r", steps=2, **over)
    first = _state(tmp_path / "r")
    ganforge.train("quickstart", tmp_path / "r", resume=True, steps=4, **over)
    second = _state(tmp_path / "r")
    assert second["step"] == 4
    g1, g2 = first["model"]["G.fc.0.weight"], second["model"]["G.fc.0.weight"]
    assert not torch.equal(g1, g2)
    # Adam's step count continued from the checkpoint (2 + 2), it did not restart at 0
    adam_steps = {float(s["step"]) for s in second["optim"]["g"]["state"].values()}
    assert adam_steps == {4.0}


@needs_fashion
def test_fresh_train_into_existing_run_is_refused(tmp_path):
    ganforge.train("quickstart", tmp_path / "r", steps=1, **TINY)
    with pytest.raises(GanforgeError, match="already holds a run; pass --resume"):
        ganforge.train("quickstart", tmp_path / "r", steps=2, **TINY)


@needs_fashion
def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path):
    run = tmp_path / "r"
    ganforge.train("quickstart", run, steps=2, **TINY)
    good = (run / "checkpoints" / "step-0000002.pt").read_bytes()
    with pytest.raises(GanforgeError, match=r"diverged at step \d+: .* not finite; the last good checkpoint"):
        ganforge.train("quickstart", run, resume=True, steps=50, **{**TINY, "d_opt.lr": 1e30, "g_opt.lr": 1e30})
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["step-0000002.pt"]
    assert (run / "checkpoints" / "step-0000002.pt").read_bytes() == good


def test_goodfellow_schedules():
    cfg = OptimConfig(name="sgd", lr=0.1, momentum=0.5, momentum_final=0.7, momentum_ramp_epochs=250,
                      lr_decay=1.000004, lr_min=1e-6)
    assert scheduled_lr(cfg, 0) == 0.1
    assert math.isclose(scheduled_lr(cfg, 1000), 0.1 / 1.000004 ** 1000)
    assert scheduled_lr(cfg, 10_000_000) == 1e-6  # floor
    assert scheduled_momentum(cfg, 0) == 0.5
    assert math.isclose(scheduled_momentum(cfg, 125), 0.6)
    assert scheduled_momentum(cfg, 400) == 0.7


def test_sampler_epochs_are_permutations_and_resume_exactly():
    s = IndexSampler(10, 3, seed=0)
    first_epoch = torch.cat([s.next() for _ in range(3)])
    assert len(set(first_epoch.tolist())) == 9  # 3 full batches, no repeats, last partial batch dropped
    state = s.state_dict()
    expected = [s.next() for _ in range(5)]
    t = IndexSampler(10, 3, seed=123)
    t.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(expected, [t.next() for _ in range(5)]))


def test_sampler_shards_are_disjoint():
    r0, r1 = IndexSampler(100, 10, seed=4, rank=0, world=2), IndexSampler(100, 10, seed=4, rank=1, world=2)
    a = torch.cat([r0.next() for _ in range(5)])
    b = torch.cat([r1.next() for _ in range(5)])
    assert set(a.tolist()).isdisjoint(b.tolist()) and len(set(a.tolist()) | set(b.tolist())) == 100


def test_sampler_state_saved_by_rank0_resumes_rank1_shard():
    """Only rank 0 writes the checkpoint; rank 1 must continue with its own indices, not rank 0's."""
    r0, r1 = IndexSampler(37, 4, seed=4, rank=0, world=2), IndexSampler(37, 4, seed=4, rank=1, world=2)
    for _ in range(2):  # mid-epoch: 2 of the 4 global batches of 8 in an epoch of 36 usable indices
        r0.next(), r1.next()
    state = r0.state_dict()
    expected = [r1.next() for _ in range(5)]  # the rest of this epoch and 3 batches of the next
    resumed = IndexSampler(37, 4, seed=99, rank=1, world=2)
    resumed.load_state_dict(state)
    got = [resumed.next() for _ in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(expected, got)), (expected, got)
    assert resumed.epochs_done() == r1.epochs_done() == 1 + 24 / 36  # 3 global batches of 8 into epoch 1


def test_sampler_ranks_get_equal_shards_and_agree_on_epochs():
    """39 images over 2 ranks with batches of 5: a shard of 20 would give rank 0 four batches per epoch and
    rank 1 (19 images) three, so their epochs and epoch-based schedules would drift apart."""
    ranks = [IndexSampler(39, 5, seed=1, rank=r, world=2) for r in range(2)]
    epoch_indices: list[list[int]] = [[], []]
    for _ in range(3):  # one epoch: 38 usable indices, 3 global batches of 10
        for r, s in enumerate(ranks):
            epoch_indices[r] += s.next().tolist()
        assert ranks[0].epochs_done() == ranks[1].epochs_done()
    assert len(epoch_indices[0]) == len(epoch_indices[1]) == 15
    assert len(set(epoch_indices[0]) | set(epoch_indices[1])) == 30  # disjoint shards, no repeats
    before = [s.epoch for s in ranks]
    for s in ranks:
        s.next()
    assert [s.epoch for s in ranks] == [b + 1 for b in before]  # both ranks start the next epoch together


def test_sampler_state_fits_another_number_of_processes():
    """A 2-process state resumed by one process (same global batch) sees the epoch's unseen images."""
    r0, r1 = IndexSampler(40, 4, seed=2, rank=0, world=2), IndexSampler(40, 4, seed=2, rank=1, world=2)
    seen = torch.cat([torch.cat([r0.next(), r1.next()]) for _ in range(2)])
    single = IndexSampler(40, 8, seed=7)
    single.load_state_dict(r0.state_dict())
    rest = torch.cat([single.next() for _ in range(3)])
    assert single.epoch == 0
    assert set(rest.tolist()).isdisjoint(seen.tolist()) and len(set(rest.tolist()) | set(seen.tolist())) == 40


def test_sampler_state_without_the_whole_permutation_starts_the_next_epoch():
    """Distributed checkpoints of older versions kept rank 0's shard only: the epoch's rest is lost."""
    old = IndexSampler(40, 4, seed=2)
    old.next()
    state = dict(old.state_dict(), perm=old.perm[0::2])  # what rank 0 of 2 used to save
    s = IndexSampler(40, 4, seed=3, rank=1, world=2)
    with pytest.warns(UserWarning, match="holds 20 of 40 indices; starting the next epoch"):
        s.load_state_dict(state)
    first = s.next()
    assert s.epoch == 1 and s.pos == 8 and len(set(s.perm.tolist())) == 40
    assert torch.equal(first, s.perm[1:8:2])


def test_ema_warmup_matches_closed_form():
    decay = 0.999
    avg, cur = [torch.zeros(3)], [torch.ones(3)]
    update = ema_with_warmup(decay)
    update(avg, cur, torch.tensor(1))
    d1 = min(decay, 2 / 11)
    assert torch.allclose(avg[0], torch.full((3,), 1 - d1))
    ints = [torch.tensor([1])]
    update(ints, [torch.tensor([5])], torch.tensor(3))
    assert ints[0].item() == 5


@needs_fashion
def test_load_and_sample_are_deterministic_and_batch_size_free(tmp_path):
    ganforge.train("quickstart", tmp_path / "r", steps=2, **TINY)
    model = ganforge.load(tmp_path / "r")
    a = model.sample(10, seed=3, batch_size=4)
    b = model.sample(10, seed=3, batch_size=10)
    c = model.sample(10, seed=4)
    assert a.dtype == torch.uint8 and a.shape == (10, 1, 28, 28)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert model.step == 2


@needs_fashion
@pytest.mark.parametrize("preset", __import__("ganforge.config", fromlist=["preset_names"]).preset_names())
def test_every_preset_trains_two_steps(tmp_path, preset):
    """One contract test over the preset registry: each trains through the CLI, logs finite losses and samples
    its geometry. A preset that loads a cached dataset classifier (ModNet's interpretability presets) gets an
    untrained classifier file of the same network for these 28x28 grey images instead of training one. A preset
    whose pair task turns colour into gray (pix2pix-cifar-gray) gets 64 random 28x28 colour images instead of
    Fashion-MNIST, which it refuses."""
    import numpy as np
    from safetensors.torch import save_file

    from ganforge.cli import main
    from ganforge.features.classifier import SmallCNN

    extra = {}
    if "classifier_init" in load_preset(preset).get("model", {}).get("options", {}):
        save_file(SmallCNN(1, 10).state_dict(), str(tmp_path / "classifier.safetensors"))
        extra["model.options.classifier_init"] = str(tmp_path / "classifier.safetensors")
    if load_preset(preset).get("model", {}).get("options", {}).get("task") == "gray":
        colour = np.random.default_rng(0).integers(0, 256, size=(64, 28, 28, 3), dtype=np.uint8)
        np.savez(tmp_path / "colour.npz", images=colour)
        extra["data"] = f"npz:{tmp_path / 'colour.npz'}"
    overrides = [f"{k}={v}" for k, v in {**TINY, "batch_size": 8, "eval_every": 0, "steps": 2, **extra}.items()]
    assert main(["train", preset, "--out", str(tmp_path / "r"), *overrides]) == 0
    log = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    for r in log:  # every family logs at least one loss (GANs loss_d and loss_g, the VAE loss_g = -ELBO)
        losses = [v for k, v in r.items() if k.startswith("loss_")]
        assert losses and all(math.isfinite(v) for v in losses)
    model = ganforge.load(tmp_path / "r")
    size = model.config.image_size or 28
    channels = 3 if "data" in extra else 1
    assert model.sample(3, seed=0).shape == (3, channels, size, size)


def test_eval_every_logs_metric_curves_without_changing_training(tmp_path, monkeypatch, mnist5k_classifier):
    cache, _ = mnist5k_classifier
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    over = {**TINY, "data": "mnist-5k:train", "eval_n": 100}
    ganforge.train("quickstart", tmp_path / "with", steps=4, eval_every=2, **over)
    ganforge.train("quickstart", tmp_path / "without", steps=4, **over)
    rows = [json.loads(line) for line in (tmp_path / "with" / "log.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval_is" in r]
    assert [r["step"] for r in evals] == [2, 4]
    for r in evals:
        assert 1.0 <= r["eval_is"] <= 10.0 and r["eval_ddm"] >= 0 and 1 <= r["eval_classes_hit"] <= 10
        assert math.isfinite(r["eval_fd_logits"])
    assert_bitwise_equal(_state(tmp_path / "with")["model"], _state(tmp_path / "without")["model"])


@needs_fashion
def test_checkpointed_ema_generator_has_the_batch_norm_statistics_of_its_own_weights(tmp_path):
    """Standing statistics: the EMA generator a checkpoint holds has BN running statistics recomputed for the
    averaged weights at that step (recomputing them again gives the same), not an average of the live
    network's statistics, which belong to other weights."""
    from ganforge.models.base import batch_norms

    run = ganforge.train("quickstart", tmp_path / "r", steps=5, **{**TINY, "ckpt_every": 5})
    model = ganforge.load(run)
    ema = model.family.g_ema.module
    saved = [(m.running_mean.clone(), m.running_var.clone()) for m in batch_norms(ema)]
    assert saved and all(not torch.equal(mean, live.running_mean)
                         for (mean, _), live in zip(saved, batch_norms(model.family.G)))
    model.family.refresh_ema_bn(5, TINY["batch_size"], seed=model.config.seed)
    again = [(m.running_mean, m.running_var) for m in batch_norms(ema)]
    # the same statistics up to float rounding (training ran its convolutions channels-last)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) and torch.allclose(c, d, rtol=1e-4, atol=1e-6)
               for (a, c), (b, d) in zip(saved, again))


def _log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


@needs_fashion
def test_max_minutes_stops_with_a_checkpoint_and_a_resume_does_not_overrun(tmp_path):
    budget = 0.004  # minutes: 0.24 s, far fewer than the 5,000 tiny steps asked for
    run = ganforge.train("quickstart", tmp_path / "r", steps=5000, max_minutes=budget, **TINY)
    payload = load_checkpoint(sorted((run / "checkpoints").glob("step-*.pt"))[-1])
    log = _log(run)
    assert 0 < payload["step"] < 5000 and log[-1]["step"] == payload["step"]
    assert log[-1]["time_s"] >= 60 * budget and payload["train_seconds"] >= 60 * budget
    times = [r["time_s"] for r in log]
    assert all(a < b for a, b in zip(times, times[1:]))
    ganforge.train("quickstart", run, resume=True, steps=5000, max_minutes=budget, **TINY)
    assert _log(run) == log  # the budget is spent: nothing more is trained or logged
    assert sorted((run / "checkpoints").glob("step-*.pt"))[-1].name == f"step-{payload['step']:07d}.pt"


@needs_fashion
def test_ckpt_every_min_saves_one_checkpoint_per_mark_of_training_time(tmp_path):
    every = 0.002  # minutes; the run trains 0.01 minutes however fast the machine is: about 5 marks
    run = ganforge.train("vae-mnist-2d", tmp_path / "r", steps=10**6, max_minutes=0.01, ckpt_every_min=every,
                         keep_checkpoints=1000, **{**TINY, "eval_every": 0})  # a small model: small checkpoints
    payloads = [load_checkpoint(p) for p in sorted((run / "checkpoints").glob("step-*.pt"))]
    marks = [int(p["train_seconds"] // (60 * every)) for p in payloads[:-1]]  # the last one ends the run
    assert len(marks) >= 2 and all(m >= 1 for m in marks)
    assert all(a < b for a, b in zip(marks, marks[1:]))  # never two checkpoints for the same mark


def test_bf16_warns_only_where_the_hardware_lacks_it_and_auto_picks_it_only_there(monkeypatch):
    """bf16 emulated by oneDNN is ~20x slower than fp32: the loop says so instead of silently crawling, and
    ``precision=auto`` (the quickstart's) uses bf16 only where the hardware has it."""
    import warnings

    from ganforge.training import loop
    cpu = torch.device("cpu")
    for native in (False, True):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            factory = loop.make_autocast("bf16", cpu)
            loop.make_autocast("fp32", cpu)
            auto = loop.make_autocast("auto", cpu)
        assert [("precision=bf16" in str(w.message)) for w in caught] == ([] if native else [True])
        with factory():
            assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
        with auto():  # auto: bf16 only where it is native
            assert torch.is_autocast_enabled("cpu") == native
