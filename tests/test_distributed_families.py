"""Every model family trains correctly under torchrun: two gloo processes on CPU, DistributedDataParallel.

One ``torchrun --nproc_per_node=2`` launch (``ddp_families_helper.py``) trains a tiny config of every family
in turn, 3-4 steps of a global batch of 8 (4 images per rank from 16), through ganforge's own ``Trainer``,
and saves each rank's state before and after. For each family the test then asserts:

* every trained network is called through DistributedDataParallel;
* the ranks saw different data and noise (some logged value of the first step differs between them), so
  nothing but the gradient all-reduce can keep their weights together;
* every trained parameter is bit-identical on both ranks afterwards and has moved from its initial value,
  except the legitimately frozen ones (ModNet's frozen classifier: requires_grad false) and, for ProGAN, the
  layers of growth stages the run has not reached, which must be untouched;
* the EMA generator's weights agree across ranks and moved exactly where the generator did;
* the family's own state outside the networks (BEGAN's k_t, ProGAN's image count, CycleGAN's image pools and
  their random generators, Improved GAN's historical averages) agrees across ranks, so the checkpoint rank 0
  writes resumes every rank exactly;
* for ProGAN and pix2pixHD (across two phase boundaries) and CycleGAN (with full pools), a 2-process run
  resumed from an early checkpoint ends bitwise where the straight run does.

The batch-norm running statistics of the trained networks are left out of the cross-rank comparison: DDP
broadcasts rank 0's before every forward instead of reducing them (tests/test_distributed.py checks that), and
the EMA generator's copies of them are rank-local until the standing statistics are recomputed for outputs.
The whole file takes one 2-process launch (about a minute on 2 cores).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ganforge.training.checkpoint import load_checkpoint

from conftest import assert_bitwise_equal
from test_distributed import _fashion_available, _run, _torchrun

HELPER = Path(__file__).with_name("ddp_families_helper.py")
DATA = "fashion-mnist:train[:16]"
COMMON = {"data": DATA, "batch_size": 8, "precision": "fp32", "ema_decay": 0.9, "log_every": 1000,
          "sample_every": 1000, "ckpt_every": 1000, "eval_every": 0, "grid_size": 4}
W8 = {"model.generator.width": 8, "model.discriminator.width": 8}

#: case name -> (preset, overrides on COMMON, steps); the family of each is the preset's
CASES = {
    "gan": ("quickstart", {}, 3),
    "cgan": ("cdcgan-fashion", {**W8, "model.z_dim": 8}, 3),
    "acgan": ("acgan-fashion", {**W8, "model.z_dim": 8}, 3),
    "began": ("lucic-began", {"d_steps": 2}, 3),
    "infogan": ("infogan-fashion", {}, 3),
    "improved-gan": ("improved-gan-fm-fashion", {**W8, "model.z_dim": 8,
                                                 "model.options.historical_averaging": 0.1}, 3),
    "vae": ("vae-mnist-2d", {"model.encoder.hidden": 32, "model.generator.hidden": 32}, 3),
    # the separate critic with a frozen classifier (its file is written by the test)
    "modnet": ("modnet-fashion", {**W8, "model.options.critic": "separate", "model.discriminator.name": "dcgan-d",
                                  "model.options.classifier_net": "shallow",
                                  "model.options.freeze_classifier": True}, 3),
    "pix2pix": ("pix2pix-fashion-sr2", W8, 3),
    # 8 pairs a step: steps 1-2 global (G1 alone at 14 px), 3 local (G2 on a fixed G1), 4 joint
    "pix2pixhd": ("pix2pixhd-fashion-edges", {"model.generator.width": 4, "model.generator.global_blocks": 1,
                                              "model.generator.local_blocks": 1, "model.discriminator.width": 4,
                                              "model.options.global_images": 16,
                                              "model.options.local_images": 8}, 4),
    # one SRResNet-MSE step, then two GAN steps
    "srgan": ("srgan-fashion-x2", {"model.generator.width": 4, "model.generator.blocks": 1,
                                   "model.discriminator.width": 4, "model.discriminator.dense": 8,
                                   "model.options.pretrain_steps": 1, "model.options.content": "mse"}, 3),
    # pools of 6 images: full after the first step's 8 fakes, so later steps swap images in and out
    "cyclegan": ("cyclegan-fashion-shoes", {"data": "fashion-mnist:train[class=7][:16]",
                                            "data_target": "fashion-mnist:train[class=5][:16]", "image_size": 16,
                                            "ema_decay": 0.0, "model.generator.width": 4,
                                            "model.generator.blocks": 1, "model.discriminator.width": 4,
                                            "model.options.pool_size": 6}, 3),
    "lapgan": ("lapgan-fashion", {"model.generator.hidden": 16, "model.discriminator.hidden": 16,
                                  "model.options.level_generator.width": 4,
                                  "model.options.level_discriminator.width": 4}, 3),
    # 8 images a step: step 1 at 7 px (stable), 2 and 3 fading in 14 px (alpha 0, 1/2), 4 at 14 px stable;
    # the 28 px stage is never reached
    "progan": ("progan-fashion", {"model.generator.channels": [4, 4, 4], "model.discriminator.channels": [4, 4, 4],
                                  "model.z_dim": 8, "model.options.fade_images": 16,
                                  "model.options.stable_images": 16}, 4),
    "ddpm": ("ddpm-fashion", {"model.generator.width": 8, "model.generator.mults": [1, 2]}, 3),
    "flow": ("flow-fashion", {"model.generator.width": 8, "model.generator.mults": [1, 2],
                              "model.options.class_cond": True}, 3),
}

#: case name -> the step whose checkpoint a second run resumes from (in the same launch)
RESUME_AT = {"progan": 1, "cyclegan": 1, "pix2pixhd": 2}

pytestmark = pytest.mark.skipif(not _fashion_available(),
                                reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


def _classifier_file(path: Path) -> Path:
    """A random ``shallow`` classifier for ModNet's frozen classifier (its weights do not matter here)."""
    from ganforge.features.classifier import build_classifier

    torch.manual_seed(5)
    save_file(build_classifier("shallow", 1, 10, 28).state_dict(), str(path))
    return path


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> Path:
    """One 2-process launch training every case; returns the folder of the per-case, per-rank records."""
    base = tmp_path_factory.mktemp("ddp-families")
    cases = {}
    for name, (preset, overrides, steps) in CASES.items():
        cases[name] = {"preset": preset, "overrides": {**COMMON, **overrides}, "steps": steps,
                       "resume_at": RESUME_AT.get(name)}
    cases["modnet"]["overrides"]["model.options.classifier_init"] = str(_classifier_file(base / "clf.safetensors"))
    (base / "cases.json").write_text(json.dumps(cases))
    _run(_torchrun(2) + [str(HELPER), str(base), str(base / "cases.json")], cwd=base)
    return base


