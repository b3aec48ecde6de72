"""Distributed training on CPU: two gloo processes launched with torchrun, end to end.

* ``ganforge train`` under ``torchrun --nproc_per_node=2`` exits 0, only rank 0 writes the run directory
  (log.jsonl and, with ``log_to=tensorboard``, one event file), and the checkpoint holds finite weights and one RNG state per rank (the ranks draw different noise).
* DDP really synchronises: a helper script drives ganforge's own ``Trainer`` in two processes, each saves
  its family's state; the parameters must be bit-identical across ranks although the ranks trained on
  different data shards and noise (their losses differ), and must have moved away from the initial weights.
  BatchNorm running statistics are *not* all-reduced by DDP, only broadcast from rank 0 before each forward,
  so right after a step they differ by that step's local update; the helper checks they agree after one
  more forward (the broadcast), which is the state every rank computes its next step with. (The EMA
  generator's averaged BN statistics stay rank-local; only rank 0's are saved and sampled, so they are
  not compared.)
* A checkpoint from the 2-process run resumes in a single process (the per-rank RNG states do not fit
  a different world size and are skipped, see ``Trainer._restore``).
* ``--resume`` from the mid-epoch step-3 checkpoint to 6 under 2 processes is bitwise the straight 6-step
  run (rank 1 continues with its own shard from the checkpoint rank 0 wrote).
* A NaN on rank 1 alone stops both ranks at the same step with the same one-line error and exit status 2;
  rank 0 evaluating for longer than the process-group timeout does not make rank 1's collectives fail.
  These start the two ranks without torchrun (:func:`_two_ranks`) to see each rank's exit status.
* ``sync_bn=true`` on CPU normalises over the global batch and its checkpoints load in a single process.

No test-only switches in the library: the helpers only use public pieces (``resolve_config``, ``Trainer``,
``train_step``, ``Family.net``, the CLI's ``main``) and patch the Trainer or the family inside their own
process. The whole module takes about 2-3 minutes on 2 CPU cores (each 2-process launch takes 15-20 s).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.training.checkpoint import load_checkpoint

from conftest import assert_bitwise_equal

# 75 images: each of 2 ranks gets 37 per epoch (one left over), 4 global batches of 16 (8 per rank), so
# step 3 is mid-epoch and steps 5-6 are in the second epoch
DATA = "fashion-mnist:train[:75]"
TIMEOUT = 240
# 6 steps of global batch 16 (8 per rank), logs at 2/4/6, grids and checkpoints at 3/6
TRAIN_ARGS = ["steps=6", "batch_size=16", f"data={DATA}", "log_every=2", "sample_every=3",
              "ckpt_every=3", "precision=fp32", "grid_size=16"]


def _fashion_available() -> bool:
    try:
        load_dataset("fashion-mnist:train[:16]")
    except GanforgeError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _fashion_available(),
                                reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


def _env() -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # two processes on a 2-core machine (torchrun's default too)
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    env.pop("LOCAL_RANK", None)
    return env


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(cmd)} timed out after {TIMEOUT} s\nstdout:\n{exc.stdout}\nstderr:\n{exc.stderr}")
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    return proc


def _two_ranks(cmd: list[str], cwd: Path, timeout: float = TIMEOUT) -> list[subprocess.CompletedProcess]:
    """Run ``cmd`` as rank 0 and rank 1 of one 2-process group, set up as torchrun would but without it, so that
    each rank's own exit status and stderr can be checked (torchrun stops the others when one rank fails).
    Both are killed, and the test fails, if they have not finished after ``timeout`` seconds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs, files = [], []
    for rank in range(2):
        env = dict(_env(), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port))
        out, err = (open(cwd / f"rank{rank}.{name}", "w+") for name in ("out", "err"))
        files.append((out, err))
        procs.append(subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True))
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.wait()
        pytest.fail(f"{' '.join(cmd)}: the ranks did not finish within {timeout} s (a rank hangs)\n"
                    + "\n".join(f"rank {r} stderr:\n{(cwd / f'rank{r}.err').read_text()[-3000:]}" for r in range(2)))
    results = []
    for proc, (out, err) in zip(procs, files):
        out.seek(0), err.seek(0)
        results.append(subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read()))
        out.close(), err.close()
    return results


