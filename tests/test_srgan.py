"""SRGAN (Ledig et al. 2017): the low-resolution pairs and their bicubic baseline, SRResNet's shapes and sub-pixel
upsampling, the SRGAN discriminator, the perceptual loss against hand computations on fixed tensors, the two
phases, exact resume across the phase boundary, and `ganforge eval` reporting the bicubic baseline.

Unit tests run on 8 px targets with a randomly initialised small-cnn classifier (the content network is never
trained here: the dataset classifier would take many CPU minutes)."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganforge
from ganforge.config import ModelConfig, OptimConfig
from ganforge.data import bicubic_upscale, box_downscale, make_inputs
from ganforge.errors import GanforgeError
from ganforge.metrics import paired_scores
from ganforge.models import FAMILIES, to_uint8
from ganforge.models.base import Batch
from ganforge.nets import DISCRIMINATORS, GENERATORS, NetShape, build_net
from ganforge.nets.srresnet import SubPixelUpsample
from ganforge.runs import RunDir
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.optim import build_optimizer

from conftest import TINY, assert_bitwise_equal, needs_fashion


def _u8(t: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8, as the families do."""
    return to_uint8((t.clamp(-1, 1) + 1) / 2)


# ---------------------------------------------------------------- low-resolution inputs and the bicubic baseline

