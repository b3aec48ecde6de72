"""Label smoothing, soft noisy labels and instance noise (the VAE/DCGAN course report, the GAN lecture slides, Salimans et al. 2016)."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import ganforge
from ganforge.config import ModelConfig, resolve_config
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES
from ganforge.losses.gan import minimax_d_loss, soft_label_d_loss
from ganforge.losses.heuristics import instance_noise_std, real_targets
from ganforge.models import FAMILIES, Batch
from ganforge.nets import NetShape

from conftest import TINY, needs_fashion


def test_soft_label_loss_is_the_minimax_loss_at_target_one():
    r, f = torch.randn(50) * 3, torch.randn(50) * 3
    assert torch.allclose(soft_label_d_loss(r, f, torch.ones(50)), minimax_d_loss(r, f))
    # a smoothed target t: BCE = -t log s(r) - (1 - t) log(1 - s(r)), computed directly
    t = torch.full((50,), 0.9)
    naive = -(t * torch.log(torch.sigmoid(r)) + (1 - t) * torch.log(1 - torch.sigmoid(r))).mean() \
        - torch.log(1 - torch.sigmoid(f)).mean()
    assert torch.allclose(soft_label_d_loss(r, f, t), naive, atol=1e-5)


# ---------------------------------------------------------------- soft targets, loss by loss

def _bce(r, f, t):
    """-mean[t log s(r) + (1 - t) log(1 - s(r))] - mean log(1 - s(f)), s the sigmoid, written out."""
    s = torch.sigmoid
    return -(t * torch.log(s(r)) + (1 - t) * torch.log(1 - s(r))).mean() - torch.log(1 - s(f)).mean()


def _least_squares(r, f, t):
    """1/2 mean (r - t)^2 + 1/2 mean f^2 (Mao et al. 2017, eq. 9 with a = 0 and b = t)."""
    return 0.5 * ((r - t) ** 2).mean() + 0.5 * (f ** 2).mean()


#: every registered loss: its D loss with real targets t, or None where soft targets have no meaning (hinge
#: margins, Wasserstein critics) and label smoothing / noisy labels must be refused
TARGET_D_LOSS = {"mm": _bce, "ns": _bce, "dragan": _bce, "lsgan": _least_squares,
                 "hinge": None, "wgan": None, "wgan-gp": None}
#: losses whose D outputs are logits, logged as sigmoid means; every other loss's are logged raw
LOGIT_LOSSES = {"mm", "ns", "dragan"}
SHAPE = NetShape(1, 28, 8, 10)
NETS = {"gan": ({"name": "lucic-g"}, {"name": "lucic-d"}),
        "cgan": ({"name": "cdcgan-g", "width": 8}, {"name": "projection-d", "width": 8}),
        "acgan": ({"name": "cdcgan-g", "width": 8}, {"name": "acgan-d", "width": 8})}


@pytest.mark.parametrize("name", LOSSES.names())
def test_soft_target_d_loss_at_targets_one_is_the_loss_own_d_loss(name):
    loss, reference = LOSSES.get(name)(), TARGET_D_LOSS[name]
    assert loss.takes_targets() == (reference is not None)
    if reference is None:
        return
    gen = torch.Generator().manual_seed(0)
    r, f = (3 * torch.randn(64, generator=gen, dtype=torch.float64) for _ in range(2))
    ones = torch.ones(64, dtype=torch.float64)
    assert loss.d_loss_targets(r, f, ones).item() == pytest.approx(loss.d_loss(r, f).item(), rel=1e-12)
    assert loss.d_loss(r, f).item() == pytest.approx(reference(r, f, ones).item(), rel=1e-9)
    t = 0.7 + 0.5 * torch.rand(64, generator=gen, dtype=torch.float64)
    assert loss.d_loss_targets(r, f, t).item() == pytest.approx(reference(r, f, t).item(), rel=1e-9)


def _family(family: str, loss: str, **options):
    g, d = NETS[family]
    return FAMILIES.get(family)(ModelConfig(family=family, z_dim=8, generator=g, discriminator=d, loss=loss,
                                            **options), SHAPE)


def _hooked_d_step(fam):
    """One D step on a random batch; returns its stats and, as float64 copies, D's logits on the real and
    the fake batch and (ACGAN) the cross-entropy of D's class logits against the labels of each batch."""
    outputs, fake_labels = [], []
    fam.D.register_forward_hook(lambda m, args, out: outputs.append(out))
    fam.G.register_forward_pre_hook(lambda m, args: fake_labels.append(args[1] if len(args) > 1 else None))
    torch.manual_seed(1)
    batch = Batch(torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8) % 10)
    stats = fam.d_step(batch, {"d": torch.optim.SGD(fam.D.parameters(), 1e-3),
                               "g": torch.optim.SGD(fam.G.parameters(), 1e-3)})
    logits, class_ce = [], 0.0
    for out, labels in zip(outputs[:2], (batch.labels, fake_labels[0])):  # the real, then the fake batch
        logit, classes = out if isinstance(out, tuple) else (out, None)
        logits.append(logit.detach().double())
        if classes is not None:
            class_ce += F.cross_entropy(classes.detach().double(), labels).item()
    return stats, logits[0], logits[1], class_ce


