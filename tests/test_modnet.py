"""ModNet (Basart 2017, "Analysis of Generative Adversarial Models", chapter 2): the U-Net delta generator, its
bounds, the two critics, the losses of eq. 2.3-2.7, g_steps in the loop and exact resume, on tiny data."""
from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

import ganforge
from ganforge.config import ModelConfig, OptimConfig
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.features.classifier import SmallCNN
from ganforge.losses.modnet import alternative_d_loss, l1_average, l1_sum, label_loss
from ganforge.models import FAMILIES
from ganforge.models.base import Batch
from ganforge.nets import GENERATORS, NetShape
from ganforge.nets.delta import clip_bound, renorm_bound
from ganforge.nets.unet import UNetGenerator
from ganforge.runs import RunDir
from ganforge.sampling import write_samples
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.optim import build_optimizer

from conftest import TINY, assert_bitwise_equal, needs_fashion

SMALL_G = {"name": "unet", "width": 8, "depth": 3}


def _family(channels: int = 1, size: int = 28, critic: str = "shared", **options):
    shape = NetShape(channels, size, 8, 10)
    d = {"name": "acgan-d" if critic == "shared" else "dcgan-d", "width": 8}
    cfg = ModelConfig(family="modnet", generator=dict(SMALL_G), discriminator=d,
                      options={"critic": critic, **options})
    return FAMILIES.get("modnet")(cfg, shape)