def test_box_downscale_is_the_rounded_block_mean_and_bicubic_the_downscale_tasks_input():
    images = torch.randint(0, 256, (3, 2, 8, 12), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    small = box_downscale(images, 4)
    assert small.dtype == torch.uint8 and small.shape == (3, 2, 2, 3)
    block_means = images.double().reshape(3, 2, 2, 4, 3, 4).mean(dim=(3, 5))  # (N, C, H/4, W/4) by hand
    assert (small.double() - block_means).abs().max() <= 0.5 + 1e-9  # the mean, rounded
    up = bicubic_upscale(small, (8, 12))
    assert up.shape == images.shape
    # pix2pix's downscale:4 upsamples the unrounded mean: the two differ by the rounding of the small image only
    assert (up.int() - make_inputs("downscale:4", images).int()).abs().max() <= 1
    flat = torch.full((1, 1, 2, 3), 77, dtype=torch.uint8)
    assert torch.equal(bicubic_upscale(flat, (8, 12)), torch.full((1, 1, 8, 12), 77, dtype=torch.uint8))
    with pytest.raises(GanforgeError, match=r"^box_downscale:3 needs an image size divisible by 3, got 8x12$"):
        box_downscale(images, 3)


# ---------------------------------------------------------------- the networks

@pytest.mark.parametrize("scale, small", [(4, 7), (2, 14)])
def test_srresnet_maps_small_images_to_28px_with_log2_r_pixel_shuffles(scale, small):
    torch.manual_seed(0)
    g = build_net(GENERATORS, "srresnet", NetShape(1, 28, 8), {"width": 4, "blocks": 2, "scale": scale})
    assert g.input_size == small and g.takes_images and g.out_range == "pm1"
    assert sum(isinstance(m, nn.PixelShuffle) for m in g.modules()) == int(math.log2(scale))
    assert len(g.blocks) == 2
    y = g(torch.rand(3, 1, small, small) * 2 - 1)
    assert y.shape == (3, 1, 28, 28) and y.abs().max() <= 1
    with pytest.raises(GanforgeError, match=rf"expected low-resolution images \(N, 1, {small}, {small}\), got "
                                            r"\(3, 1, 28, 28\)"):
        g(torch.zeros(3, 1, 28, 28))


def test_subpixel_upsampling_is_the_hand_reshape_then_prelu():
    torch.manual_seed(0)
    block = SubPixelUpsample(3)
    with torch.no_grad():
        block.act.weight.copy_(torch.tensor([0.1, 0.2, 0.3]))
        x = torch.randn(2, 3, 4, 5)
        conv = block.conv(x)  # (2, 12, 4, 5)
        hand = torch.empty(2, 3, 8, 10)
        for c in range(3):  # output pixel (c, 2h + i, 2w + j) is conv channel 4c + 2i + j at (h, w)
            for i in range(2):
                for j in range(2):
                    hand[:, c, i::2, j::2] = conv[:, 4 * c + 2 * i + j]
        slopes = torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
        torch.testing.assert_close(block(x), torch.where(hand > 0, hand, slopes * hand))


def test_srgan_discriminator_scales_28px_down_to_4x4_and_returns_logits():
    torch.manual_seed(0)
    d = build_net(DISCRIMINATORS, "srgan-d", NetShape(1, 28, 8), {"width": 4, "dense": 8})
    assert d.kind == "plain"
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    assert d.features(x).shape == (2, 16, 4, 4)  # widths 4, 8, 16; 28 -> 14 -> 7 -> 4
    assert d(x).shape == (2,)
    strides = [m.stride[0] for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert strides == [1, 2, 1, 2, 1, 2]  # k3n64s1, then (s1 widening, s2) per stage, the first without s1
    with pytest.raises(GanforgeError, match=r"^srgan-d: 4 stride-2 stages shrink 16px images to 1px"):
        build_net(DISCRIMINATORS, "srgan-d", NetShape(1, 16, 8), {"stages": 4})


# ---------------------------------------------------------------- the family: losses on fixed tensors

NETS = {"generator": {"name": "srresnet", "width": 4, "blocks": 1, "scale": 2},
        "discriminator": {"name": "srgan-d", "width": 4, "stages": 2, "dense": 8}}


def _family(size: int = 8, **options):
    """An 8 px family; content=classifier keeps its small-cnn at its random initialisation (no init_from_data)."""
    cfg = ModelConfig(family="srgan", **copy.deepcopy(NETS),
                      options={"classifier_init": "random-in-unit-tests", **options})
    return FAMILIES.get("srgan")(cfg, NetShape(1, size, 8, 10))


def _batch(n: int = 6, seed: int = 0, size: int = 8, scale: int = 2) -> Batch:
    targets = torch.randint(0, 256, (n, 1, size, size), generator=torch.Generator().manual_seed(seed),
                            dtype=torch.uint8)
    to_range = lambda u: u.float() / 255 * 2 - 1  # noqa: E731
    return Batch(to_range(targets), torch.zeros(n, dtype=torch.int64), to_range(box_downscale(targets, scale)))


def _sgd(fam, lr: float = 1.0):
    return fam.build_optimizers({"g": OptimConfig(name="sgd", lr=lr), "d": OptimConfig(name="sgd", lr=lr)},
                                build_optimizer)


def _params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def _assert_sgd_step_is_grad(before, net, twin_net, atol=1e-6):
    for p0, p1, q in zip(before, net.parameters(), twin_net.parameters()):
        torch.testing.assert_close(p0 - p1.detach(), q.grad.float(), rtol=1e-4, atol=atol)  # SGD, lr 1


def _relu4_features(classifier: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The 4th ReLU's output of the whole classifier run on images in [-1, 1] (grabbed by a hook)."""
    relus = [m for m in classifier.net.modules() if isinstance(m, nn.ReLU)]
    grabbed = []
    handle = relus[3].register_forward_hook(lambda m, i, o: grabbed.append(o))
    classifier.net((images + 1) / 2)
    handle.remove()
    return grabbed[0]


@pytest.mark.parametrize("content, weight", [("classifier", None), ("mse", 0.5)])
def test_gan_phase_g_step_descends_content_plus_weighted_adversarial_and_leaves_d_alone(content, weight):
    torch.manual_seed(0)
    options = {"pretrain_steps": 0, "content": content, **({} if weight is None else {"adversarial_weight": weight})}
    fam, batch = _family(**options), _batch()
    twin = copy.deepcopy(fam)
    g_before, d_before = _params(fam.G), _params(fam.D)
    stats = fam.g_step(batch, _sgd(fam))
    fake = twin.G(batch.inputs)
    adversarial = -torch.log(torch.sigmoid(twin.D(fake).double())).mean()  # eq. 6, the mean over the batch
    mse = (batch.images.double() - fake.double()).pow(2).mean()  # eq. 4
    if content == "classifier":  # eq. 5 on the classifier's 4th ReLU
        want = (_relu4_features(twin.content.classifier, batch.images).double()
                - _relu4_features(twin.content.classifier, fake).double()).pow(2).mean()
    else:
        want = mse
    assert stats["loss_content"].item() == pytest.approx(want.item(), rel=1e-5)
    assert stats["loss_g"].item() == pytest.approx(adversarial.item(), rel=1e-5)
    assert stats["loss_mse"].item() == pytest.approx(mse.item(), rel=1e-5)
    (want + (1e-3 if weight is None else weight) * adversarial).backward()  # eq. 3
    _assert_sgd_step_is_grad(g_before, fam.G, twin.G, atol=1e-5)
    assert all(torch.equal(p0, p1) for p0, p1 in zip(d_before, fam.D.parameters()))
    assert all(p.grad is None for p in fam.content.parameters())  # the content network stays fixed


def test_gan_phase_d_step_descends_the_ns_loss_of_real_and_generated_images():
    torch.manual_seed(0)
    fam, batch = _family(pretrain_steps=0), _batch(seed=1)
    twin = copy.deepcopy(fam)
    before = _params(fam.D)
    stats = fam.d_step(batch, _sgd(fam))
    with torch.no_grad():
        fake = twin.G(batch.inputs)
    real_out, fake_out = twin.D(batch.images).double(), twin.D(fake).double()
    by_hand = -torch.log(torch.sigmoid(real_out)).mean() - torch.log(1 - torch.sigmoid(fake_out)).mean()
    assert stats["loss_d"].item() == pytest.approx(by_hand.item(), rel=1e-5)
    by_hand.backward()
    _assert_sgd_step_is_grad(before, fam.D, twin.D)
    assert all(p.grad is None for p in fam.G.parameters())


def test_pretraining_descends_the_pixel_mse_alone():
    torch.manual_seed(0)
    fam, batch = _family(pretrain_steps=3), _batch(seed=2)
    twin = copy.deepcopy(fam)
    g_before, d_before = _params(fam.G), _params(fam.D)
    fam.step = 2
    opts = _sgd(fam)
    assert fam.d_step(batch, opts) == {}
    stats = fam.g_step(batch, opts)
    mse = (batch.images - twin.G(batch.inputs)).pow(2).mean()
    assert set(stats) == {"loss_mse"} and stats["loss_mse"].item() == pytest.approx(mse.item(), rel=1e-5)
    mse.backward()
    _assert_sgd_step_is_grad(g_before, fam.G, twin.G)
    assert all(torch.equal(p0, p1) for p0, p1 in zip(d_before, fam.D.parameters()))


def test_phases_switch_at_pretrain_steps_and_g_adam_restarts_there():
    torch.manual_seed(0)
    fam = _family(pretrain_steps=2)
    opts = fam.build_optimizers({"g": OptimConfig(lr=1e-3), "d": OptimConfig(lr=1e-3)}, build_optimizer)
    for step in range(4):
        fam.step = step
        batch, d_before = _batch(seed=10 + step), _params(fam.D)
        d_stats, g_stats = fam.d_step(batch, opts), fam.g_step(batch, opts)
        g_updates = {int(s["step"]) for s in opts["g"].state.values()}
        d_moved = not all(torch.equal(p0, p1) for p0, p1 in zip(d_before, fam.D.parameters()))
        if step < 2:
            assert d_stats == {} and set(g_stats) == {"loss_mse"} and not d_moved and not opts["d"].state
            assert g_updates == {step + 1}
        else:
            assert {"loss_d", "d_real", "d_fake"} <= set(d_stats) and d_moved
            assert set(g_stats) == {"loss_g", "loss_content", "loss_mse"}
            assert g_updates == {step - 1}  # the GAN phase's Adam counts from its own first step
            assert {int(s["step"]) for s in opts["d"].state.values()} == {step - 1}


# ---------------------------------------------------------------- pairs, grids, held-out scores

def test_latents_are_small_inputs_and_the_grid_shows_their_bicubic_upsampling():
    torch.manual_seed(0)
    fam = _family(size=12)  # 6 -> 12 px: SSIM's 11 px window fits
    targets = torch.randint(0, 256, (10, 1, 12, 12), dtype=torch.uint8)
    fam.set_sources(targets)
    assert torch.equal(fam.source_inputs, box_downscale(targets, 2))
    z = fam.sample_latent(6, torch.Generator().manual_seed(0))
    assert z.shape == (6, 36 + 144)
    x, y = fam.split(z)
    assert x.shape == (6, 1, 6, 6) and y.shape == (6, 1, 12, 12)
    shown, out, target = fam.sample_pairs(z)
    assert torch.equal(shown, bicubic_upscale(box_downscale(target, 2), (12, 12)))
    assert torch.equal(out, _u8(fam.translate(x)))
    images, row = fam.grid_images(z, None, 3)
    assert row == 3 and torch.equal(images.view(6, 3, 1, 12, 12)[:, 0], shown)
    batches = [_batch(8, seed=s, size=12) for s in (6, 7)]
    stats = fam.heldout_stats(batches)
    tgt = torch.cat([_u8(b.images) for b in batches])
    bicubic = bicubic_upscale(box_downscale(tgt, 2), (12, 12))
    assert stats["psnr_input"] == pytest.approx(paired_scores(bicubic, tgt)["psnr"])
    outputs = torch.cat([_u8(fam.translate(b.inputs)) for b in batches])
    assert stats["ssim"] == pytest.approx(paired_scores(outputs, tgt)["ssim"])


# ---------------------------------------------------------------- bad options

@pytest.mark.parametrize("change, message", [
    ({"options": {"content": "vgg"}}, "unknown SRGAN content loss 'vgg' (expected one of: classifier, mse)"),
    ({"options": {"classifier_init": ""}}, "srgan: model.options.content=classifier needs model.options."
                                           "classifier_init"),
    ({"options": {"content_layer": 9, "classifier_init": "x"}},
     "srgan: model.options.content_layer=9 is not a layer of the small-cnn classifier (expected 1..5"),
    ({"options": {"pretrain_steps": -1, "classifier_init": "x"}},
     "srgan: model.options.pretrain_steps and adversarial_weight must be >= 0"),
    ({"options": {"pretrain": 5}}, "SRGAN has no option 'pretrain'"),
    ({"generator": {"name": "unet", "width": 8, "depth": 2}}, "model.generator 'unet' does not fit family 'srgan'"),
    ({"generator": {"name": "srresnet", "scale": 3}}, "srresnet: scale must be a power of two of at least 2"),
    ({"generator": {"name": "srresnet", "scale": 8}}, "srresnet: scale 8 needs an image size divisible by 8"),
    ({"discriminator": {"name": "patchgan", "width": 8}},
     "model.discriminator 'patchgan' is a paired discriminator; family 'srgan' needs a plain one"),
])
def test_bad_configs_are_one_line_errors(change, message):
    values = {"family": "srgan", **copy.deepcopy(NETS), "options": {"classifier_init": "x"}, **change}
    with pytest.raises(GanforgeError) as info:
        FAMILIES.get("srgan")(ModelConfig(**values), NetShape(1, 12, 8, 10))
    assert "\n" not in str(info.value) and str(info.value).startswith(message), str(info.value)


def test_pix2pix_refuses_the_upsampling_generator_and_bad_classifier_files_are_named(tmp_path):
    cfg = ModelConfig(family="pix2pix", generator={"name": "srresnet", "width": 4},
                      discriminator={"name": "patchgan", "width": 8}, options={"task": "downscale:2"})
    with pytest.raises(GanforgeError, match="^model.generator 'srresnet' does not fit family 'pix2pix'"):
        FAMILIES.get("pix2pix")(cfg, NetShape(1, 8, 8, 10))
    fam = _family(classifier_init=str(tmp_path / "missing.safetensors"))
    with pytest.raises(GanforgeError, match=r"classifier_init: .*missing.safetensors is not a file"):
        fam.init_from_data(torch.zeros(1, 8, 8))


# ---------------------------------------------------------------- the loop: exact resume across the phases

def _npz_data(tmp_path) -> str:
    """64 smooth 16 px images with labels 0..9 (a tiny dataset the loop reads as npz:PATH)."""
    gen = torch.Generator().manual_seed(0)
    small = torch.rand(64, 1, 4, 4, generator=gen)
    images = F.interpolate(small, size=(16, 16), mode="bilinear", align_corners=False)
    np.savez(tmp_path / "d.npz", images=(images[:, 0] * 255).round().to(torch.uint8).numpy(),
             labels=np.arange(64) % 10)
    return f"npz:{tmp_path / 'd.npz'}"


def _random_classifier(tmp_path, size: int) -> str:
    from safetensors.torch import save_file

    from ganforge.features.classifier import build_classifier

    torch.manual_seed(123)
    save_file(build_classifier("small-cnn", 1, 10, size).state_dict(), str(tmp_path / "clf.safetensors"))
    return str(tmp_path / "clf.safetensors")


def test_resume_in_either_phase_or_at_the_boundary_is_bitwise_identical(tmp_path):
    over = {"data": _npz_data(tmp_path), "batch_size": 8, "precision": "fp32", "log_every": 1, "eval_every": 0,
            "sample_every": 1000, "ckpt_every": 1000, "grid_size": 4, "model.generator.width": 4,
            "model.generator.blocks": 1, "model.discriminator.width": 4, "model.discriminator.stages": 2,
            "model.discriminator.dense": 8, "model.options.pretrain_steps": 2,
            "model.options.classifier_init": _random_classifier(tmp_path, 16)}
    ganforge.train("srgan-fashion-x2", tmp_path / "straight", steps=4, **over)
    keys = ("model", "optim", "sampler", "rng")
    a = load_checkpoint(RunDir(tmp_path / "straight").latest_checkpoint())
    for stop in (1, 2, 3):  # inside the MSE phase, at the boundary, inside the GAN phase
        ganforge.train("srgan-fashion-x2", tmp_path / f"stop{stop}", steps=stop, **over)
        ganforge.train("srgan-fashion-x2", tmp_path / f"stop{stop}", resume=True, steps=4, **over)
        b = load_checkpoint(RunDir(tmp_path / f"stop{stop}").latest_checkpoint())
        assert b["step"] == 4
        assert_bitwise_equal({k: a[k] for k in keys}, {k: b[k] for k in keys}, f"stop{stop}")
    steps = {name: {int(s["step"]) for s in opt["state"].values()} for name, opt in a["optim"].items()}
    assert steps == {"g": {2}, "d": {2}}  # two GAN steps; G's Adam restarted at the boundary
    assert any(k.startswith("content.classifier.") for k in a["model"])  # the fixed network travels along
    log = [json.loads(line) for line in (tmp_path / "stop2" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert ["loss_d" in r for r in log] == [False, False, True, True]
    assert all(math.isfinite(r["loss_mse"]) for r in log)


# ---------------------------------------------------------------- eval reports the bicubic baseline

@needs_fashion
def test_eval_reports_psnr_ssim_beside_the_bicubic_baseline_and_the_png_holds_triplets(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from ganforge.cli import main
    from ganforge.sampling import write_samples

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    over = {**TINY, "eval_every": 0, "model.generator.width": 4, "model.generator.blocks": 1,
            "model.discriminator.width": 4, "model.discriminator.dense": 8, "model.options.pretrain_steps": 1,
            "model.options.content": "mse"}
    run = ganforge.train("srgan-fashion-x4", tmp_path / "r", steps=2, **over)
    assert main(["eval", str(run), "--metrics", "l1,psnr,ssim", "--n", "20", "--seed", "0", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    inputs, outputs, targets = ganforge.load(run).pairs(20, seed=0)
    bicubic = bicubic_upscale(box_downscale(targets, 4), (28, 28))  # 7x7 -> 28x28
    assert torch.equal(inputs, bicubic)
    want, baseline = paired_scores(outputs, targets), paired_scores(bicubic, targets)
    for name in ("l1", "psnr", "ssim"):
        assert printed[name] == pytest.approx(want[name], rel=1e-9)
        assert printed[f"{name}_input"] == pytest.approx(baseline[name], rel=1e-9)
    out = write_samples(run, 4, seed=0, out=tmp_path / "g.png")
    assert Image.open(out).size == (2 + 3 * 1 * 30, 2 + 4 * 30)  # 4 triplets, 1 a row
