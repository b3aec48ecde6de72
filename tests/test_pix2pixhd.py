"""pix2pixHD (Wang et al. 2018): the coarse-to-fine generator, the multi-scale discriminators, the losses on fixed
tensors, the global -> local -> joint schedule, exact resume across a phase boundary and paired eval."""
from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganforge
from ganforge.config import ModelConfig, OptimConfig
from ganforge.data import make_inputs
from ganforge.errors import GanforgeError
from ganforge.losses.pix2pixhd import feature_matching, generator_objective, multiscale_d_objective, \
    multiscale_g_loss
from ganforge.metrics import paired_scores
from ganforge.models import FAMILIES
from ganforge.models.base import Batch
from ganforge.nets import DISCRIMINATORS, GENERATORS, NetShape, build_net
from ganforge.nets.pix2pixhd import half
from ganforge.runs import RunDir
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.optim import build_optimizer

from conftest import TINY, assert_bitwise_equal, needs_fashion

# ---------------------------------------------------------------- networks


def test_half_is_a_3x3_average_that_does_not_count_the_padding():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = half(x)
    assert out.shape == (1, 1, 2, 2)
    # output (0, 0) sees rows/cols -1..1: the 4 real pixels 0, 1, 4, 5; (1, 1) sees rows/cols 1..3: 9 pixels
    assert out[0, 0, 0, 0].item() == pytest.approx((0 + 1 + 4 + 5) / 4)
    assert out[0, 0, 1, 1].item() == pytest.approx(sum([5, 6, 7, 9, 10, 11, 13, 14, 15]) / 9)


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3)])
def test_generator_sums_g1s_last_features_into_the_local_enhancer(size, channels):
    torch.manual_seed(0)
    g = build_net(GENERATORS, "pix2pixhd-g", NetShape(channels, size, 8), {"width": 4, "global_blocks": 1,
                                                                            "local_blocks": 1}).eval()
    x = torch.rand(2, channels, size, size) * 2 - 1
    out = g(x)
    assert out.shape == (2, channels, size, size) and out.abs().max() <= 1
    g1 = g.global_features(F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))  # G1 on the 2x-downsampled input
    assert g1.shape == (2, 8, size // 2, size // 2)  # the last feature map of G1^(B): 2w channels at S/2
    front = g.local_front(x)
    assert front.shape == g1.shape  # G2^(F) at full size ends where G1 ends
    torch.testing.assert_close(out, g.local_back(front + g1))  # the element-wise sum feeds G2^(R)
    coarse = g.coarse(x)
    assert coarse.shape == (2, channels, size // 2, size // 2)
    torch.testing.assert_close(g(x, enhance=False), F.interpolate(coarse, size=(size, size), mode="bilinear"))
    with torch.no_grad():  # the full output depends on G1: perturbing G1 changes it
        next(g.global_features.parameters()).add_(0.5)
    assert not torch.allclose(g(x), out)


def test_fixed_global_gives_g1_no_gradient():
    torch.manual_seed(0)
    g = build_net(GENERATORS, "pix2pixhd-g", NetShape(1, 28, 8), {"width": 4, "global_blocks": 1})
    g(torch.rand(2, 1, 28, 28), fixed_global=True).sum().backward()
    assert all(p.grad is None for p in g.global_features.parameters())
    assert all(p.grad is not None for p in g.local_front.parameters())


def test_multiscale_d_returns_one_list_per_scale_from_its_own_patchgan():
    torch.manual_seed(0)
    d = build_net(DISCRIMINATORS, "multiscale-patchgan", NetShape(1, 28, 8), {"width": 4, "scales": 3}).eval()
    condition, image = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)
    outputs = d(condition, image)
    assert len(outputs) == 3 and d.patches == [12, 5, 1]  # 28 -> 12x12 patches, 14 -> 5x5, 7 -> 1x1
    pair = torch.cat([condition, image], 1)
    for k, (out, net) in enumerate(zip(outputs, d.nets)):
        assert [t.shape[1] for t in out[:-1]] == [4, 8]  # the two hidden layers' widths
        assert out[-1].shape == (2, d.patches[k], d.patches[k])
        torch.testing.assert_close(out[-1], net(pair).squeeze(1))  # scale k sees the pair downsampled k times
        pair = half(pair)
    assert not torch.equal(d.nets[0][0].weight, d.nets[1][0].weight)  # same architecture, own weights


# ---------------------------------------------------------------- losses on fixed tensors

def _outputs(*scales):
    return [[torch.tensor(t, dtype=torch.float32) for t in scale] for scale in scales]


def test_feature_matching_is_eq4_summed_over_scales_and_hidden_layers():
    real = _outputs([[[1.0, 2.0], [3.0, 4.0]], [0.0, 0.0, 0.0], [[9.0]]],  # scale 1: two layers, then logits
                    [[2.0, -2.0], [[5.0]]])                                # scale 2: one layer, then logits
    fake = _outputs([[[0.0, 2.0], [3.0, 8.0]], [1.0, 1.0, -2.0], [[-9.0]]],
                    [[1.0, 1.0], [[0.0]]])
    # scale 1: (1 + 0 + 0 + 4) / 4 = 1.25 and (1 + 1 + 2) / 3 = 4 / 3; scale 2: (1 + 3) / 2 = 2; logits ignored
    assert feature_matching(real, fake).item() == pytest.approx(1.25 + 4 / 3 + 2)
    fake_leaf = [[t.clone().requires_grad_() for t in scale] for scale in fake]
    real_leaf = [[t.clone().requires_grad_() for t in scale] for scale in real]
    feature_matching(real_leaf, fake_leaf).backward()
    assert all(t.grad is None for scale in real_leaf for t in scale)  # the real activations are constants
    assert fake_leaf[1][0].grad.tolist() == [-0.5, 0.5]  # d mean|r - f| / df = -sign(r - f) / N


def test_lsgan_losses_are_summed_over_the_scales_and_ds_is_halved():
    real = _outputs([[0.5, 1.5]], [[[1.0, 0.0], [2.0, 1.0]]])  # logits of two scales (no hidden layers here)
    fake = _outputs([[0.0, -1.0]], [[[0.5, 0.5], [1.0, 3.0]]])
    g = ((0 - 1) ** 2 + (-1 - 1) ** 2) / 2 + ((0.5 - 1) ** 2 * 2 + 0 + (3 - 1) ** 2) / 4
    assert multiscale_g_loss(fake).item() == pytest.approx(g)
    d1 = 0.5 * ((0.5 - 1) ** 2 + (1.5 - 1) ** 2) / 2 + 0.5 * (0 + 1) / 2
    d2 = 0.5 * (0 + 1 + 1 + 0) / 4 + 0.5 * (0.25 + 0.25 + 1 + 9) / 4
    assert multiscale_d_objective(real, fake).item() == pytest.approx(d1 + d2)
    assert generator_objective(torch.tensor(2.0), torch.tensor(0.5)).item() == pytest.approx(2 + 10 * 0.5)


# ---------------------------------------------------------------- the family

SMALL = {"generator": {"name": "pix2pixhd-g", "width": 4, "global_blocks": 1, "local_blocks": 1},
         "discriminator": {"name": "multiscale-patchgan", "width": 4}, "loss": "lsgan"}


def _family(**options):
    cfg = ModelConfig(family="pix2pixhd", **copy.deepcopy(SMALL), options={"task": "edges", **options})
    return FAMILIES.get("pix2pixhd")(cfg, NetShape(1, 28, 8, 10))


def _batch(n: int = 4, seed: int = 0) -> Batch:
    targets = torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    to_range = lambda u: u.float() / 255 * 2 - 1  # noqa: E731
    return Batch(to_range(targets), torch.zeros(n, dtype=torch.int64), to_range(make_inputs("edges", targets)))


def _opts(fam, name="sgd", lr=1.0):
    return fam.build_optimizers({"g": OptimConfig(name=name, lr=lr), "d": OptimConfig(name=name, lr=lr)},
                                build_optimizer)


def _params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def test_joint_g_step_descends_lsgan_plus_10_feature_matching_by_hand():
    torch.manual_seed(0)
    fam, batch = _family(global_images=0), _batch()
    twin = copy.deepcopy(fam)
    before, d_before = _params(fam.G), _params(fam.D)
    stats = fam.g_step(batch, _opts(fam))
    x, y = batch.inputs, batch.images
    fake = twin.G(x)
    real_out, fake_out = twin.D(x, y), twin.D(x, fake)
    adversarial = sum(((out[-1].double() - 1) ** 2).mean() for out in fake_out)
    fm = sum((r.detach().double() - f.double()).abs().mean() for rk, fk in zip(real_out, fake_out)
             for r, f in zip(rk[:-1], fk[:-1]))
    assert stats["loss_g"].item() == pytest.approx(adversarial.item(), rel=1e-5)
    assert stats["loss_fm"].item() == pytest.approx(fm.item(), rel=1e-5)
    (adversarial + 10 * fm).backward()
    for (name, p1), p0, q in zip(fam.G.named_parameters(), before, twin.G.parameters()):
        if name.startswith("global_out."):
            assert q.grad is None and torch.equal(p0, p1)  # G1's own output layer is off the full path
            continue
        torch.testing.assert_close(p0 - p1.detach(), q.grad.float(), rtol=1e-4, atol=1e-6)  # SGD, lr 1
    assert all(torch.equal(p0, p1) for p0, p1 in zip(d_before, fam.D.parameters()))


def test_phases_switch_after_their_images_and_restart_the_optimisers(monkeypatch):
    torch.manual_seed(0)
    fam = _family(global_images=8, local_images=4)  # batches of 4: global, global, local, joint, joint
    opts = _opts(fam, "adam", 1e-3)
    seen_sizes = []
    original = fam.D.forward
    monkeypatch.setattr(fam.D, "forward", lambda c, i: seen_sizes.append(i.shape[-1]) or original(c, i))
    parts = {"g1": fam.G.global_features, "g1_out": fam.G.global_out, "g2": fam.G.local_front}
    phases, moved = [], []
    for step in range(5):
        fam.step = step
        before = {k: _params(m) for k, m in parts.items()}
        fam.d_step(_batch(seed=step), opts)
        fam.g_step(_batch(seed=step), opts)
        phases.append(fam.current_phase())
        moved.append({k for k, m in parts.items() if not all(map(torch.equal, before[k], m.parameters()))})
        adam_steps = {int(s["step"]) for s in opts["d"].state.values()}
        assert adam_steps == {[1, 2, 1, 1, 2][step]}  # D's Adam restarts at each phase
    assert phases == [0, 0, 1, 2, 2] and int(fam.images_seen) == 20
    assert moved == [{"g1", "g1_out"}] * 2 + [{"g2"}] + [{"g1", "g2"}] * 2  # G1 alone, G2 alone, then both
    assert seen_sizes[:8] == [14] * 8 and seen_sizes[8:] == [28] * 12  # half-size pairs, then full size


def test_the_model_shows_g1s_upsampled_image_until_the_global_phase_ends():
    torch.manual_seed(0)
    fam, batch = _family(global_images=4), _batch()
    x = batch.inputs
    fam.G.eval()
    with torch.no_grad():
        coarse = F.interpolate(fam.G.coarse(x), size=(28, 28), mode="bilinear")
        full = fam.G(x)
    torch.testing.assert_close(fam.translate(x), coarse)
    opts = _opts(fam)
    fam.d_step(batch, opts)  # the one global step
    fam.d_step(batch, opts)  # the first joint step
    fam.G.eval()
    with torch.no_grad():
        torch.testing.assert_close(fam.translate(x), fam.G(x))
    assert not torch.allclose(full, coarse)


@pytest.mark.parametrize("change, message", [
    ({"loss": "ns"}, "model.loss=ns: family 'pix2pixhd' trains with its paper's least-squares loss"),
    ({"generator": {"name": "unet", "width": 4}},
     "model.generator 'unet' does not fit family 'pix2pixhd' (it needs the coarse-to-fine generator pix2pixhd-g)"),
    ({"discriminator": {"name": "patchgan", "width": 4}},
     "model.discriminator 'patchgan' is a paired discriminator; family 'pix2pixhd' needs multi-scale ones"),
    ({"discriminator": {"name": "multiscale-patchgan", "width": 4, "scales": 3}},
     "multiscale-patchgan at 4px (scale 3 of 3 in the global phase): 1 stride-2 layers leave no patch"),
    ({"options": {"global_images": -1}}, "pix2pixhd: model.options.global_images must be a whole number"),
    ({"options": {"fm_weight": -1.0}}, "pix2pixhd: model.options.fm_weight must be >= 0"),
])
def test_bad_configs_are_one_line_errors(change, message):
    values = {"family": "pix2pixhd", **copy.deepcopy(SMALL), **change}
    with pytest.raises(GanforgeError) as info:
        FAMILIES.get("pix2pixhd")(ModelConfig(**values), NetShape(1, 28, 8, 10))
    assert "\n" not in str(info.value) and str(info.value).startswith(message), str(info.value)


# ---------------------------------------------------------------- the loop: resume across the boundary, eval

def _over(**extra):
    return {**TINY, "batch_size": 4, "eval_every": 0, "model.generator.width": 4, "model.generator.global_blocks": 1,
            "model.generator.local_blocks": 1, "model.discriminator.width": 4,
            "model.options.global_images": 8, "model.options.local_images": 4, **extra}


@needs_fashion
def test_resume_is_bitwise_identical_across_the_phase_boundaries(tmp_path):
    """Phases global, global | local, joint: the resumed half starts exactly at the first local step."""
    over = _over()
    ganforge.train("pix2pixhd-fashion-edges", tmp_path / "straight", steps=4, **over)
    ganforge.train("pix2pixhd-fashion-edges", tmp_path / "halves", steps=2, **over)
    ganforge.train("pix2pixhd-fashion-edges", tmp_path / "halves", resume=True, steps=4, **over)
    a, b = (load_checkpoint(RunDir(tmp_path / r).latest_checkpoint()) for r in ("straight", "halves"))
    assert a["step"] == b["step"] == 4
    keys = ("model", "optim", "sampler", "rng")
    assert_bitwise_equal({k: a[k] for k in keys}, {k: b[k] for k in keys})
    assert int(a["model"]["images_seen"]) == 16 and int(a["model"]["phase"]) == 2
    assert {int(s["step"]) for s in a["optim"]["d"]["state"].values()} == {1}  # restarted at the joint step
    log = [json.loads(line) for line in (tmp_path / "halves" / "log.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in log] == [0, 0, 1, 2] and all(math.isfinite(r["loss_fm"]) for r in log)


@needs_fashion
def test_cli_eval_scores_l1_psnr_ssim_of_a_tiny_run(tmp_path, capsys):
    from ganforge.cli import main

    run = ganforge.train("pix2pixhd-fashion-edges", tmp_path / "r", steps=4, **_over())
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "l1,psnr,ssim", "--n", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    inputs, outputs, targets = ganforge.load(run).pairs(8, seed=0)
    want = paired_scores(outputs, targets)
    assert {k: result[k] for k in want} == pytest.approx(want)
    assert result["psnr_input"] == pytest.approx(paired_scores(inputs, targets)["psnr"])
    assert result["protocol"]["sampling"][1]["phase"] == "joint"
    assert (run / "eval" / "step-0000004.json").is_file()
