"""CycleGAN (Zhu et al. 2017): its losses on fixed tensors, the image pool, the family's two updates and ablations,
the linear learning-rate decay, the residual generator, the two-domain loop (exact resume), sampling and eval."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from PIL import Image
from torch import nn

import ganforge
from ganforge.config import ModelConfig, OptimConfig, reference_data, resolve_config
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.evaluation import evaluate_run
from ganforge.evaluation.context import Context
from ganforge.evaluation.inputs import make_side
from ganforge.evaluation.registry import METRICS
from ganforge.losses.cyclegan import generator_objective, l1_distance, lsgan_d_objective, lsgan_g_loss
from ganforge.metrics import paired_scores
from ganforge.models import FAMILIES
from ganforge.models.base import Batch
from ganforge.models.image_pool import ImagePool
from ganforge.nets import GENERATORS, NetShape, build_net
from ganforge.runs import RunDir
from ganforge.sampling import write_samples
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.optim import apply_schedule, build_optimizer, linear_decay_lr, scheduled_lr

from conftest import assert_bitwise_equal, needs_fashion


# ---------------------------------------------------------------- losses on fixed tensors

def test_least_squares_losses_by_hand():
    real = torch.tensor([[1.0, 0.0], [2.0, 1.0]])  # (N=2, patches 2)
    fake = torch.tensor([[0.5, -1.0], [0.0, 1.0]])
    # G: mean (D - 1)^2 over fake = ((-0.5)^2 + (-2)^2 + (-1)^2 + 0^2) / 4 = 5.25 / 4
    assert lsgan_g_loss(fake).item() == pytest.approx(5.25 / 4)
    # D: 1/2 mean (real - 1)^2 + 1/2 mean fake^2 = 1/2 (0 + 1 + 1 + 0) / 4 + 1/2 (0.25 + 1 + 0 + 1) / 4
    assert lsgan_d_objective(real, fake).item() == pytest.approx(0.5 * 2 / 4 + 0.5 * 2.25 / 4)


def test_l1_and_the_generator_objective_by_hand():
    out = torch.tensor([[[[0.0, 1.0], [-1.0, 0.5]]]])  # (1, 1, 2, 2)
    target = torch.tensor([[[[0.5, 1.0], [1.0, -0.5]]]])
    assert l1_distance(out, target).item() == pytest.approx((0.5 + 0 + 2 + 1) / 4)
    total = generator_objective(torch.tensor(0.75), torch.tensor(0.2), torch.tensor(0.1), 10.0, 0.5)
    assert total.item() == pytest.approx(0.75 + 10 * 0.2 + 0.5 * 10 * 0.1)


# ---------------------------------------------------------------- the image pool

def _images(n: int, start: int = 0) -> torch.Tensor:
    """n distinct images (N, 1, 2, 2): image i is filled with the value start + i."""
    return torch.arange(start, start + n, dtype=torch.float32)[:, None, None, None].expand(n, 1, 2, 2).clone()


def test_pool_fills_to_50_returning_the_new_images():
    pool = ImagePool(50, seed=0)
    for k in range(6):  # 6 batches of 8: 48 images, all stored and all returned as they are
        batch = _images(8, 8 * k)
        assert torch.equal(pool.query(batch), batch)
    assert len(pool) == 48
    out = pool.query(_images(8, 48))  # 2 more fill the pool; the 6 after it may be swapped
    assert torch.equal(out[:2], _images(2, 48)) and len(pool) == 50
    stored = {float(v) for v in pool.images[:, 0, 0, 0]}
    assert stored <= set(map(float, range(56)))


def test_full_pool_returns_a_stored_image_half_the_time_and_keeps_the_new_one():
    pool = ImagePool(50, seed=1)
    pool.query(_images(50))
    swapped, total = 0, 1000
    for k in range(total):  # one image a query, so each swap can be seen in the pool
        fresh = _images(1, 1000 + k)
        before = {float(v) for v in pool.images[:, 0, 0, 0]}
        value = float(pool.query(fresh)[0, 0, 0, 0])
        after = {float(v) for v in pool.images[:, 0, 0, 0]}
        if value != 1000 + k:  # a stored image came back: it left the pool and the new one took its place
            assert value in before and after == before - {value} | {1000.0 + k}
            swapped += 1
        else:
            assert after == before
        assert len(pool) == 50
    assert 0.45 < swapped / total < 0.55  # 1000 draws of probability 1/2: 5 standard deviations is 0.079


def test_pool_is_deterministic_under_its_seed_and_resumes_from_its_state():
    a, b, c = ImagePool(5, seed=3), ImagePool(5, seed=3), ImagePool(5, seed=4)
    outs = [[p.query(_images(4, 4 * k)) for k in range(6)] for p in (a, b, c)]
    assert all(torch.equal(x, y) for x, y in zip(outs[0], outs[1]))
    assert not all(torch.equal(x, y) for x, y in zip(outs[0], outs[2]))
    resumed = ImagePool(5, seed=99)
    resumed.set_extra_state(copy.deepcopy(a.get_extra_state()))
    for k in range(6, 10):
        assert torch.equal(a.query(_images(4, 4 * k)), resumed.query(_images(4, 4 * k)))
    assert torch.equal(ImagePool(0).query(_images(3)), _images(3))  # size 0: no history


# ---------------------------------------------------------------- the family's updates

SMALL = {"generator": {"name": "resnet-g", "width": 4, "blocks": 1},
         "discriminator": {"name": "patchgan-image", "width": 4}, "loss": "lsgan"}


def _family(size: int = 16, **options):
    cfg = ModelConfig(family="cyclegan", **copy.deepcopy(SMALL), options=options)
    return FAMILIES.get("cyclegan")(cfg, NetShape(1, size, 8, 10))


def _batch(n: int = 4, size: int = 16, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    x, y = (torch.rand(n, 1, size, size, generator=gen) * 2 - 1 for _ in range(2))
    return Batch(x, torch.zeros(n, dtype=torch.int64), None, y)


def _sgd(fam):
    return fam.build_optimizers({"g": OptimConfig(name="sgd", lr=1.0), "d": OptimConfig(name="sgd", lr=1.0)},
                                build_optimizer)


def _params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def _assert_sgd_step(before, net, twin_net, atol=1e-6):
    for p0, p1, q in zip(before, net.parameters(), twin_net.parameters()):
        torch.testing.assert_close(p0 - p1.detach(), q.grad, rtol=1e-4, atol=atol)  # SGD, lr 1


def test_d_step_descends_the_halved_least_squares_loss_of_both_discriminators():
    torch.manual_seed(0)
    fam, batch = _family(), _batch()
    twin = copy.deepcopy(fam)
    before = {name: _params(getattr(fam, name)) for name in ("D_X", "D_Y")}
    g_before = _params(fam.G)
    stats = fam.d_step(batch, _sgd(fam))
    x, y = batch.images, batch.unpaired
    with torch.no_grad():
        fake_y, fake_x = twin.G(x), twin.F(y)  # the pool is not full: it returns the new fakes
    loss_y = 0.5 * ((twin.D_Y(y) - 1) ** 2).mean() + 0.5 * (twin.D_Y(fake_y) ** 2).mean()
    loss_x = 0.5 * ((twin.D_X(x) - 1) ** 2).mean() + 0.5 * (twin.D_X(fake_x) ** 2).mean()
    assert stats["loss_d_y"].item() == pytest.approx(loss_y.item(), rel=1e-5)
    assert stats["loss_d"].item() == pytest.approx((loss_x + loss_y).item(), rel=1e-5)
    (loss_x + loss_y).backward()
    for name in ("D_X", "D_Y"):
        _assert_sgd_step(before[name], getattr(fam, name), getattr(twin, name))
    assert all(torch.equal(p0, p1) for p0, p1 in zip(g_before, fam.G.parameters()))
    assert len(fam.pool_y) == len(fam.pool_x) == 4


def _by_hand(twin, x, y, cycle=(True, True), identity=0.5, adversarial=True, lam=10.0):
    """The generators' objective of eq. 3 plus the identity term, written out on the twin's networks."""
    g, f = twin.G, twin.F
    loss = torch.zeros(())
    if adversarial:
        loss = loss + ((twin.D_Y(g(x)) - 1) ** 2).mean() + ((twin.D_X(f(y)) - 1) ** 2).mean()
    if cycle[0]:
        loss = loss + lam * (f(g(x)) - x).abs().mean()
    if cycle[1]:
        loss = loss + lam * (g(f(y)) - y).abs().mean()
    if identity:
        loss = loss + identity * lam * ((g(y) - y).abs().mean() + (f(x) - x).abs().mean())
    return loss


@pytest.mark.parametrize("options, terms", [
    ({}, {"cycle": (True, True), "identity": 0.5}),
    ({"cycle": False, "identity": 0.0}, {"cycle": (False, False), "identity": 0.0}),  # "GAN alone"
    ({"cycle_direction": "forward"}, {"cycle": (True, False), "identity": 0.5}),  # "GAN + forward cycle"
    ({"cycle_direction": "backward", "lambda_cycle": 3.0}, {"cycle": (False, True), "identity": 0.5, "lam": 3.0}),
])
def test_g_step_descends_the_objective_in_use_and_leaves_the_discriminators_alone(options, terms):
    torch.manual_seed(0)
    fam, batch = _family(**options), _batch(seed=1)
    twin = copy.deepcopy(fam)
    before = {name: _params(getattr(fam, name)) for name in ("G", "F", "D_X", "D_Y")}
    stats = fam.g_step(batch, _sgd(fam))
    loss = _by_hand(twin, batch.images, batch.unpaired, **terms)
    assert stats["loss_g"].item() == pytest.approx(loss.item(), rel=1e-5)
    assert ("cycle_x" in stats, "cycle_y" in stats) == terms["cycle"]
    loss.backward()
    for name in ("G", "F"):
        _assert_sgd_step(before[name], getattr(fam, name), getattr(twin, name), atol=1e-5)
    for name in ("D_X", "D_Y"):
        assert all(torch.equal(p0, p1) for p0, p1 in zip(before[name], getattr(fam, name).parameters()))
        assert all(p.requires_grad for p in getattr(fam, name).parameters())  # held only during the update


def test_cycle_alone_trains_no_discriminator():
    torch.manual_seed(0)
    fam, batch = _family(adversarial=False, identity=0.0), _batch(seed=2)
    twin = copy.deepcopy(fam)
    d_before = _params(fam.D_Y)
    assert fam.d_step(batch, _sgd(fam)) == {}
    assert all(torch.equal(p0, p1) for p0, p1 in zip(d_before, fam.D_Y.parameters()))
    stats = fam.g_step(batch, _sgd(fam))
    by_hand = _by_hand(twin, batch.images, batch.unpaired, identity=0.0, adversarial=False)
    assert stats["loss_g"].item() == pytest.approx(by_hand.item(), rel=1e-5) and "loss_g_adv_g" not in stats


@pytest.mark.parametrize("change, message", [
    ({"loss": "ns"}, "model.loss=ns: family 'cyclegan' trains with its paper's least-squares loss"),
    ({"discriminator": {"name": "patchgan", "width": 4}},
     "model.discriminator 'patchgan' is a paired discriminator; family 'cyclegan' needs one judging a single"),
    ({"generator": {"name": "dcgan-g", "width": 4}},
     "model.generator 'dcgan-g' does not fit family 'cyclegan' (it needs an image-to-image generator"),
    ({"options": {"cycle_direction": "sideways"}}, "cyclegan: model.options.cycle_direction='sideways' is not one"),
    ({"options": {"adversarial": False, "cycle": False}}, "cyclegan: model.options.adversarial=false without a"),
    ({"options": {"pool_size": -1}}, "cyclegan: model.options.lambda_cycle, identity and pool_size must be >= 0"),
    ({"options": {"lambda": 10}}, "CycleGAN has no option 'lambda'"),
    ({"spectral_norm": True}, "model.spectral_norm=True is not used by family 'cyclegan'"),
])
def test_bad_configs_are_one_line_errors(change, message):
    values = {"family": "cyclegan", **copy.deepcopy(SMALL), **change}
    with pytest.raises(GanforgeError) as info:
        FAMILIES.get("cyclegan")(ModelConfig(**values), NetShape(1, 28, 8, 10))
    assert "\n" not in str(info.value) and str(info.value).startswith(message), str(info.value)


def test_ema_and_a_batch_without_the_second_domain_are_refused():
    fam, batch = _family(), _batch()
    with pytest.raises(GanforgeError, match="^family 'cyclegan' keeps no EMA"):
        fam.enable_ema(0.999)
    with pytest.raises(GanforgeError, match="cyclegan trains on batches of two domains"):
        fam.d_step(Batch(batch.images, batch.labels), _sgd(fam))


def test_grid_is_sextets_of_both_cycles_from_distinct_sources():
    torch.manual_seed(0)
    fam = _family()
    xs = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8)
    ys = torch.randint(0, 256, (9, 1, 16, 16), dtype=torch.uint8)
    fam.set_sources(xs)
    fam.set_unpaired_sources(ys)
    z = fam.sample_latent(6, torch.Generator().manual_seed(0))
    tiles, row = fam.grid_images(z, None, 0)
    assert row == 6 and tiles.shape == (36, 1, 16, 16)  # round(sqrt(6 / 6)) = 1 sextet a row
    tiles = tiles.view(6, 6, 1, 16, 16)
    order = [int((xs == t).flatten(1).all(1).nonzero()) for t in tiles[:, 0]]
    assert sorted(order) == list(range(6))  # every image of X once
    assert all(bool((ys == t).flatten(1).all(1).any()) for t in tiles[:, 3])
    x = fam.split(z)[0]
    as_u8 = lambda t: ((t.clamp(-1, 1) + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)  # noqa: E731
    with torch.no_grad():
        fam.eval()
        assert torch.equal(tiles[:, 1], as_u8(fam.G(x)))
        assert torch.equal(tiles[:, 2], as_u8(fam.F(fam.G(x).clamp(-1, 1))))


# ---------------------------------------------------------------- the linear learning-rate decay

def test_linear_decay_holds_then_falls_to_zero_over_the_second_half():
    cfg = OptimConfig(lr=2e-4, lr_schedule="linear", lr_hold=0.5)
    lrs = [linear_decay_lr(cfg, t, 10) for t in range(11)]
    assert lrs[:6] == [2e-4] * 5 + [pytest.approx(2e-4 * 5 / 6)]  # hold 5 updates, then (10 - t) / 6
    assert lrs[9] == pytest.approx(2e-4 / 6) and lrs[10] == 0.0  # the last update still moves
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:]))
    floor = OptimConfig(lr=1.0, lr_schedule="linear", lr_hold=0.0, lr_min=0.1)
    assert linear_decay_lr(floor, 0, 4) == pytest.approx(0.1 + 0.9 * 4 / 5)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    assert apply_schedule(opt, cfg, 7, 0.0, 10) == opt.param_groups[0]["lr"] == pytest.approx(2e-4 * 3 / 6)
    assert apply_schedule(opt, OptimConfig(lr=0.1, lr_decay=2.0), 3, 0.0, 10) == scheduled_lr(
        OptimConfig(lr=0.1, lr_decay=2.0), 3) == pytest.approx(0.1 / 8)


def test_schedule_options_are_validated():
    with pytest.raises(GanforgeError, match=r"^config g_opt.lr_hold must be in \[0, 1\], got 1.5$"):
        resolve_config("cyclegan-fashion-shoes", {"g_opt.lr_hold": 1.5})
    cfg = resolve_config("cyclegan-fashion-shoes")
    assert (cfg.g_opt.lr_schedule, cfg.d_opt.lr_hold, cfg.g_opt.lr, cfg.g_opt.betas) == ("linear", 0.5, 2e-4,
                                                                                         (0.5, 0.999))
    assert reference_data(cfg) == "fashion-mnist:train[class=5]" == cfg.data_target
    assert cfg.model.options["lambda_cycle"] == 10.0 and cfg.model.options["pool_size"] == 50


# ---------------------------------------------------------------- the residual generator

def test_resnet_generator_is_the_papers_layout_at_28px():
    g = build_net(GENERATORS, "resnet-g", NetShape(1, 28, 8), {"width": 8, "blocks": 3})
    convs = [m for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs] == [
        (1, 8, 7, 1), (8, 16, 3, 2), (16, 32, 3, 2), *[(32, 32, 3, 1)] * 6, (32, 16, 3, 2), (16, 8, 3, 2), (8, 1, 7, 1)]
    # c7s1, two d, two u and two in each residual block; none on the output layer
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in g.modules()) == 5 + 2 * 3
    seen = []
    for block in g.net:
        if type(block).__name__ == "ResidualBlock":
            block.register_forward_hook(lambda m, i, o: seen.append((i[0].shape, o.shape)))
    g(torch.rand(2, 1, 28, 28) * 2 - 1)
    assert seen == [((2, 32, 7, 7), (2, 32, 7, 7))] * 3  # residual blocks work on 7 x 7 maps
    with pytest.raises(GanforgeError, match="resnet-g: two stride-2 layers need an image size divisible by 4"):
        build_net(GENERATORS, "resnet-g", NetShape(1, 30, 8), {})


# ---------------------------------------------------------------- the loop: two domains, resume, sampling, eval

X_SPEC, Y_SPEC = "fashion-mnist:train[class=7][:48]", "fashion-mnist:train[class=5][:40]"
TINY = {"data": X_SPEC, "data_target": Y_SPEC, "image_size": 16, "batch_size": 4, "precision": "fp32",
        "log_every": 1, "sample_every": 1000, "ckpt_every": 1000, "grid_size": 6, "eval_every": 0,
        "model.generator.width": 4, "model.generator.blocks": 1, "model.discriminator.width": 4,
        "model.options.pool_size": 6}


@needs_fashion
def test_resume_is_bitwise_identical_with_pools_and_the_second_data_order(tmp_path):
    """A 4-step run with a checkpoint at step 2, and a copy of it resumed from that checkpoint (the linear decay is
    laid out over ``steps``, so both halves must belong to a 4-step run)."""
    import shutil

    over = {**TINY, "steps": 4, "ckpt_every": 2}
    ganforge.train("cyclegan-fashion-shoes", tmp_path / "straight", **over)
    shutil.copytree(tmp_path / "straight", tmp_path / "halves")
    RunDir(tmp_path / "halves").checkpoint_at(4).unlink()
    ganforge.train("cyclegan-fashion-shoes", tmp_path / "halves", resume=True, **over)
    a, b = (load_checkpoint(RunDir(tmp_path / r).latest_checkpoint()) for r in ("straight", "halves"))
    keys = ("model", "optim", "sampler", "target_sampler", "rng")
    assert a["step"] == b["step"] == 4
    assert_bitwise_equal({k: a[k] for k in keys}, {k: b[k] for k in keys})
    assert {k.split(".")[0] for k in a["model"]} == {"G", "F", "D_X", "D_Y", "pool_x", "pool_y"}
    assert len(a["model"]["pool_y._extra_state"]["images"]) == 6  # 16 fakes went through a pool of 6
    assert a["target_sampler"]["perm"].shape == (40,) and a["sampler"]["perm"].shape == (48,)
    log = [json.loads(line) for line in (tmp_path / "halves" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    # linear decay over 4 steps with hold 0.5: 2 updates at 2e-4, then (4 - t) / 3 of it
    assert [r["lr_g"] for r in log] == pytest.approx([2e-4, 2e-4, 2e-4 * 2 / 3, 2e-4 / 3])


@needs_fashion
def test_the_loop_feeds_a_batch_of_each_domain(tmp_path, monkeypatch):
    from ganforge.models.cyclegan import CycleGAN

    seen = []
    original = CycleGAN.d_step

    def spy(self, batch, opts):
        seen.append((batch.images.clone(), batch.unpaired.clone()))
        return original(self, batch, opts)

    monkeypatch.setattr(CycleGAN, "d_step", spy)
    ganforge.train("cyclegan-fashion-shoes", tmp_path / "r", **{**TINY, "steps": 2, "image_size": 28})
    xs, ys = (load_dataset(spec).images for spec in (X_SPEC, Y_SPEC))
    as_u8 = lambda t: ((t + 1) / 2 * 255).round().to(torch.uint8)  # noqa: E731
    for x, y in seen:
        assert x.shape == y.shape == (4, 1, 28, 28)
        assert all(bool((xs == img).flatten(1).all(1).any()) for img in as_u8(x))
        assert all(bool((ys == img).flatten(1).all(1).any()) for img in as_u8(y))


@needs_fashion
def test_data_target_is_required_by_cyclegan_and_refused_elsewhere(tmp_path):
    from ganforge.training.loop import Trainer

    with pytest.raises(GanforgeError, match="^family 'cyclegan' translates between data and a second image set"):
        Trainer(resolve_config("cyclegan-fashion-shoes", {**TINY, "data_target": ""}), tmp_path / "a")
    with pytest.raises(GanforgeError, match=r"^data_target='mnist-5k:train' is only read by unpaired"):
        Trainer(resolve_config("quickstart", {"data": X_SPEC, "batch_size": 4, "data_target": "mnist-5k:train"}),
                tmp_path / "b")
    with pytest.raises(GanforgeError, match="^config g_opt.lr_schedule: unknown learning-rate schedule 'cosine'"):
        Trainer(resolve_config("cyclegan-fashion-shoes", {**TINY, "g_opt.lr_schedule": "cosine"}), tmp_path / "c")


@needs_fashion
def test_sampling_and_eval_translate_the_test_split_into_the_target_domain(tmp_path):
    run = ganforge.train("cyclegan-fashion-shoes", tmp_path / "r", **{**TINY, "steps": 1, "image_size": 28})
    model = ganforge.load(run)
    assert torch.equal(model.family.sources["x"], load_dataset("fashion-mnist:test[class=7]").images)
    assert torch.equal(model.family.sources["y"], load_dataset("fashion-mnist:test[class=5]").images)
    x, translated, reconstructed = model.translations(8, seed=2)
    assert torch.equal(translated, model.sample(8, seed=2)) and torch.equal(translated, model.sample(8, seed=2,
                                                                                                     batch_size=3))
    assert torch.equal(torch.stack(model.cycles(8, seed=2)[:3]), torch.stack((x, translated, reconstructed)))
    out = write_samples(run, 8, seed=0, out=tmp_path / "g.png")
    assert Image.open(out).size == (2 + 6 * 30, 2 + 8 * 30)  # 8 sextets, round(sqrt(8 / 6)) = 1 a row
    result, record = evaluate_run(run, ["cycle"], features="pixels", n=8, seed=2)
    want = paired_scores(reconstructed, x)
    assert {k: result[f"cycle_{k}"] for k in want} == pytest.approx(want)
    assert result["protocol"]["inputs"][0] == "fashion-mnist:test[class=5]"  # the target domain's test split
    assert "target class 5" in result["protocol"]["kinds"][1] and record.is_file()


def test_target_class_share_is_the_share_of_translations_classified_as_the_target():
    logits = torch.tensor([[0.0, 3.0], [2.0, 1.0], [0.5, 0.6], [1.0, 0.0], [-1.0, 2.0]]).numpy()  # argmax 1,0,1,0,1
    side = make_side("run", torch.zeros(5, 1, 2, 2, dtype=torch.uint8), "run", labels=torch.ones(5, dtype=torch.int64))
    ctx = Context("fashion-mnist:test[class=1]", None, None, 0, side)
    assert METRICS.get("target-class").fn(logits, logits, ctx) == {"target_class": pytest.approx(3 / 5)}
    assert METRICS.get("target-class").needs_logits and METRICS.get("cycle").needs_cycles


@needs_fashion
def test_eval_direction_yx_scores_f_on_the_target_domain_against_domain_x(tmp_path, capsys):
    import numpy as np

    from ganforge.cli import main
    from ganforge.evaluation import score
    from ganforge.evaluation.inputs import load_side

    run = ganforge.train("cyclegan-fashion-shoes", tmp_path / "r", **{**TINY, "steps": 1, "image_size": 28})
    model = ganforge.load(run)
    y, translated, reconstructed = model.translations(8, seed=2, direction="yx")
    assert all(torch.equal(a, b) for a, b in zip((y, translated, reconstructed), model.cycles(8, seed=2)[3:]))
    test_y = load_dataset("fashion-mnist:test[class=5]").images
    assert all(bool((test_y == img).flatten(1).all(1).any()) for img in y)  # sandals, through F
    side = load_side(str(run), 8, 2, direction="yx")
    assert torch.equal(side.images, translated) and side.labels.tolist() == [7] * 8  # X's class: sneakers
    result, record = evaluate_run(run, ["cycle", "fid"], features="pixels", n=8, seed=2, direction="yx")
    want = paired_scores(reconstructed, y)  # G(F(y)) against y
    assert {k: result[f"cycle_{k}_yx"] for k in want} == pytest.approx(want)
    assert result["protocol"]["inputs"][0] == "fashion-mnist:test[class=7]"  # domain X's test split
    assert "F: Y -> X" in result["protocol"]["kinds"][1] and "target class 7" in result["protocol"]["kinds"][1]
    assert result["protocol"]["direction"].startswith("yx: ")
    np.savez(tmp_path / "fy.npz", images=translated.permute(0, 2, 3, 1).numpy())  # F(y) scored as a plain set
    plain = score("fashion-mnist:test[class=7]", str(tmp_path / "fy.npz"), ["fid"], "pixels", n=8, seed=2)
    assert result["fid_yx"] == pytest.approx(plain["fid"])
    assert record.name == "step-0000001-yx.json" and "fid" not in json.loads(record.read_text())
    forward, forward_record = evaluate_run(run, ["cycle"], features="pixels", n=8, seed=2)
    assert forward_record.name == "step-0000001.json" and record.is_file()  # both directions are kept
    assert "cycle_l1" in forward and "cycle_l1_yx" not in forward
    capsys.readouterr()
    argv = ["eval", str(run), "--direction", "yx", "--metrics", "cycle", "--features", "pixels", "--n", "8"]
    assert main([*argv, "--seed", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cycle_l1_yx"] == pytest.approx(want["l1"])
    assert main([*argv, "--every-checkpoint"]) == 2
    assert "--direction yx scores one checkpoint" in capsys.readouterr().err


def test_direction_yx_of_an_image_set_is_a_one_line_error():
    from ganforge.evaluation.inputs import load_side

    with pytest.raises(GanforgeError, match=r"^--direction yx scores the reverse translator F: Y -> X of an "
                                            r"unpaired run \(e.g. cyclegan\); fashion-mnist:test is not one$"):
        load_side("fashion-mnist:test", 8, 0, direction="yx")
