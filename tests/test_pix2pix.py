"""pix2pix (Isola et al. 2017): the PatchGAN discriminator, the U-Net's dropout, the family's losses, grids,
sampling and exact resume on tiny data."""
from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import ganforge
from ganforge.config import ModelConfig, OptimConfig
from ganforge.data import load_dataset, make_inputs
from ganforge.errors import GanforgeError
from ganforge.metrics import paired_scores
from ganforge.models import FAMILIES, to_uint8
from ganforge.models.base import Batch
from ganforge.nets import DISCRIMINATORS, GENERATORS, NetShape, build_net
from ganforge.nets.patchgan import receptive_field
from ganforge.runs import RunDir
from ganforge.sampling import write_samples
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.optim import build_optimizer

from conftest import TINY, assert_bitwise_equal, needs_fashion


# ---------------------------------------------------------------- PatchGAN

def _support(grad: torch.Tensor) -> tuple[int, int, int, int]:
    """(rows, cols, first row, first col) of the bounding box of a gradient's non-zero pixels (any channel)."""
    nz = (grad.abs().sum(dim=(0, 1)) > 0).nonzero()
    (r0, c0), (r1, c1) = nz.min(0).values.tolist(), nz.max(0).values.tolist()
    assert len(nz) == (r1 - r0 + 1) * (c1 - c0 + 1), "the support is a full rectangle"
    return r1 - r0 + 1, c1 - c0 + 1, r0, c0


@pytest.mark.parametrize("layers, size, patches", [(1, 28, 12), (1, 32, 14), (2, 64, 14)])
def test_patchgan_receptive_field_is_what_the_docstring_says(layers, size, patches):
    torch.manual_seed(0)
    d = build_net(DISCRIMINATORS, "patchgan", NetShape(1, size, 8), {"width": 8, "layers": layers}).eval()
    assert d.kind == "paired"
    condition = torch.randn(1, 1, size, size, requires_grad=True)
    image = torch.randn(1, 1, size, size, requires_grad=True)
    out = d(condition, image)
    assert out.shape == (1, patches, patches) == (1, d.patches, d.patches)
    centre = patches // 2
    out[0, centre, centre].backward()  # eval mode: BatchNorm is per channel, so no pixel couples to another
    r = receptive_field(layers)
    assert r == d.receptive_field == {1: 16, 2: 34}[layers]
    for grad in (image.grad, condition.grad):  # both halves of the pair are seen through the same window
        rows, cols, r0, c0 = _support(grad)
        assert (rows, cols) == (r, r)
        # output pixel i starts at i * J - P: J = 2^layers (strides multiply), P = each layer's padding 1 times
        # the jump before it: 1 + 2 + ... + 2^(layers-1) for the stride-2 layers, 2^layers for each stride-1 one
        assert (r0, c0) == (centre * 2 ** layers - (2 ** layers - 1) - 2 * 2 ** layers,) * 2


def test_the_papers_70px_patchgan_is_three_stride_2_layers():
    assert receptive_field(3) == 70
    d = build_net(DISCRIMINATORS, "patchgan", NetShape(3, 256, 8), {"layers": 3})
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.stride[0]) for m in convs] == [
        (6, 64, 2), (64, 128, 2), (128, 256, 2), (256, 512, 1), (512, 1, 1)]  # C64-C128-C256-C512, out
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 3  # none on the first layer


def test_patchgan_judges_the_pair_not_the_image_alone():
    torch.manual_seed(0)
    d = build_net(DISCRIMINATORS, "patchgan", NetShape(1, 28, 8), {"width": 8}).eval()
    image = torch.rand(2, 1, 28, 28) * 2 - 1
    a, b = d(torch.zeros_like(image), image), d(torch.ones_like(image), image)
    assert not torch.allclose(a, b)


def test_patchgan_too_deep_for_the_image_is_a_one_line_error():
    with pytest.raises(GanforgeError, match=r"^patchgan: 3 stride-2 layers leave no patch of 16px images"):
        build_net(DISCRIMINATORS, "patchgan", NetShape(1, 16, 8), {"layers": 3})


# ---------------------------------------------------------------- the U-Net's dropout

def test_unet_dropout_is_pix2pix_noise_only_when_asked_for():
    shape = NetShape(1, 28, 8)
    torch.manual_seed(0)
    plain = build_net(GENERATORS, "unet", shape, {"width": 8})
    noisy = build_net(GENERATORS, "unet", shape, {"width": 8, "dropout": 0.5})
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())  # ModNet's U-Net is unchanged
    assert sum(isinstance(m, nn.Dropout) for m in noisy.modules()) == 2  # each decoder stage of depth 3
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    noisy.train()
    assert not torch.equal(noisy(x), noisy(x))  # dropout is the noise source in training
    noisy.eval()
    assert torch.equal(noisy(x), noisy(x))