def _torchrun(nproc: int) -> list[str]:
    # the venv's torch, not whatever ``torchrun`` is first on PATH; --standalone picks a free port
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    """One 2-process ``ganforge train quickstart`` run, shared by the tests below (read-only)."""
    base = tmp_path_factory.mktemp("ddp")
    out = base / "run"
    _run(_torchrun(2) + ["-m", "ganforge", "train", "quickstart", "--out", str(out), *TRAIN_ARGS,
                         "log_to=tensorboard"], cwd=base)
    return out


def test_torchrun_two_processes_rank0_writes(ddp_run: Path) -> None:
    files = sorted(str(p.relative_to(ddp_run)) for p in ddp_run.rglob("*") if p.is_file())
    assert [f for f in files if f.endswith("config.json")] == ["config.json"]
    assert not [f for f in files if ".tmp" in f or f.endswith("~")], files  # no stray atomic-write temps
    config = json.loads((ddp_run / "config.json").read_text())
    assert config["batch_size"] == 16 and config["data"] == DATA and config["steps"] == 6

    lines = (ddp_run / "log.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records] == [2, 4, 6]  # one writer: no duplicated lines from rank 1
    assert len(set(lines)) == len(lines)
    for r in records:
        assert all(torch.isfinite(torch.tensor(r[k])) for k in ("loss_d", "loss_g", "d_real", "d_fake"))
        # img/s counts the global batch: 16 images per step over both processes
        assert r["img_per_s"] > 0

    ckpts = sorted(p.name for p in (ddp_run / "checkpoints").iterdir())
    assert ckpts == ["step-0000003.pt", "step-0000006.pt"]
    grids = sorted(p.name for p in (ddp_run / "samples").iterdir())
    assert grids == ["step-0000003.png", "step-0000006.png"]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert len([f for f in files if f.startswith("tensorboard/events.out.tfevents.")]) == 1  # rank 0's writer
    events = EventAccumulator(str(ddp_run / "tensorboard")).Reload()
    assert [e.step for e in events.Scalars("loss_d")] == [2, 4, 6]
    assert [e.step for e in events.Images("samples")] == [3, 6]


def test_torchrun_checkpoint_contents(ddp_run: Path) -> None:
    payload = load_checkpoint(ddp_run / "checkpoints" / "step-0000006.pt")
    assert payload["step"] == 6
    model = payload["model"]
    assert any(k.startswith("G.") for k in model) and any(k.startswith("D.") for k in model)
    # plain state_dict keys (no DDP "module." prefix), so 1-process runs and `ganforge sample` can load it
    assert all(k.split(".")[0] in ("G", "D", "g_ema") for k in model), sorted(model)[:5]
    assert not any(k.startswith(("G.module.", "D.module.")) for k in model)
    for key, value in model.items():
        if value.is_floating_point():
            assert torch.isfinite(value).all(), key
    # every rank's RNG state was gathered, and the ranks draw different noise (seed + 1 + rank)
    rng = payload["rng"]
    assert len(rng) == 2
    assert not torch.equal(rng[0]["torch"], rng[1]["torch"])
    # the sampler state is the whole epoch permutation (every rank cuts its own shard from it on resume)
    # and the position in it: 6 steps of 16 are 4 steps of epoch 0 and 2 of epoch 1
    sampler = payload["sampler"]
    assert sorted(sampler["perm"].tolist()) == list(range(75))
    assert (sampler["epoch"], sampler["pos"]) == (1, 2 * 16)


HELPER = textwrap.dedent('''
    """Run by torchrun: 3 ganforge training steps per rank, then save this rank's state."""
    import os
    import sys

    import torch
    import torch.distributed as dist

    from ganforge.config import resolve_config
    from ganforge.training.loop import Trainer

    out = sys.argv[1]
    cfg = resolve_config("quickstart", {
        "steps": 3, "batch_size": 16, "data": "fashion-mnist:train[:2000]", "precision": "fp32",
        "log_every": 1000, "sample_every": 1000, "ckpt_every": 1000, "grid_size": 16})
    trainer = Trainer(cfg, os.path.join(out, "run"))
    rank = trainer.env.rank
    assert trainer.env.world == 2 and dist.is_initialized() and dist.get_backend() == "gloo"
    family = trainer.family

    def snapshot():
        return {k: v.detach().clone() for k, v in family.state_dict().items()}

    initial = snapshot()
    losses = [trainer.train_step() for _ in range(3)]
    after_step = snapshot()
    # DDP broadcasts rank 0's buffers (BN running stats) before a forward that follows a forward with
    # gradients; probe in eval mode (no buffer updates): one forward+backward (gradients discarded, no
    # optimiser step), then one forward without gradients, so that the broadcast happens however the
    # family's last forward was run
    family.eval()
    family.net("d")(family.net("g")(family.sample_latent(4))).float().sum().backward()
    family.zero_grad(set_to_none=True)
    with torch.no_grad():
        family.net("d")(family.net("g")(family.sample_latent(4)))
    family.train()
    after_broadcast = snapshot()
    wrapped = {name: type(family.net(name)).__name__ for name in ("g", "d")}
    torch.save({"initial": initial, "after_step": after_step, "after_broadcast": after_broadcast,
                "losses": losses, "wrapped": wrapped}, os.path.join(out, f"rank{rank}.pt"))
    dist.barrier()
    dist.destroy_process_group()
''')


def _plain_family():
    """quickstart's model family as a single process builds it (plain BatchNorm, no EMA)."""
    from ganforge.config import resolve_config
    from ganforge.models import FAMILIES
    from ganforge.nets import NetShape

    cfg = resolve_config("quickstart", {})
    return FAMILIES.get(cfg.model.family)(cfg.model, NetShape(1, 28, cfg.model.z_dim, 10))


def _params_and_buffers(state: dict) -> tuple[list[str], list[str]]:
    """Keys of the trained networks' parameters and of their float buffers (BN running stats)."""
    family = _plain_family()
    params = [k for k, _ in family.named_parameters()]
    buffers = [k for k, b in family.named_buffers() if b.is_floating_point()]
    assert set(params) | set(buffers) <= set(state)
    return params, buffers


def test_ddp_synchronises_weights(tmp_path: Path) -> None:
    script = tmp_path / "ddp_helper.py"
    script.write_text(HELPER)
    _run(_torchrun(2) + [str(script), str(tmp_path)], cwd=tmp_path)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["wrapped"] == r1["wrapped"] == {"g": "DistributedDataParallel", "d": "DistributedDataParallel"}

    # the ranks trained on different shards with different noise, so without gradient all-reduce their
    # weights would drift apart: their local losses differ
    assert r0["losses"][0]["loss_d"] != r1["losses"][0]["loss_d"]

    params, buffers = _params_and_buffers(r0["initial"])
    assert any(k.startswith("G.") for k in params) and any(k.startswith("D.") for k in params)
    assert buffers, "quickstart's networks have BatchNorm running statistics"
    for key in params:
        # same initial weights on every rank, and bit-identical after 3 synchronised Adam steps
        assert torch.equal(r0["initial"][key], r1["initial"][key]), key
        assert torch.equal(r0["after_step"][key], r1["after_step"][key]), f"{key} differs between ranks"
        assert not torch.equal(r0["after_step"][key], r0["initial"][key]), f"{key} did not train"
    for key in (k for k in params if k.startswith("G.")):
        # the EMA generator averages synchronised weights, so its parameters agree too
        ema_key = "g_ema.module." + key[2:]
        assert torch.equal(r0["after_step"][ema_key], r1["after_step"][ema_key]), ema_key
    for key in buffers:
        # rank 0's running statistics are broadcast before every DDP forward
        assert torch.equal(r0["after_broadcast"][key], r1["after_broadcast"][key]), f"buffer {key} not synced"
        assert not torch.equal(r0["after_broadcast"][key], r0["initial"][key]), f"buffer {key} never updated"
        assert torch.equal(r0["after_broadcast"][key], r0["after_step"][key])  # rank 0 is the source


def test_two_process_resume_mid_epoch_is_bitwise_identical(ddp_run: Path, tmp_path: Path) -> None:
    """Resuming the 2-process run from its step-3 checkpoint (mid-epoch) to step 6 gives bitwise the straight
    run's step-6 checkpoint: rank 1 continues with its own shard from the checkpoint rank 0 wrote. (The
    straight run's step-3 checkpoint is what a run stopped at step 3 leaves; reusing it saves a launch.)"""
    out = tmp_path / "halves"
    shutil.copytree(ddp_run, out)
    (out / "checkpoints" / "step-0000006.pt").unlink()
    stopped = load_checkpoint(out / "checkpoints" / "step-0000003.pt")
    assert stopped["sampler"]["epoch"] == 0 and 0 < stopped["sampler"]["pos"] < 74  # stopped mid-epoch
    _run(_torchrun(2) + ["-m", "ganforge", "train", "quickstart", "--out", str(out), "--resume", *TRAIN_ARGS],
         cwd=tmp_path)
    straight = load_checkpoint(ddp_run / "checkpoints" / "step-0000006.pt")
    resumed = load_checkpoint(out / "checkpoints" / "step-0000006.pt")
    for key in ("model", "optim", "sampler", "rng"):  # weights, EMA, BN statistics, Adam, data order, RNGs
        assert_bitwise_equal(straight[key], resumed[key], key)
    assert resumed["step"] == 6 and resumed["sampler"]["epoch"] == 1  # the resumed run crossed an epoch
    assert not torch.equal(resumed["model"]["D.net.0.weight"], stopped["model"]["D.net.0.weight"])


def test_two_process_checkpoint_resumes_in_one_process(ddp_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(ddp_run, out)
    before = load_checkpoint(out / "checkpoints" / "step-0000006.pt")
    proc = _run([sys.executable, "-m", "ganforge", "train", "quickstart", "--out", str(out), "--resume",
                 "steps=8"], cwd=tmp_path)
    assert "run written to" in proc.stdout
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6, 8]
    after = load_checkpoint(out / "checkpoints" / "step-0000008.pt")
    assert after["step"] == 8
    assert len(after["rng"]) == 1  # one process now
    assert json.loads(after["config"])["batch_size"] == 16  # the run's own config, all on one process
    changed = [k for k, v in after["model"].items()
               if k.startswith("G.") and v.is_floating_point() and not torch.equal(v, before["model"][k])]
    assert changed, "resumed run did not train"
    for key, value in after["model"].items():
        if value.is_floating_point():
            assert torch.isfinite(value).all(), key


POISON_HELPER = textwrap.dedent('''
    """Run as one rank of 2: ``ganforge train`` through its CLI, with NaN written into rank 1's discriminator
    weights just before rank 1's generator update at step 8. Only rank 1's loss_g at step 8 is then not finite:
    the other rank's losses of that step were computed before the NaN gradients reach it in the all-reduce."""
    import sys

    import torch

    from ganforge.cli import main
    from ganforge.training import loop

    POISON_AT = 7  # Family.step during training step 8

    def poison(trainer):
        family = trainer.family
        g_step = family.g_step

        def poisoned_g_step(batch, opts):
            if family.step == POISON_AT:
                with torch.no_grad():
                    for p in family.trainable()["d"].parameters():
                        p.fill_(float("nan"))
            return g_step(batch, opts)

        family.g_step = poisoned_g_step

    init = loop.Trainer.__init__

    def patched_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if self.env.rank == 1:
            poison(self)

    loop.Trainer.__init__ = patched_init
    sys.exit(main(sys.argv[1:]))
''')


def test_nonfinite_loss_on_one_rank_stops_every_rank(ddp_run: Path, tmp_path: Path) -> None:
    """Rank 1 alone diverges at step 8 of a resumed run: both ranks stop at that step with the same one-line
    error and exit status 2 (none waits in the next collective), and the last good checkpoint is untouched."""
    out = tmp_path / "run"
    shutil.copytree(ddp_run, out)
    good = out / "checkpoints" / "step-0000006.pt"
    good_bytes = good.read_bytes()
    script = tmp_path / "poison_helper.py"
    script.write_text(POISON_HELPER)
    args = ["train", "quickstart", "--out", str(out), "--resume", *TRAIN_ARGS, "steps=12"]
    started = time.monotonic()
    ranks = _two_ranks([sys.executable, str(script), *args], cwd=tmp_path, timeout=120)
    elapsed = time.monotonic() - started
    expected = (f"ganforge: error: training diverged at step 8 on rank 1: loss_g is not finite; "
                f"the last good checkpoint is {good}")
    for rank, proc in enumerate(ranks):
        assert proc.returncode == 2, f"rank {rank}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        lines = [line for line in proc.stderr.splitlines() if line.startswith("ganforge: error:")]
        assert lines == [expected], f"rank {rank}:\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert elapsed < 100, f"the ranks took {elapsed:.0f} s to stop"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000003.pt", "step-0000006.pt"]
    assert good.read_bytes() == good_bytes
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]  # step 8 was never logged


