"""LAPGAN (Denton et al. 2015): the Laplacian pyramid, the per-level networks and losses, the pyramid sampling
procedure and picture, bad options, and training, resume and evaluation through the loop on tiny data."""
from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F

import ganforge
from ganforge import evaluation as evaluate
from ganforge.config import ModelConfig, OptimConfig
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES
from ganforge.models import FAMILIES, Batch, SamplerRequest, generate_uint8, to_uint8
from ganforge.models.lapgan import level_losses, real_levels
from ganforge.nets import NetShape
from ganforge.nets.pyramid import (downsample, gaussian_pyramid, laplacian_pyramid, level_sizes, reconstruct,
                                   upsample)
from ganforge.runs import RunDir
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.optim import build_optimizer

from conftest import TINY, assert_bitwise_equal, needs_fashion

SHAPE = NetShape(channels=1, image_size=28, z_dim=8, num_classes=10)
SMALL = {"generator": {"name": "mlp-g", "hidden": 16, "depth": 1},
         "discriminator": {"name": "mlp-d", "hidden": 16, "depth": 1},
         "options": {"level_generator": {"name": "lapgan-g", "width": 4},
                     "level_discriminator": {"name": "lapgan-d", "width": 4}}}


def _family(**change):
    values = {"family": "lapgan", "z_dim": 8, **copy.deepcopy(SMALL), **change}
    return FAMILIES.get("lapgan")(ModelConfig(**values), SHAPE)


def _batch(n: int = 6, seed: int = 0) -> Batch:
    images = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return Batch(images, torch.zeros(n, dtype=torch.int64))


def _sgd(fam):
    return fam.build_optimizers({"g": OptimConfig(name="sgd", lr=1.0), "d": OptimConfig(name="sgd", lr=1.0)},
                                build_optimizer)


# ---------------------------------------------------------------- the pyramid