# ---------------------------------------------------------------- the family: losses on fixed tensors

SMALL = {"generator": {"name": "unet", "width": 8, "depth": 3, "dropout": 0.5},
         "discriminator": {"name": "patchgan", "width": 8}}


def _family(task: str = "edges", channels: int = 1, **options):
    cfg = ModelConfig(family="pix2pix", **copy.deepcopy(SMALL), options={"task": task, **options})
    return FAMILIES.get("pix2pix")(cfg, NetShape(channels, 28, 8, 10))


def _batch(n: int = 6, task: str = "edges", seed: int = 0) -> Batch:
    targets = torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(seed),
                            dtype=torch.uint8)
    to_range = lambda u: u.float() / 255 * 2 - 1  # noqa: E731
    return Batch(to_range(targets), torch.zeros(n, dtype=torch.int64), to_range(make_inputs(task, targets)))


def _sgd(fam, lr: float = 1.0):
    return fam.build_optimizers({"g": OptimConfig(name="sgd", lr=lr), "d": OptimConfig(name="sgd", lr=lr)},
                                build_optimizer)


def _params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def test_d_step_descends_half_the_cgan_loss_of_real_and_fake_pairs():
    torch.manual_seed(0)
    fam, batch = _family(), _batch()
    twin = copy.deepcopy(fam)
    before = _params(fam.D)
    torch.manual_seed(1)
    stats = fam.d_step(batch, _sgd(fam))
    # by hand on the twin: the same dropout draw for G(x), then D on (x, y) and on (x, G(x))
    torch.manual_seed(1)
    with torch.no_grad():
        fake = twin.G(batch.inputs)
    real_out, fake_out = twin.D(batch.inputs, batch.images).double(), twin.D(batch.inputs, fake).double()
    by_hand = -torch.log(torch.sigmoid(real_out)).mean() - torch.log(1 - torch.sigmoid(fake_out)).mean()
    assert stats["loss_d"].item() == pytest.approx(by_hand.item(), rel=1e-5)  # logged: eq. 1, not halved
    (0.5 * by_hand).backward()  # what D descends (section 3.3)
    for p0, p1, q in zip(before, fam.D.parameters(), twin.D.parameters()):
        torch.testing.assert_close(p0 - p1.detach(), q.grad.float(), rtol=1e-4, atol=1e-6)  # SGD, lr 1
    assert all(p.grad is None for p in fam.G.parameters())  # G untouched


def test_g_step_descends_the_ns_loss_plus_100_l1_and_leaves_d_alone():
    torch.manual_seed(0)
    fam, batch = _family(), _batch(seed=2)
    twin = copy.deepcopy(fam)
    g_before, d_before = _params(fam.G), _params(fam.D)
    torch.manual_seed(3)
    stats = fam.g_step(batch, _sgd(fam))
    torch.manual_seed(3)
    fake = twin.G(batch.inputs)
    adversarial = -torch.log(torch.sigmoid(twin.D(batch.inputs, fake).double())).mean()
    l1 = (batch.images.double() - fake.double()).abs().mean()
    assert stats["loss_g"].item() == pytest.approx(adversarial.item(), rel=1e-5)
    assert stats["l1"].item() == pytest.approx(l1.item(), rel=1e-5)
    (adversarial + 100 * l1).backward()
    for p0, p1, q in zip(g_before, fam.G.parameters(), twin.G.parameters()):
        torch.testing.assert_close(p0 - p1.detach(), q.grad.float(), rtol=1e-4, atol=1e-5)  # SGD, lr 1
    assert all(torch.equal(p0, p1) for p0, p1 in zip(d_before, fam.D.parameters()))