SLOW_EVAL_HELPER = textwrap.dedent('''
    """Run as one rank of 2: ``ganforge train`` through its CLI, with a process-group timeout of 6 s and an
    evaluation on rank 0 that takes 10 s at step 2 (standing in for the ~12 minutes 10,000 Inception images
    take on CPU). The evaluation appends a record saying how long it took."""
    import sys
    import time

    from ganforge.cli import main
    from ganforge.training import loop

    def slow_log_metrics(self):
        started = time.monotonic()
        if self.step == 2:
            time.sleep(10.0)
        self.run.append_log({"step": self.step, "eval_seconds": time.monotonic() - started})

    loop.Trainer.log_metrics = slow_log_metrics
    sys.exit(main(sys.argv[1:]))
''')


def test_rank0_evaluation_longer_than_the_collective_timeout(tmp_path: Path) -> None:
    """While rank 0 evaluates for longer than the process-group timeout, rank 1 waits for it without failing."""
    script = tmp_path / "slow_eval_helper.py"
    script.write_text(SLOW_EVAL_HELPER)
    out = tmp_path / "run"
    args = ["train", "quickstart", "--out", str(out), "steps=3", "batch_size=16", f"data={DATA}",
            "precision=fp32", "log_every=1", "eval_every=2", "sample_every=1000", "ckpt_every=1000",
            "grid_size=16", "dist_timeout_min=0.1"]
    ranks = _two_ranks([sys.executable, str(script), *args], cwd=tmp_path, timeout=150)
    for rank, proc in enumerate(ranks):
        assert proc.returncode == 0, f"rank {rank}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval_seconds" in r]
    assert [r["step"] for r in evals] == [2, 3]
    assert evals[0]["eval_seconds"] >= 10.0 > 0.1 * 60  # rank 0's work outlasted the 6 s timeout
    assert [r["step"] for r in records if "loss_d" in r] == [1, 2, 3]  # training went on after the wait
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000003.pt"]