@pytest.mark.parametrize("name", LOSSES.names())
def test_d_outputs_are_logged_as_probabilities_only_for_logit_losses(name):
    stats, real, fake, _ = _hooked_d_step(_family("gan", name))
    squash = torch.sigmoid if name in LOGIT_LOSSES else (lambda t: t)
    assert stats["d_real"].item() == pytest.approx(squash(real).mean().item(), rel=1e-5, abs=1e-7)
    assert stats["d_fake"].item() == pytest.approx(squash(fake).mean().item(), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("family", sorted(NETS))
@pytest.mark.parametrize("name", LOSSES.names())
def test_soft_targets_train_d_with_the_loss_own_meaning_or_are_refused(family, name):
    reference = TARGET_D_LOSS[name]
    if reference is None:
        for option, value in (("label_smoothing", 0.1), ("noisy_labels", True)):
            with pytest.raises(GanforgeError, match=rf"^model\.{option} needs soft real targets, which loss "
                                                    rf"'{name}' does not have \(losses with them: dragan, "):
                _family(family, name, **{option: value})
        return
    stats, real, fake, class_ce = _hooked_d_step(_family(family, name, label_smoothing=0.2))
    # real targets 1 - 0.2; ACGAN adds its class loss, DRAGAN its gradient penalty (logged on its own)
    expected = reference(real, fake, 0.8).item() + class_ce + stats.get("penalty", torch.tensor(0.0)).item()
    assert stats["loss_d"].item() == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------- noisy labels: the safe default and the report's recipe

@pytest.mark.parametrize("real_range, mean", [((0.7, 1.2), 0.95), ((0.7, 1.0), 0.85), (None, 0.85)])
def test_noisy_label_distribution(real_range, mean):
    torch.manual_seed(0)
    t = real_targets(200_000, 0.0, True, "cpu", *([real_range] if real_range else []))
    flipped = t < 0.5
    high = real_range[1] if real_range else 1.0  # the default range stops at 1
    assert abs(flipped.float().mean().item() - 0.05) < 0.003
    assert t[flipped].min() >= 0.0 and t[flipped].max() <= 0.3
    assert t[~flipped].min() >= 0.7 and t[~flipped].max() <= high and t[~flipped].max() > high - 0.01
    assert abs(t[~flipped].mean().item() - mean) < 0.005
    assert torch.equal(real_targets(4, 0.1, False, "cpu"), torch.full((4,), 0.9))


def test_default_noisy_labels_keep_the_d_loss_bounded_and_the_tricks_preset_keeps_the_report_recipe():
    assert ModelConfig().noisy_labels_range == (0.7, 1.0)
    tricks = resolve_config("dcgan-tricks").model
    assert tricks.noisy_labels and tricks.noisy_labels_range == (0.7, 1.2)
    n, big = 4096, 1e4
    for real_range in ((0.7, 1.0), (0.7, 1.2)):
        fam = _family("gan", "ns", noisy_labels=True, noisy_labels_range=real_range)
        torch.manual_seed(0)
        targets = real_targets(n, 0.0, True, "cpu", real_range)  # what the family draws next from this seed
        spread = torch.randn(n, generator=torch.Generator().manual_seed(1))
        pushed = torch.where(targets > 1, big, 0.0)  # D pushing up the logits of images whose target is > 1
        losses = []
        for real in (torch.full((n,), big), big * spread, pushed):
            torch.manual_seed(0)
            losses.append(fam._adversarial_d_loss(real, torch.full((n,), -big)).item())
        if real_range[1] <= 1.0:  # every target in [0, 1]: BCE is a sum of non-negative terms
            assert targets.max() <= 1.0 and min(losses) >= 0.0, losses
        else:  # the report's recipe: targets above 1, and the loss falls about (t - 1) * logit below 0
            assert targets.max() > 1.1 and losses[2] < -100.0, losses


@pytest.mark.parametrize("overrides, message", [
    ({"model.noisy_labels_range": [1.0, 0.7]}, r"noisy_labels_range must be \[low, high\] with 0 <= low < high, "
                                                r"got \[1.0, 0.7\]"),
    ({"model.noisy_labels_range": [-0.1, 1.0]}, r"noisy_labels_range must be \[low, high\]"),
    ({"model.noisy_labels_range": [0.7, float("inf")]}, r"noisy_labels_range must be \[low, high\]"),
    ({"model.noisy_labels_range": [0.7]}, r"noisy_labels_range must be a list of 2 numbers"),
    ({"model.noisy_labels_range": "report"}, r"noisy_labels_range must be a list of 2 numbers"),
    ({"model.label_smoothing": 1.0, "model.noisy_labels": False}, r"label_smoothing must be in \[0, 1\)"),
    ({"model.label_smoothing": 0.1}, r"label_smoothing and model.noisy_labels both set the real targets"),
])
def test_bad_target_settings_are_one_line_config_errors(overrides, message):
    with pytest.raises(GanforgeError, match=message) as info:
        resolve_config("dcgan-tricks", overrides)
    assert "\n" not in str(info.value)


def test_instance_noise_decays_linearly():
    assert instance_noise_std(0.2, 100, 0) == 0.2
    assert instance_noise_std(0.2, 100, 50) == pytest.approx(0.1)
    assert instance_noise_std(0.2, 100, 150) == 0.0
    assert instance_noise_std(0.2, 0, 10_000) == 0.2 and instance_noise_std(0.0, 10, 1) == 0.0


@needs_fashion
def test_heuristics_train_and_change_the_updates(tmp_path):
    over = {**TINY, "precision": "fp32"}
    ganforge.train("quickstart", tmp_path / "plain", steps=2, **over)
    ganforge.train("quickstart", tmp_path / "tricks", steps=2, **over, **{
        "model.noisy_labels": True, "model.instance_noise": 0.1, "model.instance_noise_steps": 10})
    logs = [[json.loads(x) for x in (tmp_path / r / "log.jsonl").read_text().splitlines()] for r in ("plain", "tricks")]
    assert logs[0][-1]["loss_d"] != logs[1][-1]["loss_d"]
    with pytest.raises(GanforgeError, match="label_smoothing needs soft real targets, which loss 'wgan'"):
        ganforge.train("quickstart", tmp_path / "bad", steps=1, **over, **{"model.loss": "wgan",
                                                                           "model.label_smoothing": 0.1})


@needs_fashion
def test_frozen_discriminator_layers_do_not_move_and_the_rest_do(tmp_path):
    from ganforge.training.checkpoint import load_checkpoint

    over = {**TINY, "ckpt_every": 1, "keep_checkpoints": 5, "model.freeze_d_layers": 2}
    ganforge.train("quickstart", tmp_path / "r", steps=3, **over)
    first = load_checkpoint(tmp_path / "r" / "checkpoints" / "step-0000001.pt")["model"]
    last = load_checkpoint(tmp_path / "r" / "checkpoints" / "step-0000003.pt")["model"]
    assert torch.equal(first["D.net.0.weight"], last["D.net.0.weight"])  # conv 1 frozen
    assert torch.equal(first["D.net.2.weight"], last["D.net.2.weight"])  # conv 2 frozen
    assert not torch.equal(first["D.net.6.weight"], last["D.net.6.weight"])  # fc 1024 trains
    with pytest.raises(GanforgeError, match="has 4 weight layers"):
        ganforge.train("quickstart", tmp_path / "bad", steps=1, **{**TINY, "model.freeze_d_layers": 9})


def test_spectral_norm_bounds_every_discriminator_layer():
    from ganforge.nets.spectral import sigma as spectral_sigma
    from ganforge.nets.spectral import weight_matrix
    from ganforge.nets.tweaks import weight_layers

    cfg = ModelConfig(z_dim=8, generator={"name": "lucic-g"}, discriminator={"name": "lucic-d"}, spectral_norm=True)
    family = FAMILIES.get("gan")(cfg, NetShape(1, 28, 8))
    x = torch.rand(4, 1, 28, 28)
    for _ in range(30):  # power iterations run in train-mode forward passes
        family.D(x)
    family.D.eval()  # sigma without a further power iteration
    for layer in weight_layers(family.D):
        effective = weight_matrix(layer) / spectral_sigma(layer)  # the map the layer applies, without its bias
        assert torch.linalg.matrix_norm(effective.detach(), ord=2).item() == pytest.approx(1.0, abs=0.05)