def _images(n: int, channels: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _optimizers(fam):
    return fam.build_optimizers({"g": OptimConfig(lr=1e-3), "d": OptimConfig(lr=1e-3)}, build_optimizer)


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("critic", ["shared", "separate"])
def test_generator_and_critic_shapes(size, channels, critic):
    fam = _family(channels, size, critic)
    x = _images(5, channels, size)
    y = torch.arange(5)
    result, delta = fam.G.modify(x, y)
    assert result.shape == delta.shape == x.shape
    logit, classes = fam.D(x)
    assert logit.shape == (5,) and classes.shape == (5, 10)


@pytest.mark.parametrize("inject", ["input", "bottleneck", "both"])
@pytest.mark.parametrize("size", [28, 32])
def test_unet_label_injection_makes_the_output_depend_on_the_label(inject, size):
    torch.manual_seed(0)
    net = GENERATORS.get("unet")(NetShape(1, size, 8, 10), UNetGenerator.Args(width=8, label_inject=inject))
    net.eval()
    x = _images(2, 1, size).repeat(2, 1, 1, 1)
    out = net(x, torch.tensor([0, 0, 3, 3]))
    assert out.shape == (4, 1, size, size) and out.abs().max() <= 1
    assert not torch.allclose(out[:2], out[2:])  # same images, other labels: other outputs


def test_unet_refuses_a_depth_its_images_cannot_hold():
    with pytest.raises(GanforgeError, match=r"^unet: depth 5 is too deep for 28px images"):
        GENERATORS.get("unet")(NetShape(1, 28, 8, 10), UNetGenerator.Args(width=8, depth=5))


# ---------------------------------------------------------------- bounds and the zero delta

def test_clip_and_renorm_do_what_they_say_on_hand_examples():
    y = torch.tensor([[[[-3.0, 1.0]]], [[[0.5, 1.5]]], [[[-0.5, 0.25]]]])  # (3, 1, 1, 2)
    torch.testing.assert_close(clip_bound(y), torch.tensor([[[[-1.0, 1.0]]], [[[0.5, 1.0]]], [[[-0.5, 0.25]]]]))
    # range 4 -> scale 1/2 -> [-1.5, 0.5] -> shift +1/2; range 1 fits -> shift -1/2; inside -> unchanged
    torch.testing.assert_close(renorm_bound(y), torch.tensor([[[[-1.0, 1.0]]], [[[0.0, 1.0]]], [[[-0.5, 0.25]]]]))


@pytest.mark.parametrize("bound", ["clip", "renorm"])
def test_both_bounds_keep_the_result_in_range_and_apply_the_delta(bound):
    fam = _family(bound=bound)
    with torch.no_grad():  # a large delta, so that x + delta leaves [-1, 1]
        fam.G.net.net.out.bias.fill_(0.9)
    x = _images(6)
    result, delta = fam.G.modify(x, torch.arange(6))
    assert result.min() >= -1 and result.max() <= 1
    assert (x + delta).max() > 1  # the bound had work to do
    expected = (x + delta).clamp(-1, 1) if bound == "clip" else renorm_bound(x + delta)
    torch.testing.assert_close(result, expected)
    if bound == "renorm":  # an affine map per image: result = a (x + delta) + b with 0 < a <= 1
        for r, v in zip(result.flatten(1), (x + delta).flatten(1)):
            a = (r.max() - r.min()) / (v.max() - v.min())
            assert 0 < a <= 1 + 1e-6
            torch.testing.assert_close(r, a * v + (r[0] - a * v[0]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bound", ["clip", "renorm"])
def test_zero_delta_starts_as_the_identity(bound):
    fam = _family(bound=bound, zero_delta=True)
    x = _images(8)
    assert torch.equal(fam.G(x, torch.arange(8) % 10), x)
    result, delta = fam.modify(x, torch.arange(8) % 10, use_ema=False)
    assert torch.equal(result, x) and torch.equal(delta, torch.zeros_like(x))
    assert not torch.equal(_family(bound=bound).G(x, torch.arange(8) % 10), x)  # without it, it is not


# ---------------------------------------------------------------- losses

def test_label_loss_matches_an_independent_cross_entropy():
    logits = torch.randn(7, 10, generator=torch.Generator().manual_seed(1)) * 3
    labels = torch.tensor([0, 3, 9, 2, 2, 5, 1])
    z = logits.double()
    by_hand = -(z[torch.arange(7), labels] - z.exp().sum(1).log()).mean()  # -y log softmax, batch mean
    torch.testing.assert_close(label_loss(logits, labels).double(), by_hand, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("d_label_fakes,d_fake_label", [(True, "target"), (False, "target"), (True, "source")])
def test_d_step_label_loss_is_eq_2_5_its_real_term_or_source_labels(d_label_fakes, d_fake_label):
    """Real images scored with their own label y, modifications with their target y_t (not y_t twice, as the
    algorithm box has it); the real term alone with ``d_label_fakes=false``; modifications with their source
    label y with ``d_fake_label=source``."""
    torch.manual_seed(0)
    fam = _family(d_label_fakes=d_label_fakes, d_fake_label=d_fake_label)
    before = copy.deepcopy(fam)
    x, y = _images(12), torch.arange(12) % 10
    state = torch.get_rng_state()
    stats = fam.d_step(Batch(x, y), _optimizers(fam))
    torch.set_rng_state(state)
    y_t = (y + torch.randint(1, 10, y.shape)) % 10  # the draw target_labels makes
    with torch.no_grad():
        fake = before.G(x, y_t)
        fake_term = F.cross_entropy(before.D(fake)[1], y_t if d_fake_label == "target" else y)
        expected = F.cross_entropy(before.D(x)[1], y) + (fake_term if d_label_fakes else 0)
    assert fake_term > 0.1
    torch.testing.assert_close(stats["loss_label_d"], expected, rtol=1e-5, atol=1e-6)


def test_alternative_d_form_is_section_2_2s():
    real, fake = torch.tensor([0.3, -1.0]), torch.tensor([2.0, -0.5])
    by_hand = (-torch.log(torch.sigmoid(real)) + torch.log(torch.sigmoid(fake))).mean()
    torch.testing.assert_close(alternative_d_loss(real, fake), by_hand)


def test_l1_penalties_and_their_gradient_by_hand():
    x = _images(3, 1, 4)
    r = _images(3, 1, 4, seed=5).requires_grad_(True)
    torch.testing.assert_close(l1_sum(x, r), (x - r).abs().sum() / 3)
    (grad,) = torch.autograd.grad(l1_sum(x, r), r)
    torch.testing.assert_close(grad, torch.sign(r - x).detach() / 3)
    (grad,) = torch.autograd.grad(l1_average(x, r), r)
    torch.testing.assert_close(grad, torch.sign(r - x).detach() / x.numel())


def test_l1_term_gradient_through_the_generator_matches_a_hand_computation():
    """d/db of lambda * mean_i ||x_i - clip(x_i + tanh(u_i))||_1 for the bias b of the delta's last layer:
    lambda / N * sum over pixels of sign(r - x) * 1[|x + delta| < 1] * (1 - tanh(u)^2)."""
    torch.manual_seed(3)
    fam = _family(l1_weight=0.01)
    fam.eval()
    x, y = _images(4), torch.arange(4)
    seen = {}
    fam.G.net.net.out.register_forward_hook(lambda m, i, o: seen.update(u=o.detach()))
    result = fam.G(x, y)
    loss = fam.args.l1_weight * fam.l1(x, result)
    (grad,) = torch.autograd.grad(loss, fam.G.net.net.out.bias)
    delta = torch.tanh(seen["u"])
    inside = ((x + delta).abs() < 1).double()
    by_hand = 0.01 / 4 * (torch.sign(result.detach() - x).double() * inside * (1 - delta.double() ** 2)).sum()
    assert inside.mean() > 0.5 and by_hand.abs() > 0
    torch.testing.assert_close(grad.double().reshape(()), by_hand, rtol=1e-4, atol=1e-8)


def _g_update(label_weight: float) -> torch.Tensor:
    """The change of G's parameters after one g_step with plain SGD (lr 1): minus the gradient of G's loss."""
    torch.manual_seed(0)
    fam = _family(label_weight=label_weight)
    opts = {"g": torch.optim.SGD(fam.G.parameters(), lr=1.0)}
    before = torch.nn.utils.parameters_to_vector(fam.G.parameters()).detach().clone()
    torch.manual_seed(1)  # the same target labels for every weight
    fam.g_step(Batch(_images(6, seed=2), torch.arange(6)), opts)
    return torch.nn.utils.parameters_to_vector(fam.G.parameters()).detach() - before


def test_label_weight_scales_only_the_label_term_of_the_generator_loss():
    """G's loss is L_G + w L_label + lambda L1: its gradient is affine in w, with the label term's gradient
    (computed here on the same forward pass) as the slope."""
    steps = {w: _g_update(w) for w in (0.0, 1.0, 3.0)}
    slope = steps[1.0] - steps[0.0]
    assert slope.abs().max() > 1e-6
    torch.testing.assert_close(steps[3.0] - steps[0.0], 3 * slope, rtol=1e-3, atol=1e-6)
    torch.manual_seed(0)
    fam = _family(label_weight=1.0)
    torch.manual_seed(1)
    x, y = _images(6, seed=2), torch.arange(6)
    y_t = fam.target_labels(y)
    label_grad = torch.autograd.grad(label_loss(fam.D(fam.G(x, y_t))[1], y_t), list(fam.G.parameters()),
                                     allow_unused=True)
    by_hand = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                         for g, p in zip(label_grad, fam.G.parameters())])
    torch.testing.assert_close(slope, -by_hand, rtol=1e-3, atol=1e-6)
    with pytest.raises(GanforgeError, match="label_weight must be >= 0"):
        _family(label_weight=-1.0)


def test_unknown_d_fake_label_is_a_one_line_error():
    with pytest.raises(GanforgeError, match="d_fake_label must be target or source, got 'both'"):
        _family(d_fake_label="both")


# ---------------------------------------------------------------- targets

def test_targets_differ_from_the_source_unless_allowed():
    torch.manual_seed(0)
    y = torch.arange(5000) % 10
    y_t = _family().target_labels(y)
    assert (y_t != y).all()
    counts = torch.bincount(y_t[y == 4], minlength=10)
    assert counts[4] == 0 and counts.min() == 0 and (counts[counts > 0] > 40).all()  # the other 9 all drawn
    assert (_family(allow_same_target=True).target_labels(y) == y).any()


# ---------------------------------------------------------------- the frozen classifier

def _classifier_file(tmp_path, channels: int = 1) -> tuple:
    torch.manual_seed(11)
    net = SmallCNN(channels, 10)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "clf.safetensors"
    save_file(net.state_dict(), str(path))
    return path, {k: v.clone() for k, v in net.state_dict().items()}


def test_frozen_classifier_never_changes_while_g_and_d_do(tmp_path):
    path, saved = _classifier_file(tmp_path)
    torch.manual_seed(0)
    fam = _family(critic="separate", classifier_init=str(path), freeze_classifier=True)
    fam.init_from_data(torch.zeros(1, 28, 28))
    clf = {k: v.clone() for k, v in fam.D.classifier.net.state_dict().items()}
    assert_bitwise_equal(clf, saved)  # loaded from the file
    g0 = {k: v.clone() for k, v in fam.G.state_dict().items()}
    d0 = {k: v.clone() for k, v in fam.D.d.state_dict().items()}
    opts = _optimizers(fam)
    fam.train()
    for i in range(3):
        batch = Batch(_images(8, seed=i), torch.arange(8) % 10)
        fam.d_step(batch, opts)
        fam.g_step(batch, opts)
    assert_bitwise_equal(fam.D.classifier.net.state_dict(), clf)  # weights and BN statistics
    assert all(p.grad is None for p in fam.D.classifier.parameters())
    assert not fam.D.classifier.training
    assert any(not torch.equal(v, fam.G.state_dict()[k]) for k, v in g0.items())
    assert any(not torch.equal(v, fam.D.d.state_dict()[k]) for k, v in d0.items())


def test_weight_clipping_leaves_a_frozen_classifier_alone(tmp_path):
    path, saved = _classifier_file(tmp_path)
    shape = NetShape(1, 28, 8, 10)
    cfg = ModelConfig(family="modnet", generator=dict(SMALL_G), discriminator={"name": "dcgan-d", "width": 8},
                      loss="wgan", loss_options={"clip": 0.001},
                      options={"critic": "separate", "classifier_init": str(path), "freeze_classifier": True})
    fam = FAMILIES.get("modnet")(cfg, shape)
    fam.init_from_data(torch.zeros(1, 28, 28))
    fam.d_step(Batch(_images(8), torch.arange(8)), _optimizers(fam))
    assert_bitwise_equal(fam.D.classifier.net.state_dict(), saved)
    assert max(p.abs().max().item() for p in fam.D.d.parameters()) <= 0.001 + 1e-9  # the real/fake D was clipped


def test_a_trained_classifier_moves_when_not_frozen(tmp_path):
    path, saved = _classifier_file(tmp_path)
    fam = _family(critic="separate", classifier_init=str(path))
    fam.init_from_data(torch.zeros(1, 28, 28))
    opts = _optimizers(fam)
    fam.d_step(Batch(_images(8), torch.arange(8)), opts)
    assert any(not torch.equal(v, fam.D.classifier.net.state_dict()[k]) for k, v in saved.items())


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("change, message", [
    ({"generator": {"name": "lucic-g"}}, r"^model.generator 'lucic-g' does not fit family 'modnet'"),
    ({"discriminator": {"name": "dcgan-d", "width": 8}},
     r"^model.discriminator 'dcgan-d' is a plain discriminator; model.options.critic=shared needs an? auxiliary"),
    ({"options": {"bound": "squash"}}, r"^unknown bound 'squash' \(expected one of: clip, renorm\)$"),
    ({"options": {"critic": "both"}}, r"^unknown ModNet critic 'both'"),
    ({"options": {"critic": "separate", "freeze_classifier": True}},
     r"^model.options.freeze_classifier=true needs model.options.classifier_init"),
    ({"options": {"l1_scaling": "median"}}, r"^unknown L1 scaling 'median'"),
    ({"options": {"d_form": "alternative"}, "loss": "wgan"}, r"^model.options.d_form=alternative .* got 'wgan'$"),
    ({"options": {"lambda": 1.0}}, r"^ModNet has no option 'lambda'"),
    ({"options": {"l1_weight": "big"}}, r"^config ModNet.l1_weight must be float, got 'big'$"),
    ({"options": {"classifier_init": "dataset:fashion-mnist"}},
     r"^model.options.classifier_init needs model.options.critic=separate"),
])
def test_bad_configs_are_one_line_errors(change, message):
    base = {"family": "modnet", "generator": dict(SMALL_G), "discriminator": {"name": "acgan-d", "width": 8}}
    with pytest.raises(GanforgeError, match=message) as info:
        FAMILIES.get("modnet")(ModelConfig(**{**base, **change}), NetShape(1, 28, 8, 10))
    assert "\n" not in str(info.value)


def test_bad_classifier_file_and_missing_sources_are_one_line_errors(tmp_path):
    fam = _family(critic="separate", classifier_init=str(tmp_path / "none.safetensors"))
    with pytest.raises(GanforgeError, match=r"none.safetensors is not a file"):
        fam.init_from_data(torch.zeros(1, 28, 28))
    path, _ = _classifier_file(tmp_path, channels=3)
    with pytest.raises(GanforgeError, match=r"does not fit a small-cnn 10-class classifier of these images$"):
        _family(critic="separate", classifier_init=str(path)).init_from_data(torch.zeros(1, 28, 28))
    with pytest.raises(GanforgeError, match=r"^modnet modifies source images and none are set"):
        fam.sample_latent(3)
    with pytest.raises(GanforgeError, match=r"^modnet source images must be uint8 \(M, 1, 28, 28\)"):
        fam.set_sources(torch.zeros(4, 3, 28, 28, dtype=torch.uint8))
    with pytest.raises(GanforgeError, match=r"^modnet.modify: expected one target label in 0..9"):
        fam.modify(_images(2), torch.tensor([0, 10]))


# ---------------------------------------------------------------- the grid

def test_grid_rows_are_source_then_delta_and_result_per_class():
    fam = _family()
    fam.set_sources((torch.rand(20, 1, 28, 28) * 255).to(torch.uint8))
    z = fam.sample_latent(3, torch.Generator().manual_seed(0))
    images, cols = fam.grid_images(z.repeat(10, 1), None, 3)
    assert cols == 21 and images.shape == (3 * 21, 1, 28, 28) and images.dtype == torch.uint8
    x = z.view(3, 1, 28, 28)
    result, delta = fam.modify(x, torch.full((3,), 4))
    rows = images.view(3, 21, 1, 28, 28)
    assert (rows[:, 0].float() / 255 * 2 - 1 - x).abs().max() < 1 / 255 + 1e-6  # the sources
    assert (rows[:, 1 + 2 * 4 + 1].float() / 255 * 2 - 1 - result).abs().max() < 1 / 255 + 1e-6  # class 4
    assert (rows[:, 1 + 2 * 4].float() / 255 - (delta / 2 + 1) / 2).abs().max() < 1 / 255 + 1e-6


# ---------------------------------------------------------------- the loop: g_steps and resume

def _over(**extra):
    return {**TINY, "precision": "fp32", "model.generator.width": 8, "model.discriminator.width": 8, **extra}


@needs_fashion
@pytest.mark.parametrize("g_steps", [1, 2])
def test_g_steps_counts_generator_updates_and_batches(tmp_path, g_steps):
    ganforge.train("modnet-fashion", tmp_path / "r", steps=3, g_steps=g_steps, d_steps=2, **_over())
    payload = load_checkpoint(RunDir(tmp_path / "r").latest_checkpoint())
    steps = {name: {int(s["step"]) for s in opt["state"].values()} for name, opt in payload["optim"].items()}
    assert steps == {"g": {3 * g_steps}, "d": {3 * 2}}
    # every D update takes a fresh batch, every G update after the first one too (16 images a batch)
    assert (payload["sampler"]["epoch"], payload["sampler"]["pos"]) == (0, 16 * 3 * (2 + g_steps - 1))


@needs_fashion
def test_resume_is_bitwise_identical_with_g_steps_and_ema(tmp_path):
    over = _over(ema_decay=0.9, g_steps=2, **{"model.options.bound": "renorm"})
    ganforge.train("modnet-fashion", tmp_path / "straight", steps=4, **over)
    ganforge.train("modnet-fashion", tmp_path / "halves", steps=2, **over)
    ganforge.train("modnet-fashion", tmp_path / "halves", resume=True, steps=4, **over)
    a, b = (load_checkpoint(RunDir(tmp_path / r).latest_checkpoint()) for r in ("straight", "halves"))
    assert a["step"] == b["step"] == 4
    assert_bitwise_equal({k: a[k] for k in ("model", "optim", "sampler")},
                         {k: b[k] for k in ("model", "optim", "sampler")})
    assert any(k.startswith("g_ema.") for k in a["model"])


@needs_fashion
def test_sample_modifies_test_images_and_the_grid_is_written(tmp_path):
    run = ganforge.train("modnet-fashion", tmp_path / "r", steps=1, **_over(sample_every=1))
    assert len(list((run / "samples").glob("*.png"))) == 1
    model = ganforge.load(run)
    images = model.sample(6, seed=1)
    assert images.shape == (6, 1, 28, 28) and images.dtype == torch.uint8
    assert torch.equal(images, model.sample(6, seed=1, batch_size=2))
    test = load_dataset("fashion-mnist:test").images
    assert torch.equal(model.family.sources, test)
    result, delta = model.modify(test[:4], torch.tensor([1, 2, 3, 4]))
    torch.testing.assert_close(result - delta, test[:4].float() / 255 * 2 - 1)
    assert result.shape == (4, 1, 28, 28) and result.abs().max() <= 1


@needs_fashion
def test_sample_png_is_a_modification_grid(tmp_path):
    run = ganforge.train("modnet-fashion", tmp_path / "r", steps=1, **_over())
    out = write_samples(run, 25, seed=0, out=tmp_path / "g.png")
    width, height = Image.open(out).size
    assert (width, height) == (2 + 21 * 30, 2 + 3 * 30)  # 3 sources, 21 tiles a row (28 px + 2 padding)


@needs_fashion
def test_bf16_training_logs_finite_losses(tmp_path):
    run = ganforge.train("modnet-fashion", tmp_path / "r", steps=2, **_over(precision="bf16"))
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    keys = ("loss_d", "loss_g", "loss_label_d", "loss_label_g", "l1")
    assert all(math.isfinite(r[k]) for r in log for k in keys)


def test_heldout_stats_with_a_zero_delta_measure_the_critic_on_real_images():
    torch.manual_seed(0)
    fam = _family(zero_delta=True)
    x, y = _images(40), torch.arange(40) % 10
    with torch.no_grad():
        fam.eval()
        predicted = fam.D(x)[1].argmax(1)
    fam.train()
    torch.manual_seed(1)
    stats = fam.heldout_stats([Batch(x[:20], y[:20]), Batch(x[20:], y[20:])])
    torch.manual_seed(1)
    y_t = torch.cat([fam.target_labels(y[:20]), fam.target_labels(y[20:])])
    assert stats["l1_per_pixel"] == 0.0  # G(y_t, x) = x
    assert stats["critic_acc_real"] == pytest.approx((predicted == y).float().mean().item())
    assert stats["fooling_rate"] == pytest.approx((predicted == y_t).float().mean().item())
    assert fam.training  # the mode it was in is restored


@needs_fashion
@pytest.mark.parametrize("override, fragment", [
    ("model.options.bound=squash", "unknown bound 'squash' (expected one of: clip, renorm)"),
    ("g_steps=0", "config g_steps must be a positive whole number, got 0"),
    ("model.options.classifier_init=/nowhere/c.safetensors",
     "model.options.classifier_init: /nowhere/c.safetensors is not a file"),
])
def test_cli_train_bad_modnet_input_is_one_line_and_exit_2(tmp_path, capsys, override, fragment):
    from ganforge.cli import main

    args = [f"{k}={v}" for k, v in TINY.items()] + ["model.options.critic=separate",
                                                     "model.discriminator.name=dcgan-d", override]
    assert main(["train", "modnet-fashion", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and fragment in err, err


@needs_fashion
def test_classifier_init_reads_the_runs_data_root(tmp_path, monkeypatch):
    """``dataset:NAME`` trains the cached classifier from the run's own data root (e.g. user SVHN files)."""
    from ganforge.models import modnet_critic

    seen = []

    def fake_load(dataset, data_root=None, progress=True, net="small-cnn"):
        seen.append((dataset, data_root, net))
        return SmallCNN(1, 10), {}

    monkeypatch.setattr(modnet_critic, "load_classifier", fake_load)
    ganforge.train("modnet-fashion-interpret", tmp_path / "r", steps=1, data_root=str(tmp_path / "data"),
                   **_over())
    assert seen == [("fashion-mnist", str(tmp_path / "data"), "small-cnn")]