SYNC_BN_HELPER = textwrap.dedent('''
    """Run by torchrun. (1) One BatchNorm2d converted for sync_bn, fed 4 images on rank 0 and 8 on rank 1 of a
    12-image batch, forward and backward of a weighted sum; (2) 2 training steps of quickstart with
    sync_bn=true through ganforge's own Trainer. Saves what each rank saw."""
    import os
    import sys

    import torch
    from torch import nn

    from ganforge.config import resolve_config
    from ganforge.training.loop import Trainer
    from ganforge.training.sync_bn import convert_sync_batchnorm

    out = sys.argv[1]
    cfg = resolve_config("quickstart", {
        "steps": 2, "batch_size": 16, "data": "fashion-mnist:train[:75]", "precision": "fp32", "log_every": 1,
        "sample_every": 1000, "ckpt_every": 1000, "grid_size": 16, "sync_bn": True})
    trainer = Trainer(cfg, os.path.join(out, "run"))  # starts the gloo process group
    rank = trainer.env.rank

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 3, 5, 5, generator=gen) * 3 + 1  # (12, 3, 5, 5) the global batch
    weights = torch.randn(12, 3, 5, 5, generator=gen)  # the loss is sum(weights * y)
    net = nn.Sequential(nn.BatchNorm2d(3, momentum=0.3))
    with torch.no_grad():
        net[0].weight.uniform_(0.5, 1.5, generator=gen)
        net[0].bias.uniform_(-1.0, 1.0, generator=gen)
    initial = {k: v.clone() for k, v in net[0].state_dict().items()}
    convert_sync_batchnorm(net, trainer.device)
    part = slice(0, 4) if rank == 0 else slice(4, 12)
    xs = x[part].clone().requires_grad_(True)
    y = net(xs)
    (weights[part] * y).sum().backward()
    layer = {"type": type(net[0]).__name__, "x": x, "weights": weights, "initial": initial, "y": y.detach(),
             "x_grad": xs.grad, "weight_grad": net[0].weight.grad, "bias_grad": net[0].bias.grad,
             "state": {k: v.clone() for k, v in net[0].state_dict().items()}}

    norms = {name: sorted({type(m).__name__ for m in module.modules() if "Norm" in type(m).__name__})
             for name, module in trainer.family.trainable().items()}
    trainer.fit()
    torch.save({"layer": layer, "norms": norms}, os.path.join(out, f"rank{rank}.pt"))
''')