def _load(folder: Path, name: str) -> tuple[dict, dict]:
    records = [torch.load(folder / f"{name}.rank{r}.pt", weights_only=True) for r in range(2)]
    for rank, record in enumerate(records):
        assert "error" not in record, f"{name} failed on rank {rank}:\n{record['error']}"
    return records[0], records[1]


def test_every_registered_family_has_a_case() -> None:
    from ganforge.config import load_preset
    from ganforge.models import FAMILIES

    families = {load_preset(preset)["model"]["family"] for preset, _, _ in CASES.values()}
    assert families == set(FAMILIES.names())


@pytest.mark.parametrize("name", list(CASES))
def test_family_trains_in_step_on_two_ranks(ranks: Path, name: str) -> None:
    r0, r1 = _load(ranks, name)
    assert set(r0["wrapped"].values()) == {"DistributedDataParallel"}, r0["wrapped"]
    # different shards and noise: the first step's logged values differ somewhere between the ranks
    first = [k for k in r0["stats"][0] if not k.startswith("lr_")]
    assert any(r0["stats"][0][k] != r1["stats"][0][k] for k in first), r0["stats"][0]

    before, after, other = r0["initial"], r0["after"], r1["after"]
    idle = set(r0["idle"])
    assert r0["trained"] and idle <= set(r0["trained"])
    for key in r0["trained"]:
        assert torch.equal(before[key], r1["initial"][key]), f"{key}: the ranks started apart"
        assert torch.equal(after[key], other[key]), f"{key} differs between the ranks"
        moved = not torch.equal(after[key], before[key])
        if not r0["requires_grad"][key]:
            assert not moved, f"{key} is frozen and changed"
        elif key in idle:
            assert not moved, f"{key} belongs to a growth stage the run never reached and changed"
        else:
            assert moved, f"{key} did not train"

    for ema_key, g_key in r0["ema_of"].items():
        assert torch.equal(after[ema_key], other[ema_key]), f"EMA {ema_key} differs between the ranks"
        assert torch.equal(after[ema_key], before[ema_key]) == torch.equal(after[g_key], before[g_key]), ema_key

    skip = set(r0["trained"]) | set(r0["local_buffers"])
    state = {k: v for k, v in after.items() if k not in skip}
    assert_bitwise_equal(state, {k: v for k, v in other.items() if k not in skip}, name)