def test_d_is_the_2x2_block_mean_and_u_is_bilinear_by_hand():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    torch.testing.assert_close(downsample(x), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    a, b, c, d = 1.0, 5.0, 3.0, 11.0
    row = lambda p, q: [p, 0.75 * p + 0.25 * q, 0.25 * p + 0.75 * q, q]  # noqa: E731  half-pixel centres, clamped
    top, bottom = row(a, b), row(c, d)
    rows = [top, [0.75 * t + 0.25 * s for t, s in zip(top, bottom)],
            [0.25 * t + 0.75 * s for t, s in zip(top, bottom)], bottom]
    torch.testing.assert_close(upsample(torch.tensor([[[[a, b], [c, d]]]])), torch.tensor([[rows]]))


def test_pyramid_reconstruction_identity():
    image = torch.rand(3, 2, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    g = gaussian_pyramid(image, 3)
    h = laplacian_pyramid(image, 3)
    assert [t.shape[-1] for t in g] == [t.shape[-1] for t in h] == [28, 14, 7]
    blocks = image.reshape(3, 2, 7, 4, 7, 4).mean(dim=(3, 5))  # I_2: the mean of each 4 x 4 block
    torch.testing.assert_close(g[2], blocks, rtol=0, atol=1e-12)
    torch.testing.assert_close(h[2], g[2], rtol=0, atol=0)  # h_K = I_K
    for k in range(2):  # h_k = I_k - u(I_k+1), and I_k = u(I_k+1) + h_k
        up = F.interpolate(g[k + 1], scale_factor=2, mode="bilinear", align_corners=False)
        torch.testing.assert_close(h[k], g[k] - up, rtol=0, atol=1e-12)
        torch.testing.assert_close(up + h[k], g[k], rtol=0, atol=1e-12)
    torch.testing.assert_close(reconstruct(h), image, rtol=0, atol=1e-12)
    assert not torch.allclose(upsample(g[1]), image, atol=1e-2)  # the residual h_0 is not negligible


def test_real_levels_are_the_low_pass_images_and_residuals_of_the_pyramid():
    images = _batch(4).images
    lows, targets = real_levels(images, 3)
    assert [t.shape for t in lows] == [(4, 1, 28, 28), (4, 1, 14, 14)]
    assert [t.shape for t in targets] == [(4, 1, 28, 28), (4, 1, 14, 14), (4, 1, 7, 7)]
    torch.testing.assert_close(lows[0] + targets[0], images, rtol=0, atol=1e-6)
    torch.testing.assert_close(lows[1], upsample(targets[2]), rtol=0, atol=0)
    torch.testing.assert_close(reconstruct(targets[:2] + targets[2:]), images, rtol=0, atol=1e-6)


@pytest.mark.parametrize("size, levels, message", [
    (28, 1, "a Laplacian pyramid needs at least 2 levels, got 1"),
    (28, 4, "a 4-level pyramid halves the image 3 times and needs an image size divisible by 8, got 28"),
])
def test_pyramids_that_do_not_fit_are_one_line_errors(size, levels, message):
    with pytest.raises(GanforgeError) as info:
        level_sizes(size, levels)
    assert str(info.value) == message
    assert level_sizes(32, 4) == [32, 16, 8, 4]


# ---------------------------------------------------------------- networks and sampling

def test_shapes_per_level_and_the_sampling_procedure():
    torch.manual_seed(0)
    fam = _family()
    g = fam.G
    assert g.latent_dim == 8 + 14 * 14 + 28 * 28
    z = fam.sample_latent(5)
    assert z.shape == (5, g.latent_dim)
    z_coarse, planes = g.split(z)
    assert z_coarse.shape == (5, 8) and [p.shape for p in planes] == [(5, 1, 28, 28), (5, 1, 14, 14)]
    torch.testing.assert_close(planes[1].flatten(1), z[:, 8:8 + 196], rtol=0, atol=0)  # coarse to fine
    with torch.no_grad():
        pyramid = g.pyramid(z)
        assert [t.shape for t in pyramid] == [(5, 1, 28, 28), (5, 1, 14, 14), (5, 1, 7, 7)]
        # by hand: I_2 = G_2(z_2); I_k = u(I_k+1) + G_k(u(I_k+1), z_k)
        i2 = g.coarse(z_coarse)
        l1 = F.interpolate(i2, scale_factor=2, mode="bilinear", align_corners=False)
        i1 = l1 + g.levels[1](l1, planes[1])
        l0 = F.interpolate(i1, scale_factor=2, mode="bilinear", align_corners=False)
        i0 = l0 + g.levels[0](l0, planes[0])
        for got, want in zip(pyramid, (i0, i1, i2)):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(g(z), i0, rtol=1e-5, atol=1e-6)
        lows, _ = real_levels(_batch(5).images, 3)
        outs = g(z, lows)  # training pass: conditioned on the given low-pass images
        assert [t.shape for t in outs] == [(5, 1, 28, 28), (5, 1, 14, 14), (5, 1, 7, 7)]
        torch.testing.assert_close(outs[0], g.levels[0](lows[0], planes[0]), rtol=0, atol=0)
        judged = fam.D(lows, outs)
        assert [t.shape for t in judged] == [(5,), (5,), (5,)]


def test_samples_are_images_in_range_and_one_latent_is_one_image():
    torch.manual_seed(0)
    fam = _family()
    z = fam.sample_latent(7)
    x = fam.generate(z)
    assert x.shape == (7, 1, 28, 28) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert float(x.std()) > 0  # not a constant image
    u8 = generate_uint8(fam, z, chunk=3)
    assert u8.dtype == torch.uint8 and torch.equal(u8, generate_uint8(fam, z, chunk=7))
    assert torch.equal(u8[2:3], generate_uint8(fam, z[2:3]))  # each row of z is all of its image's noise
    with fam.sampling() as record:
        assert record == {"nfe_per_image": 3}  # one generator per level
    with pytest.raises(GanforgeError, match="^steps: model family 'lapgan' samples by its fixed pyramid procedure"):
        fam.sampling(SamplerRequest(steps=5))
    uniform = _family(z_dist="uniform", z_scale=1.0).sample_latent(500)
    assert float(uniform.min()) >= -1.0 and float(uniform.max()) <= 1.0 and float(uniform.min()) < -0.99


def test_the_grid_is_the_pyramid_coarse_to_fine():
    torch.manual_seed(0)
    fam = _family()
    z = fam.sample_latent(4)
    images, row = fam.grid_images(z, None, 2, use_ema=False)
    assert row == 5 * 1 and images.shape == (20, 1, 28, 28)  # round(sqrt(4 / 5)) = 1 latent a row
    tiles = images.view(4, 5, 1, 28, 28)
    with torch.no_grad():
        i0, i1, i2 = fam.G.pyramid(z)
    show = lambda t: to_uint8(((F.interpolate(t, size=(28, 28), mode="nearest") + 1) / 2).clamp(0, 1))  # noqa: E731
    for j, want in enumerate([i2, upsample(i2), i1, upsample(i1), i0]):
        assert torch.equal(tiles[:, j], show(want)), j
    block = tiles[:, 0, 0, :4, :4]
    assert bool((block == block[:, :1, :1]).all())  # one coarse 7x7 pixel is shown as a 4x4 block
    assert torch.equal(tiles[:, 4], generate_uint8(fam, z, use_ema=False))  # the last stage is the sample


# ---------------------------------------------------------------- losses, per level and in the updates

def test_level_losses_against_a_hand_computation():
    ln3 = math.log(3.0)
    real = [torch.tensor([0.0, ln3]), torch.tensor([[2.0, -1.0]]), torch.tensor([1.0])]
    fake = [torch.tensor([ln3, -ln3]), torch.tensor([[0.0, 0.0]]), torch.tensor([-2.0])]
    ns = LOSSES.get("ns")()
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731  softplus
    d_by_hand = [(math.log(2) + math.log(4 / 3)) / 2 + (math.log(4) + math.log(4 / 3)) / 2,
                 (sp(-2.0) + sp(1.0)) / 2 + math.log(2),
                 sp(-1.0) + sp(-2.0)]
    assert [v.item() for v in level_losses(ns.d_loss, real, fake)] == pytest.approx(d_by_hand, rel=1e-6)
    g_by_hand = [(math.log(4 / 3) + math.log(4)) / 2, math.log(2), sp(2.0)]  # -log sigmoid(f)
    assert [v.item() for v in level_losses(ns.g_loss, fake)] == pytest.approx(g_by_hand, rel=1e-6)


def _grads(loss, params):
    return torch.autograd.grad(loss, params, retain_graph=True)


def test_d_step_trains_each_level_on_its_own_loss_with_real_low_pass_images():
    torch.manual_seed(0)
    fam, batch = _family(), _batch()
    twin = copy.deepcopy(fam)
    before = [[p.detach().clone() for p in d.parameters()] for d in (*fam.D.levels, fam.D.coarse)]
    torch.manual_seed(1)
    stats = fam.d_step(batch, _sgd(fam))
    torch.manual_seed(1)  # the same latents and dropout masks, drawn in the same order
    lows, real = real_levels(batch.images, 3)
    with torch.no_grad():
        fake = twin.G(twin.sample_latent(6), lows)
    real_out, fake_out = twin.D(lows, real), twin.D(lows, fake)
    after = (*fam.D.levels, fam.D.coarse)
    for k, (r, f, net) in enumerate(zip(real_out, fake_out, (*twin.D.levels, twin.D.coarse))):
        by_hand = -torch.log(torch.sigmoid(r.double())).mean() - torch.log(1 - torch.sigmoid(f.double())).mean()
        assert stats[f"loss_d_{k}"].item() == pytest.approx(by_hand.item(), rel=1e-5)
        grads = _grads(by_hand, list(net.parameters()))  # level k's loss alone
        for p0, p1, grad in zip(before[k], after[k].parameters(), grads):
            torch.testing.assert_close(p0 - p1.detach(), grad.float(), rtol=1e-4, atol=1e-6)  # SGD, lr 1
    assert stats["loss_d"].item() == pytest.approx(sum(stats[f"loss_d_{k}"].item() for k in range(3)), rel=1e-6)
    assert all(p.grad is None for p in fam.G.parameters())


def test_g_step_trains_each_level_on_its_own_loss_and_leaves_d_alone():
    torch.manual_seed(0)
    fam, batch = _family(), _batch(seed=2)
    twin = copy.deepcopy(fam)
    before = [[p.detach().clone() for p in g.parameters()] for g in (*fam.G.levels, fam.G.coarse)]
    d_before = [p.detach().clone() for p in fam.D.parameters()]
    torch.manual_seed(3)
    stats = fam.g_step(batch, _sgd(fam))
    torch.manual_seed(3)
    lows, _ = real_levels(batch.images, 3)
    fake_out = twin.D(lows, twin.G(twin.sample_latent(6), lows))
    after = (*fam.G.levels, fam.G.coarse)
    for k, (f, net) in enumerate(zip(fake_out, (*twin.G.levels, twin.G.coarse))):
        by_hand = -torch.log(torch.sigmoid(f.double())).mean()  # non-saturating, level k only
        assert stats[f"loss_g_{k}"].item() == pytest.approx(by_hand.item(), rel=1e-5)
        for p0, p1, grad in zip(before[k], after[k].parameters(), _grads(by_hand, list(net.parameters()))):
            torch.testing.assert_close(p0 - p1.detach(), grad.float(), rtol=1e-4, atol=1e-6)
    assert all(torch.equal(p0, p1) for p0, p1 in zip(d_before, fam.D.parameters()))


def test_a_gradient_penalty_is_taken_per_level_on_its_own_critic():
    torch.manual_seed(0)
    fam = _family(loss="wgan-gp", loss_options={"gp_weight": 10.0})
    stats = fam.d_step(_batch(), _sgd(fam))
    assert math.isfinite(stats["penalty"].item()) and stats["penalty"].item() > 0
    assert stats["loss_d"].item() == pytest.approx(sum(stats[f"loss_d_{k}"].item() for k in range(3)), rel=1e-6)


# ---------------------------------------------------------------- bad options

@pytest.mark.parametrize("change, message", [
    ({"options": {"levels": 1}}, "a Laplacian pyramid needs at least 2 levels, got 1"),
    ({"options": {"levels": 4}}, "a 4-level pyramid halves the image 3 times and needs an image size divisible by 8"),
    ({"options": {"level_generator": {"name": "dcgan-g"}}},
     "model.options.level_generator 'dcgan-g' does not fit family 'lapgan' (it needs a residual generator"),
    ({"options": {"level_discriminator": {"name": "mlp-d"}}},
     "model.options.level_discriminator 'mlp-d' is a plain discriminator; lapgan's levels need a paired one"),
    ({"options": {"level_discriminator": {"name": "lapgan-d", "kernel": 9}}},
     "lapgan-d: two 9x9 convolutions do not fit a 14px pyramid level"),
    ({"options": {"level_generator": {"name": "lapgan-g", "kernel": 4}}}, "lapgan-g: width and layers must be"),
    ({"options": {"level_generator": {"name": "lapgan-g", "depth": 2}}}, "LevelGenerator has no option 'depth'"),
    ({"options": {"pyramid": 3}}, "LAPGAN has no option 'pyramid'"),
    ({"options": {"levels": "three"}}, "LAPGAN.levels"),
    ({"generator": {"name": "lapgan-g"}}, "model.generator 'lapgan-g' does not fit family 'lapgan'"),
    ({"discriminator": {"name": "patchgan"}}, "model.discriminator 'patchgan' is a paired discriminator"),
])
def test_bad_options_are_one_line_errors(change, message):
    values = {"family": "lapgan", "z_dim": 8, **copy.deepcopy(SMALL)}
    for key, value in change.items():
        values[key] = {**values[key], **value} if key == "options" else value
    with pytest.raises(GanforgeError) as info:
        FAMILIES.get("lapgan")(ModelConfig(**values), SHAPE)
    assert "\n" not in str(info.value) and message in str(info.value), str(info.value)


def test_a_latent_of_the_wrong_width_is_a_one_line_error():
    fam = _family()
    with pytest.raises(GanforgeError, match=r"^lapgan latents are \(N, 988\): z_dim=8 plus one noise plane per "
                                            r"finer pyramid level \[28, 14\]; got \(2, 8\)$"):
        fam.generate(torch.zeros(2, 8))


def test_the_pyramid_picture_needs_a_lapgan_model():
    from types import SimpleNamespace

    from ganforge.viz import VIZ, VizOptions
    other = SimpleNamespace(family=FAMILIES.get("gan"), config=SimpleNamespace(model=ModelConfig()))  # a GAN run
    with pytest.raises(GanforgeError, match=r"^pyramid needs a LAPGAN model \(this run's family is 'gan'\)$"):
        VIZ.get("pyramid")(other, VizOptions())


# ---------------------------------------------------------------- the loop: training, resume, sampling, eval

def _over(**extra):
    return {**TINY, "eval_every": 0, "grid_size": 4, "model.generator.hidden": 16, "model.discriminator.hidden": 16,
            "model.options.level_generator.width": 4, "model.options.level_discriminator.width": 4, **extra}


@needs_fashion
def test_resume_is_bitwise_identical_with_dropout_and_ema(tmp_path):
    over = _over(ema_decay=0.9)
    ganforge.train("lapgan-fashion", tmp_path / "straight", steps=4, **over)
    ganforge.train("lapgan-fashion", tmp_path / "halves", steps=2, **over)
    ganforge.train("lapgan-fashion", tmp_path / "halves", resume=True, steps=4, **over)
    a, b = (load_checkpoint(RunDir(tmp_path / r).latest_checkpoint()) for r in ("straight", "halves"))
    assert a["step"] == b["step"] == 4
    assert_bitwise_equal({k: a[k] for k in ("model", "optim", "sampler", "rng")},
                         {k: b[k] for k in ("model", "optim", "sampler", "rng")})
    assert any(k.startswith("g_ema.") for k in a["model"])
    log = [json.loads(line) for line in (tmp_path / "halves" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert all(math.isfinite(r[f"loss_{n}_{k}"]) for r in log for n in "dg" for k in range(3))


@needs_fashion
def test_a_trained_run_samples_and_evaluates_like_any_noise_to_image_gan(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    run = ganforge.train("lapgan-fashion", tmp_path / "r", steps=2, **_over(sample_every=2))
    grid = sorted((run / "samples").glob("step-*.png"))
    assert len(grid) == 1
    from PIL import Image
    assert Image.open(grid[0]).size == (2 + 5 * 30, 2 + 4 * 30)  # 4 latents, 5 stages each, 1 a row
    model = ganforge.load(run)
    a, b = model.sample(6, seed=1), model.sample(6, seed=1, batch_size=4)
    assert a.dtype == torch.uint8 and a.shape == (6, 1, 28, 28) and torch.equal(a, b)
    from ganforge.viz import VizOptions, make_picture
    picture = make_picture(run, "pyramid", tmp_path / "p.png", VizOptions(rows=3, seed=1))
    assert Image.open(picture).size == (2 + 5 * 30, 2 + 3 * 30)  # 3 rows of 5 stages
    result, out = evaluate.evaluate_run(run, ["fid", "kid"], "pixels", n=60)
    record = json.loads(out.read_text())
    assert math.isfinite(result["fid"]) and result["fid"] > 0 and record["fid"] == pytest.approx(result["fid"])
    assert "kid" in record and record["protocol"]["step"] == 2