def test_sync_bn_normalises_over_the_global_batch(tmp_path: Path) -> None:
    """sync_bn=true on 2 gloo CPU processes: the converted layer's output, input gradients, summed parameter
    gradients and running statistics equal one process's BatchNorm2d on the whole (unevenly split) batch;
    quickstart trains with it, and its checkpoint has plain BatchNorm keys and loads in a single process."""
    script = tmp_path / "sync_bn_helper.py"
    script.write_text(SYNC_BN_HELPER)
    _run(_torchrun(2) + [str(script), str(tmp_path)], cwd=tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for r in ranks:
        assert r["layer"]["type"] == "AllReduceBatchNorm"
        assert r["norms"] == {"g": ["AllReduceBatchNorm"], "d": ["AllReduceBatchNorm"]}

    layer = ranks[0]["layer"]
    ref = torch.nn.BatchNorm2d(3, momentum=0.3)
    ref.load_state_dict(layer["initial"])
    x = layer["x"].clone().requires_grad_(True)
    y = ref(x)
    (layer["weights"] * y).sum().backward()
    parts = [slice(0, 4), slice(4, 12)]
    for r, part in zip(ranks, parts):
        torch.testing.assert_close(r["layer"]["y"], y.detach()[part], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(r["layer"]["x_grad"], x.grad[part], rtol=1e-4, atol=1e-5)
        for key, value in ref.state_dict().items():  # running mean and (unbiased) variance, batches seen
            torch.testing.assert_close(r["layer"]["state"][key], value, rtol=1e-5, atol=1e-6)
    # DDP would average the parameter gradients; their sum over ranks is the whole batch's gradient
    torch.testing.assert_close(ranks[0]["layer"]["weight_grad"] + ranks[1]["layer"]["weight_grad"],
                               ref.weight.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ranks[0]["layer"]["bias_grad"] + ranks[1]["layer"]["bias_grad"],
                               ref.bias.grad, rtol=1e-4, atol=1e-5)
    # without the sync, rank 0 would have normalised its 4 images with their own statistics
    local = torch.nn.BatchNorm2d(3)
    local.load_state_dict(layer["initial"])
    assert not torch.allclose(local(layer["x"][:4]), ranks[0]["layer"]["y"], atol=1e-3)

    run = tmp_path / "run"
    payload = load_checkpoint(run / "checkpoints" / "step-0000002.pt")
    params, buffers = _params_and_buffers(payload["model"])
    plain = _plain_family()
    plain.enable_ema(0.999)  # quickstart has an EMA generator
    assert sorted(payload["model"]) == sorted(plain.state_dict())  # the keys of plain BatchNorm
    for key in buffers:
        assert torch.isfinite(payload["model"][key]).all(), key
    model = ganforge.load(run)  # a single process with plain BatchNorm
    assert model.sample(4, seed=0).shape == (4, 1, 28, 28)
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and all(torch.isfinite(torch.tensor(r["loss_d"])) for r in records)