def test_l1_weight_zero_leaves_only_the_adversarial_gradient():
    torch.manual_seed(0)
    fam, batch = _family(l1_weight=0.0), _batch(seed=4)
    twin = copy.deepcopy(fam)
    before = _params(fam.G)
    torch.manual_seed(5)
    fam.g_step(batch, _sgd(fam))
    torch.manual_seed(5)
    fake = twin.G(batch.inputs)
    F.softplus(-twin.D(batch.inputs, fake)).mean().backward()
    for p0, p1, q in zip(before, fam.G.parameters(), twin.G.parameters()):
        torch.testing.assert_close(p0 - p1.detach(), q.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("change, message", [
    ({"discriminator": {"name": "dcgan-d", "width": 8}},
     "model.discriminator 'dcgan-d' is a plain discriminator; family 'pix2pix' needs a paired one (e.g. patchgan)"),
    ({"generator": {"name": "dcgan-g", "width": 8}},
     "model.generator 'dcgan-g' does not fit family 'pix2pix' (it needs an image-to-image generator, e.g. unet)"),
    ({"loss": "wgan-gp"}, "model.loss=wgan-gp adds a gradient penalty on a one-input critic"),
    ({"options": {"task": "gray"}}, "pair task gray turns colour images into grayscale and needs 3-channel"),
    ({"options": {"task": "sketch"}}, "unknown pair task 'sketch' (expected one of: downscale, edges, gray, mask)"),
    ({"options": {"l1_weight": -1.0}}, "pix2pix: model.options.l1_weight must be >= 0 and d_scale > 0"),
    ({"options": {"lambda": 10}}, "Pix2Pix has no option 'lambda'"),
])
def test_bad_configs_are_one_line_errors(change, message):
    values = {"family": "pix2pix", **copy.deepcopy(SMALL), **change}
    with pytest.raises(GanforgeError) as info:
        FAMILIES.get("pix2pix")(ModelConfig(**values), NetShape(1, 28, 8, 10))
    assert "\n" not in str(info.value) and str(info.value).startswith(message), str(info.value)


def test_a_batch_without_inputs_is_refused():
    fam, batch = _family(), _batch()
    with pytest.raises(GanforgeError, match="pix2pix trains on \\(input, target\\) pairs"):
        fam.d_step(Batch(batch.images, batch.labels), _sgd(fam))


# ---------------------------------------------------------------- sampling, grids, held-out scores

def test_latents_are_distinct_pairs_and_the_grid_is_input_output_target():
    torch.manual_seed(0)
    fam = _family("mask:6")
    targets = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
    fam.set_sources(targets)
    assert torch.equal(fam.source_inputs, make_inputs("mask:6", targets))
    z = fam.sample_latent(10, torch.Generator().manual_seed(0))
    x, y = fam.split(z)
    as_u8 = lambda t: ((t + 1) / 2 * 255).round().to(torch.uint8)  # noqa: E731
    order = [int((targets == as_u8(y[i])).flatten(1).all(1).nonzero()) for i in range(10)]
    assert sorted(order) == list(range(10))  # a permutation: every pair once
    assert torch.equal(as_u8(x), fam.source_inputs[order])  # each input with its own target
    images, row = fam.grid_images(z[:6], None, 3)
    assert row == 3 * 1 and images.shape == (18, 1, 28, 28)  # round(sqrt(6 / 3)) = 1 triplet a row
    tiles = images.view(6, 3, 1, 28, 28)
    assert torch.equal(tiles[:, 0], as_u8(x[:6])) and torch.equal(tiles[:, 2], as_u8(y[:6]))
    out = to_uint8((fam.translate(x[:6]) + 1) / 2)
    assert torch.equal(tiles[:, 1], out)
    more = fam.sample_latent(25, torch.Generator().manual_seed(0))  # past the set's size: passes repeat it
    assert torch.equal(more[:10], z)


def test_heldout_stats_score_outputs_and_inputs_against_the_targets():
    torch.manual_seed(0)
    fam = _family("downscale:2")
    batches = [_batch(8, "downscale:2", seed=s) for s in (6, 7)]
    stats = fam.heldout_stats(batches)
    as_u8 = lambda t: to_uint8((t.clamp(-1, 1) + 1) / 2)  # noqa: E731
    targets = torch.cat([as_u8(b.images) for b in batches])
    outputs = torch.cat([as_u8(fam.translate(b.inputs)) for b in batches])
    inputs = torch.cat([as_u8(b.inputs) for b in batches])
    want = paired_scores(outputs, targets)
    assert {k: stats[k] for k in want} == pytest.approx(want)
    assert stats["psnr_input"] == pytest.approx(paired_scores(inputs, targets)["psnr"])
    assert stats["ssim_input"] > stats["ssim"]  # an untrained G is worse than the bicubic input


# ---------------------------------------------------------------- the loop: training, resume, sampling

def _over(**extra):
    """Tiny nets on TINY data; eval_every=0 since the presets' evaluation would train the dataset classifier."""
    return {**TINY, "eval_every": 0, "model.generator.width": 8, "model.discriminator.width": 8, **extra}


@needs_fashion
def test_resume_is_bitwise_identical_with_dropout_and_ema(tmp_path):
    over = _over(ema_decay=0.9)
    ganforge.train("pix2pix-fashion-sr2", tmp_path / "straight", steps=4, **over)
    ganforge.train("pix2pix-fashion-sr2", tmp_path / "halves", steps=2, **over)
    ganforge.train("pix2pix-fashion-sr2", tmp_path / "halves", resume=True, steps=4, **over)
    a, b = (load_checkpoint(RunDir(tmp_path / r).latest_checkpoint()) for r in ("straight", "halves"))
    assert a["step"] == b["step"] == 4
    assert_bitwise_equal({k: a[k] for k in ("model", "optim", "sampler", "rng")},
                         {k: b[k] for k in ("model", "optim", "sampler", "rng")})
    assert any(k.startswith("g_ema.") for k in a["model"])
    steps = {name: {int(s["step"]) for s in opt["state"].values()} for name, opt in a["optim"].items()}
    assert steps == {"g": {4}, "d": {4}}
    log = [json.loads(line) for line in (tmp_path / "halves" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(math.isfinite(r["l1"]) for r in log)


@needs_fashion
def test_the_loop_feeds_each_target_with_its_own_input(tmp_path, monkeypatch):
    from ganforge.models.pix2pix import Pix2Pix

    seen = []
    original = Pix2Pix.d_step

    def spy(self, batch, opts):
        seen.append((batch.inputs.clone(), batch.images.clone()))
        return original(self, batch, opts)

    monkeypatch.setattr(Pix2Pix, "d_step", spy)
    ganforge.train("pix2pix-fashion-edges", tmp_path / "r", steps=2, **_over())
    for inputs, targets in seen:
        as_u8 = lambda t: ((t + 1) / 2 * 255).round().to(torch.uint8)  # noqa: E731
        assert torch.equal(as_u8(inputs), make_inputs("edges:0.25", as_u8(targets)))


@needs_fashion
def test_held_out_paired_scores_are_logged_every_eval_every_steps(tmp_path):
    from ganforge.config import resolve_config
    from ganforge.training.loop import Trainer

    cfg = resolve_config("pix2pix-fashion-sr2", {**_over(), "steps": 2, "eval_every": 2})
    Trainer(cfg, tmp_path / "r").fit()  # no evaluator: only the family's held-out statistics
    records = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    scored = [r for r in records if "eval_ssim" in r]
    assert len(scored) == 1 and scored[0]["step"] == 2
    assert 0 < scored[0]["eval_ssim_input"] <= 1 and scored[0]["eval_psnr_input"] > 15  # bicubic baseline


@needs_fashion
def test_sample_translates_test_inputs_and_the_png_holds_triplets(tmp_path):
    run = ganforge.train("pix2pix-fashion-edges", tmp_path / "r", steps=1, **_over(sample_every=1))
    assert len(list((run / "samples").glob("*.png"))) == 1
    model = ganforge.load(run)
    test = load_dataset("fashion-mnist:test").images
    assert torch.equal(model.family.sources, test)
    assert torch.equal(model.family.source_inputs, make_inputs("edges:0.25", test))
    inputs, outputs, targets = model.pairs(6, seed=1)
    assert torch.equal(outputs, model.sample(6, seed=1)) and torch.equal(outputs, model.sample(6, seed=1,
                                                                                                 batch_size=2))
    assert all(bool((test == t).flatten(1).all(1).any()) for t in targets)
    out = write_samples(run, 12, seed=0, out=tmp_path / "g.png")
    assert Image.open(out).size == (2 + 3 * 2 * 30, 2 + 6 * 30)  # 12 triplets, 2 a row: 6 rows of 6 tiles
    with pytest.raises(GanforgeError, match="does not modify images to target labels"):
        model.modify(test[:2], torch.tensor([0, 1]))


@needs_fashion
@pytest.mark.parametrize("override, fragment", [
    ("model.options.task=downscale:3", "pair task downscale:3 needs an image size divisible by 3, got 28x28"),
    ("model.discriminator.layers=4", "patchgan: 4 stride-2 layers leave no patch of 28px images"),
])
def test_cli_train_bad_pix2pix_input_is_one_line_and_exit_2(tmp_path, capsys, override, fragment):
    from ganforge.cli import main

    args = [f"{k}={v}" for k, v in TINY.items()] + ["eval_every=0", override]
    assert main(["train", "pix2pix-fashion-edges", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and fragment in err, err