def test_frozen_classifier_and_stage_layers_are_really_exempt(ranks: Path) -> None:
    """The exemptions above are not empty: ModNet's frozen classifier and ProGAN's 28 px layers exist, and
    ProGAN counts the global batch (8 images a step over both ranks) in its schedule."""
    modnet, _ = _load(ranks, "modnet")
    frozen = [k for k in modnet["trained"] if not modnet["requires_grad"][k]]
    assert frozen and all(k.startswith("D.classifier.") for k in frozen)
    progan, other = _load(ranks, "progan")
    assert sorted({k.split(".")[0] + "." + k.split(".")[1] for k in progan["idle"]}) == \
        ["D.blocks", "D.from_rgb", "G.blocks", "G.to_rgb"]
    assert int(progan["after"]["images_seen"]) == int(other["after"]["images_seen"]) == 4 * 8
    stages = [(s["growth_stage"], s["growth_alpha"]) for s in progan["stats"]]
    assert stages == [(0.0, 1.0), (1.0, 0.0), (1.0, 0.5), (1.0, 1.0)]


def test_pix2pixhd_changes_phase_on_the_global_pair_count_and_trains_each_part_in_its_phase(ranks: Path) -> None:
    """Both ranks pass global (2 steps), local (1) and joint (1) at the same steps, counting 8 pairs a step; G1's
    output layer is trained by the global phase only, so it ends where the step-2 checkpoint has it."""
    r0, r1 = _load(ranks, "pix2pixhd")
    for record in (r0, r1):
        assert [s["phase"] for s in record["stats"]] == [0.0, 0.0, 1.0, 2.0]
        assert int(record["after"]["images_seen"]) == 4 * 8
    midway = load_checkpoint(r0["midway"])["model"]
    out_layer = [k for k in r0["trained"] if k.startswith("G.global_out.")]
    assert out_layer and all(torch.equal(midway[k], r0["after"][k]) for k in out_layer)
    assert all(not torch.equal(r0["initial"][k], midway[k]) for k in out_layer)
    features = [k for k in r0["trained"] if k.startswith("G.global_features.")]
    assert any(not torch.equal(midway[k], r0["after"][k]) for k in features)  # the joint step trains G1 again


@pytest.mark.parametrize("name", list(RESUME_AT))
def test_two_process_resume_is_bitwise_identical(ranks: Path, name: str) -> None:
    """Rank 1 continues from the checkpoint rank 0 wrote with its own data shard and RNG, and, for ProGAN and
    pix2pixHD, its networks wrapped for the restored phase; CycleGAN's pools are the same on both ranks, so both
    resume them."""
    record, _ = _load(ranks, name)
    straight, resumed = (load_checkpoint(record[key]) for key in ("straight", "resumed"))
    assert straight["step"] == resumed["step"] == CASES[name][2]
    keys = ["model", "optim", "sampler", "rng"] + (["target_sampler"] if straight["target_sampler"] else [])
    assert_bitwise_equal({k: straight[k] for k in keys}, {k: resumed[k] for k in keys}, name)
    assert len(resumed["rng"]) == 2 and not torch.equal(resumed["rng"][0]["torch"], resumed["rng"][1]["torch"])
