"""ProGAN (Karras, Aila, Laine and Lehtinen 2018, "Progressive Growing of GANs for Improved Quality, Stability,
and Variation"): the schedule, fade-in, pixel norm, minibatch stddev, equalised learning rate, the drift term,
shapes at every phase, bad options, exact resume across a growth phase and mid-fade, the report's growth phases."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

import ganforge
from ganforge.config import ModelConfig, RunConfig, to_dict
from ganforge.errors import GanforgeError
from ganforge.losses.wasserstein import WassersteinGPLoss
from ganforge.models import FAMILIES
from ganforge.models.base import Batch, SamplerRequest
from ganforge.models.progan import growth_at
from ganforge.nets import NetShape, build_net, DISCRIMINATORS, GENERATORS
from ganforge.nets.progressive import (EqualizedConv2d, EqualizedLinear, fade_in, minibatch_stddev, pixel_norm,
                                       reals_at, upsample)
from ganforge.report import build_report
from ganforge.training.checkpoint import load_checkpoint

from conftest import TINY, assert_bitwise_equal, needs_fashion

SHAPE = NetShape(channels=1, image_size=28, z_dim=8)
NETS = {"generator": {"name": "progan-g", "channels": [8, 6, 4]},
        "discriminator": {"name": "progan-d", "channels": [8, 6, 4]}}


def _family(**options) -> "ganforge.models.progan.ProGAN":
    torch.manual_seed(0)
    cfg = ModelConfig(family="progan", z_dim=8, loss="wgan-gp", loss_options={"drift": 1e-3}, options=options, **NETS)
    return FAMILIES.get("progan")(cfg, SHAPE)


# ---------------------------------------------------------------- the schedule and fade-in

@pytest.mark.parametrize("images, stage, alpha, phase", [
    (0, 0, 1.0, 0), (49, 0, 1.0, 0),                       # stage 0 (7 px) for the first 50 images
    (50, 1, 0.0, 1), (75, 1, 0.25, 1), (149, 1, 0.99, 1),   # fading in 14 px over 100 images
    (150, 1, 1.0, 2), (199, 1, 1.0, 2),                     # 14 px stable for 50
    (200, 2, 0.0, 3), (250, 2, 0.5, 3),                     # fading in 28 px
    (300, 2, 1.0, 4), (10 ** 9, 2, 1.0, 4),                 # 28 px for good
])
def test_schedule_in_images_seen(images, stage, alpha, phase):
    g = growth_at(images, stages=3, fade_images=100, stable_images=50)
    assert (g.stage, g.phase) == (stage, phase)
    assert g.alpha == pytest.approx(alpha, abs=1e-12)
    assert g.fading == (phase % 2 == 1)


def test_fade_in_is_the_blend_formula_on_fixed_tensors():
    old, new = torch.tensor([1.0, 2.0, -4.0]), torch.tensor([5.0, 10.0, 4.0])
    torch.testing.assert_close(fade_in(old, new, 0.25), torch.tensor([2.0, 4.0, -2.0]))  # 0.75 old + 0.25 new
    assert torch.equal(fade_in(old, new, 1.0), new)


def test_generator_output_is_the_blend_of_the_two_rgb_paths():
    fam = _family()
    g, z = fam.G, torch.randn(3, 8)
    with torch.no_grad():
        h0 = g.first(g.dense(pixel_norm(z)).view(3, 8, 7, 7))  # (3, 8, 7, 7)
        h1 = g.blocks[0](h0)  # (3, 6, 14, 14)
        old, new = upsample(g.to_rgb[0](h0)), g.to_rgb[1](h1)  # both (3, 1, 14, 14)
        expected = upsample((1 - 0.3) * old + 0.3 * new)  # enlarged to 28 px
        torch.testing.assert_close(g(z, 1, 0.3), expected)
        torch.testing.assert_close(g(z, 1, 0.0), g(z, 0, 1.0))  # alpha 0: only the old 7 px path
        torch.testing.assert_close(g(z, 1, 1.0), upsample(new))


def test_discriminator_fade_mirrors_the_generator():
    d = _family().D
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        x14 = F.avg_pool2d(x, 2)
        old = d.act(d.from_rgb[0](F.avg_pool2d(x14, 2)))  # (4, 8, 7, 7)
        new = d.blocks[0](d.act(d.from_rgb[1](x14)))  # (4, 8, 7, 7)
        torch.testing.assert_close(d(x, 1, 0.6), d.last(0.4 * old + 0.6 * new).view(-1))
        torch.testing.assert_close(d(x, 1, 0.0), d(x, 0, 1.0))


def test_reals_are_pooled_to_the_stage_and_blended_during_the_fade():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)  # 2x2 means: 2.5 4.5 / 10.5 12.5
    blended = reals_at(x, 1, 0.5)  # (x + its half-resolution version) / 2
    assert blended[0, 0, 0, 0].item() == pytest.approx((0 + 2.5) / 2)
    assert blended[0, 0, 0, 1].item() == pytest.approx((1 + 2.5) / 2)
    assert blended[0, 0, 3, 3].item() == pytest.approx((15 + 12.5) / 2)
    pooled = reals_at(x, 2, 1.0)  # the 2 px stage, enlarged back to 4 px
    torch.testing.assert_close(pooled[0, 0], torch.tensor([[2.5, 2.5, 4.5, 4.5]] * 2 + [[10.5, 10.5, 12.5, 12.5]] * 2))


# ---------------------------------------------------------------- layers against hand computations

def test_pixel_norm_by_hand():
    a = torch.tensor([3.0, 4.0]).reshape(1, 2, 1, 1)  # mean square 12.5
    torch.testing.assert_close(pixel_norm(a).flatten(), torch.tensor([3.0, 4.0]) / math.sqrt(12.5))


def test_minibatch_stddev_by_hand():
    x = torch.tensor([[1.0, 10.0], [3.0, 14.0]]).reshape(2, 2, 1, 1)  # stds 1 and 2 over the batch: mean 1.5
    out = minibatch_stddev(x)
    assert out.shape == (2, 3, 1, 1)
    torch.testing.assert_close(out[:, 2].flatten(), torch.tensor([1.5, 1.5]))
    assert torch.equal(out[:, :2], x)
    grouped = minibatch_stddev(torch.tensor([0.0, 10.0, 2.0, 20.0]).reshape(4, 1, 1, 1), group=2)
    # groups {0, 2} (values 0, 2: std 1) and {1, 3} (values 10, 20: std 5), as the authors' reshape makes them
    torch.testing.assert_close(grouped[:, 1].flatten(), torch.tensor([1.0, 5.0, 1.0, 5.0]))
    with pytest.raises(GanforgeError, match="group 3 does not divide the batch of 4 images"):
        minibatch_stddev(torch.zeros(4, 1, 1, 1), group=3)


def test_equalised_learning_rate_scale_and_effect():
    torch.manual_seed(0)
    conv = EqualizedConv2d(16, 4, 3)
    assert conv.scale == pytest.approx(math.sqrt(2.0) / 12.0)  # He: sqrt(2 / (16 * 3 * 3))
    assert 0.85 < conv.weight.std().item() < 1.15 and conv.bias.abs().max() == 0  # stored N(0, 1)
    x = torch.randn(2, 16, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1))
    # one Adam step moves every effective weight c w by about lr * c: the same relative speed at any fan-in
    lin_small, lin_big = EqualizedLinear(4, 3), EqualizedLinear(400, 3)
    for layer in (lin_small, lin_big):
        before = layer.weight.detach().clone()
        opt = torch.optim.Adam(layer.parameters(), lr=1e-3, eps=1e-12)
        layer(torch.randn(8, layer.in_features)).pow(2).sum().backward()
        opt.step()
        relative = (layer.weight.detach() - before).abs()  # change of c w divided by c
        torch.testing.assert_close(relative, torch.full_like(relative, 1e-3), rtol=1e-3, atol=0)
    assert lin_small.scale / lin_big.scale == pytest.approx(10.0)


def test_drift_term_by_hand():
    real, fake = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([0.5, 0.5, 2.0])
    plain = WassersteinGPLoss(WassersteinGPLoss.Args()).d_loss(real, fake)
    drift = WassersteinGPLoss(WassersteinGPLoss.Args(drift=1e-3)).d_loss(real, fake)
    assert plain.item() == pytest.approx(1.0 - 2.0 / 3.0)  # E[D(G(z))] - E[D(x)]
    assert drift.item() == pytest.approx(1.0 - 2.0 / 3.0 + 1e-3 * 14.0 / 3.0)  # + 0.001 E[D(x)^2]


# ---------------------------------------------------------------- the family at every phase

@pytest.mark.parametrize("images, stage, alpha", [(0, 0, 1.0), (60, 1, 0.25), (100, 1, 1.0), (160, 2, 0.5),
                                                   (400, 2, 1.0)])
def test_shapes_and_routing_at_every_phase(images, stage, alpha):
    fam = _family(fade_images=40, stable_images=50)  # stable 0-50, fade 50-90, stable 90-140, fade 140-180, ...
    fam.images_seen.fill_(images)
    growth = fam.growth()
    assert (growth.stage, growth.alpha) == (stage, pytest.approx(alpha))
    fake = fam.run_generator(fam.G, torch.randn(4, 8), None)
    assert fake.shape == (4, 1, 28, 28)
    factor = 28 // (7 << growth.stage)  # the stage's pixels are constant factor x factor blocks
    torch.testing.assert_close(fake, upsample(F.avg_pool2d(fake, factor), factor))
    out, _ = fam.discriminate(fake, None)
    assert out.shape == (4,)
    out.sum().backward()
    for net in (fam.G, fam.D):
        idle = {n for n, p in net.named_parameters() if p.grad is None}
        assert idle == net.unused_parameter_names(growth.stage, growth.alpha) and idle  # only the active path ran


def test_schedule_counts_real_images_and_resets_the_optimisers_when_a_phase_begins():
    fam = _family(fade_images=8, stable_images=8)
    opts = {n: torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.0, 0.99)) for n, net in fam.trainable().items()}
    batch = Batch(torch.rand(4, 1, 28, 28) * 2 - 1, torch.zeros(4, dtype=torch.long))
    seen = []
    for _ in range(3):
        stats = fam.d_step(batch, opts)
        fam.g_step(batch, opts)
        seen.append((int(fam.images_seen), stats["growth_stage"].item(), stats["growth_alpha"].item(),
                     len(opts["d"].state), len(opts["g"].state)))
    # 4 images: stage 0; 8: fade into 14 px starts (alpha 0), state cleared then refilled by this step's update
    assert [s[:3] for s in seen] == [(4, 0, 1.0), (8, 1, 0.0), (12, 1, 0.5)]
    d_params_stage1 = len(list(fam.D.parameters())) - len(fam.D.unused_parameter_names(1, 0.5))
    assert seen[1][3] == d_params_stage1  # only the parameters that ran since the reset have Adam state
    assert seen[0][3] < d_params_stage1


def test_samples_are_full_size_at_every_stage():
    fam = _family(fade_images=40, stable_images=50)
    images = fam.generate(torch.randn(5, 8))
    assert images.shape == (5, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    fam.images_seen.fill_(70)  # 20 images into the 40-image fade to 14 px
    with fam.sampling() as record:  # what eval records of this checkpoint say about its samples
        assert record == {"nfe_per_image": 1,
                          "growth": {"stage": 1, "alpha": 0.5, "resolution": 14, "images_seen": 70}}
    with pytest.raises(GanforgeError, match="has no sampler settings"):
        with fam.sampling(SamplerRequest(steps=3)):
            pass


# ---------------------------------------------------------------- bad options

@pytest.mark.parametrize("change, message", [
    ({"options": {"fade_image": 10}}, "ProGAN has no option 'fade_image'"),
    ({"options": {"fade_images": -1}}, "fade_images of family 'progan' must be a whole number of images >= 0"),
    ({"options": {"stable_images": 0}}, "stable_images of family 'progan' must be a whole number of images >= 1"),
    ({"generator": {"name": "lucic-g"}}, "model.generator 'lucic-g' does not grow; family 'progan' needs"),
    ({"generator": {"name": "progan-g", "channels": [8, 8]}}, "grows through [14, 28] px but model.discriminator"),
    ({"generator": {"name": "progan-g", "channels": [8, 8, 8, 8]}}, "image_size 28 does not halve 3 times"),
    ({"discriminator": {"name": "progan-d", "channels": [8, 8, 8], "mbstd_group": -2}}, "mbstd_group must be 0"),
    ({"loss_options": {"drift": -0.1}}, "drift of loss 'wgan-gp' must be a number in [0, 1)"),
])
def test_bad_options_are_one_line_errors(change, message):
    spec = {"family": "progan", "z_dim": 8, "loss": "wgan-gp", **NETS, **change}
    with pytest.raises(GanforgeError) as info:
        FAMILIES.get("progan")(ModelConfig(**spec), SHAPE)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_four_stages_for_32_px():
    g = build_net(GENERATORS, "progan-g", NetShape(3, 32, 8), {"channels": [8, 8, 4, 4]})
    d = build_net(DISCRIMINATORS, "progan-d", NetShape(3, 32, 8), {"channels": [8, 8, 4, 4]})
    assert g.resolutions == d.resolutions == [4, 8, 16, 32]
    x = g(torch.randn(2, 8), 1, 0.5)
    assert x.shape == (2, 3, 32, 32) and d(x, 1, 0.5).shape == (2,)


# ---------------------------------------------------------------- exact resume, the log and the report

# batch 8: images 8 (7 px), 16 (fade into 14 px starts, alpha 0), 24 (1/3), 32 (2/3), 40 (14 px stable), 48
GROW = {**TINY, "batch_size": 8, "data": "fashion-mnist:train[:64]", "ema_decay": 0.9,
        "model.generator.channels": [4, 4, 4], "model.discriminator.channels": [4, 4, 4],
        "model.z_dim": 8, "model.options.fade_images": 24, "model.options.stable_images": 16}


@needs_fashion
def test_resume_mid_fade_and_across_a_phase_boundary_is_bitwise_identical(tmp_path):
    ganforge.train("progan-fashion", tmp_path / "straight", steps=6, **GROW)
    ganforge.train("progan-fashion", tmp_path / "halves", steps=3, **GROW)  # stops mid-fade (alpha 1/3)
    ganforge.train("progan-fashion", tmp_path / "halves", resume=True, steps=6, **{**GROW, "sample_every": 2})
    a, b = (load_checkpoint(sorted((tmp_path / r / "checkpoints").glob("step-*.pt"))[-1])
            for r in ("straight", "halves"))
    assert a["step"] == b["step"] == 6 and int(a["model"]["images_seen"]) == 48
    assert_bitwise_equal({"model": a["model"], "optim": a["optim"]}, {"model": b["model"], "optim": b["optim"]})
    log = [json.loads(line) for line in (tmp_path / "halves" / "log.jsonl").read_text().splitlines()]
    assert [r["growth_stage"] for r in log] == [0, 1, 1, 1, 1, 1]
    assert [r["growth_alpha"] for r in log] == pytest.approx([1.0, 0.0, 1 / 3, 2 / 3, 1.0, 1.0])
    assert [r["growth_resolution"] for r in log] == [7, 14, 14, 14, 14, 14]

    model = ganforge.load(tmp_path / "halves")  # samples at the saved stage, at full size
    images, record = model.sample_timed(4, seed=0)
    assert images.shape == (4, 1, 28, 28)
    assert record["growth"] == {"stage": 1, "alpha": 1.0, "resolution": 14, "images_seen": 48}  # in eval protocols
    html = build_report([tmp_path / "halves"], tmp_path / "report.html").read_text()
    assert "Growth phases" in html and "fade 7 → 14 px" in html and "step-0000004.png" in html


def test_report_lists_the_growth_phases_from_the_log(tmp_path):
    from ganforge.report.growth import growth_phases

    rows = [{"step": s, "growth_stage": st, "growth_alpha": al, "growth_resolution": res, "growth_kimg": s * 0.016}
            for s, st, al, res in [(10, 0, 1.0, 7), (20, 0.5, 0.4, 10.5), (30, 1, 0.7, 14), (40, 1, 1.0, 14),
                                   (50, 2, 1.0, 28)]]
    phases = growth_phases(rows, {8: "a.png", 20: "b.png", 30: "c.png", 50: "d.png"})
    assert [(p["name"], p["first"], p["last"], p["grid_name"]) for p in phases] == [
        ("7 px", 1, 10, "a.png"), ("fade 7 → 14 px", 11, 30, "c.png"), ("14 px", 31, 40, None),
        ("28 px", 41, 50, "d.png")]
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(to_dict(RunConfig())))
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert "Growth phases" in build_report([run], tmp_path / "r.html").read_text()
    (run / "log.jsonl").write_text(json.dumps({"step": 1, "loss_d": 0.5}) + "\n")
    assert "Growth phases" not in build_report([run], tmp_path / "r.html").read_text()  # other families: none
