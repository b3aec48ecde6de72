"""Conditional models: the conditional-DCGAN course report's cDCGAN variants, the projection discriminator, ACGAN, class-row grids,
``sample --class``, the class sweep and interpolation pictures, and a briefly trained cDCGAN whose samples
a classifier recognises as their labels more often than chance."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.models import FAMILIES
from ganforge.nets import DISCRIMINATORS, GENERATORS, NetShape, build_net
from ganforge.viz.latent import lerp, slerp

from conftest import TINY, needs_fashion

SHAPE = NetShape(channels=1, image_size=28, z_dim=8, num_classes=10)


@pytest.mark.parametrize("features", [100, 200, 400])
@pytest.mark.parametrize("code, code_dim", [("onehot", 10), ("sigmoid", 10), ("embed", 200)])
def test_cdcgan_d_variants_concatenate_features_and_label_code(features, code, code_dim):
    torch.manual_seed(0)
    d = build_net(DISCRIMINATORS, "cdcgan-d", SHAPE, {"width": 8, "features": features, "label_code": code,
                                                      "code_dim": 200})
    assert d.out.in_features == features + code_dim  # the last linear layer sees [features, code(y)]
    x = torch.randn(4, 1, 28, 28)
    a = d(x, torch.zeros(4, dtype=torch.int64))
    b = d(x, torch.full((4,), 7))
    assert a.shape == (4,) and not torch.allclose(a, b)  # the label changes the logit


@pytest.mark.parametrize("hidden", [0, 32])
def test_cdcgan_d_without_a_joint_layer_cannot_match_image_and_label(hidden):
    """hidden=0: D(x, y) = f(x) + g(y), so D(x1, a) - D(x1, b) = D(x2, a) - D(x2, b) for all images (the
    reason the course report's labels made "very little difference"); a layer after the concatenation breaks it."""
    torch.manual_seed(5)
    d = build_net(DISCRIMINATORS, "cdcgan-d", SHAPE, {"width": 8, "features": 50, "hidden": hidden}).eval()
    x = torch.randn(2, 1, 28, 28) * 3
    a, b = torch.zeros(2, dtype=torch.int64), torch.full((2,), 6)
    with torch.no_grad():
        gap = d(x, a) - d(x, b)  # (2,): the label effect on each image
    if hidden == 0:
        assert torch.allclose(gap[0], gap[1], atol=1e-6)
    else:
        assert not torch.allclose(gap[0], gap[1], atol=1e-6)
        assert d.out.in_features == hidden


def test_cdcgan_d_feature_batchnorm_switch():
    with_bn = build_net(DISCRIMINATORS, "cdcgan-d", SHAPE, {"width": 8, "feature_bn": True})
    without = build_net(DISCRIMINATORS, "cdcgan-d", SHAPE, {"width": 8})
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in with_bn.features)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in without.features)


def test_cdcgan_d_concatenation_by_hand():
    """logit = w . [h, onehot(y)] + b with h the feature vector: check the label part alone."""
    torch.manual_seed(1)
    d = build_net(DISCRIMINATORS, "cdcgan-d", SHAPE, {"width": 8, "features": 100}).eval()
    x = torch.randn(3, 1, 28, 28)
    y = torch.tensor([0, 4, 9])
    h = d.features(d.body(x)).detach().numpy()
    w = d.out.weight.detach().numpy()[0]
    expected = h @ w[:100] + w[100 + y.numpy()] + d.out.bias.item()
    np.testing.assert_allclose(d(x, y).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_projection_discriminator_is_psi_plus_inner_product():
    """Miyato and Koyama 2018 eq. 3, computed in numpy from the network's parts."""
    torch.manual_seed(2)
    d = build_net(DISCRIMINATORS, "projection-d", SHAPE, {"width": 8, "features": 32}).eval()
    x = torch.randn(5, 1, 28, 28)
    y = torch.tensor([1, 1, 3, 8, 0])
    phi = d.features(d.body(x)).detach().numpy()
    psi_w, psi_b = d.psi.weight.detach().numpy()[0], d.psi.bias.item()
    table = d.embed.weight.detach().numpy()
    expected = phi @ psi_w + psi_b + np.einsum("nf,nf->n", table[y.numpy()], phi)
    np.testing.assert_allclose(d(x, y).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_conditional_generator_codes():
    torch.manual_seed(3)
    for code, extra in (("onehot", 10), ("embed", 16)):
        g = build_net(GENERATORS, "cdcgan-g", SHAPE, {"width": 8, "label_code": code, "code_dim": 16}).eval()
        assert g.body.main[0].in_channels == SHAPE.z_dim + extra  # z concatenated with the label code
        z = torch.randn(2, SHAPE.z_dim)
        out0, out1 = g(z, torch.tensor([0, 0])), g(z, torch.tensor([5, 5]))
        assert out0.shape == (2, 1, 28, 28) and not torch.allclose(out0, out1)


def _acgan(class_weight=1.0):
    cfg = ModelConfig(family="acgan", z_dim=8, generator={"name": "cdcgan-g", "width": 8},
                      discriminator={"name": "acgan-d", "width": 8}, options={"class_weight": class_weight})
    return FAMILIES.get("acgan")(cfg, SHAPE)


def test_acgan_class_loss_is_weighted_cross_entropy():
    fam = _acgan(class_weight=0.5)
    logits = torch.tensor([[2.0, 0.0, -1.0] + [0.0] * 7, [0.1] * 10])
    labels = torch.tensor([0, 3])
    z = logits.numpy().astype(np.float64)
    log_softmax = z - np.log(np.exp(z).sum(1, keepdims=True))
    expected = -0.5 * np.mean(log_softmax[[0, 1], [0, 3]])
    assert fam.aux_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_acgan_training_step_teaches_d_the_classes():
    """A few D steps on one fixed labelled batch drive the class loss down (the head learns)."""
    torch.manual_seed(4)
    fam = _acgan()
    opt = {"d": torch.optim.Adam(fam.D.parameters(), 1e-3), "g": torch.optim.Adam(fam.G.parameters(), 1e-3)}
    from ganforge.models import Batch
    batch = Batch(torch.rand(16, 1, 28, 28) * 2 - 1, torch.arange(16) % 10)
    first = fam.d_step(batch, opt)["loss_aux_d"].item()
    for _ in range(30):
        last = fam.d_step(batch, opt)["loss_aux_d"].item()
    assert first == pytest.approx(math.log(10), abs=0.5) and last < 0.5 * first


@pytest.mark.parametrize("family, gen, disc, fragment", [
    ("gan", "cdcgan-g", "dcgan-d", "needs an unconditional generator"),
    ("cgan", "dcgan-g", "cdcgan-d", "needs a conditional generator"),
    ("cgan", "cdcgan-g", "acgan-d", "needs a conditional one"),
    ("acgan", "cdcgan-g", "projection-d", "needs a auxiliary one"),
])
def test_networks_of_the_wrong_kind_are_config_errors(family, gen, disc, fragment):
    cfg = ModelConfig(family=family, z_dim=8, generator={"name": gen, "width": 8},
                      discriminator={"name": disc, "width": 8})
    with pytest.raises(GanforgeError, match=fragment):
        FAMILIES.get(family)(cfg, SHAPE)


def test_conditional_family_needs_labelled_data():
    cfg = ModelConfig(family="cgan", z_dim=8, generator={"name": "cdcgan-g"}, discriminator={"name": "cdcgan-d"})
    with pytest.raises(GanforgeError, match="needs labelled data"):
        FAMILIES.get("cgan")(cfg, NetShape(1, 28, 8, 0))


def test_slerp_and_lerp():
    a = torch.tensor([[1.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 2.0, 0.0]])
    t = torch.tensor([0.0, 0.5, 1.0])
    line = lerp(a, b, t)[0]
    torch.testing.assert_close(line[1], torch.tensor([0.5, 1.0, 0.0]))
    arc = slerp(a, b, t)[0]
    torch.testing.assert_close(arc[0], a[0])
    torch.testing.assert_close(arc[2], b[0])
    # halfway along the great circle: sin(pi/4)/sin(pi/2) of each endpoint
    torch.testing.assert_close(arc[1], torch.tensor([math.sqrt(0.5), 2 * math.sqrt(0.5), 0.0]))
    same = slerp(a, a, t)[0]  # parallel endpoints fall back to the line, no NaN
    assert torch.isfinite(same).all() and torch.allclose(same, a.expand(3, 3))


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    if not __import__("conftest").fashion_available():
        pytest.skip("Fashion-MNIST not installed")
    out = tmp_path_factory.mktemp("cgan") / "run"
    ganforge.train("cdcgan-fashion", out, steps=2, **{**TINY, "grid_size": 16},
                   **{"model.generator.width": 8, "model.discriminator.width": 8})
    return out


@needs_fashion
def test_training_grid_has_one_row_per_class(cgan_run):
    grid = Image.open(cgan_run / "samples" / "step-0000002.png")
    assert grid.size == (2 + 4 * 30, 2 + 10 * 30)  # 4 columns (sqrt of grid_size 16), 10 class rows


@needs_fashion
def test_sample_class_and_class_rows(cgan_run, tmp_path, capsys):
    assert main(["sample", str(cgan_run), "--n", "12", "--class", "7", "--out", str(tmp_path / "c.npz")]) == 0
    data = np.load(tmp_path / "c.npz")
    assert data["images"].shape == (12, 28, 28, 1) and (data["labels"] == 7).all()
    model = ganforge.load(cgan_run)
    z = model.family.sample_latent(12, torch.Generator().manual_seed(0), device="cpu")
    direct = (model.family.generate(z, torch.full((12,), 7)) * 255 + 0.5).clamp(0, 255).to(torch.uint8)
    np.testing.assert_array_equal(data["images"], direct.permute(0, 2, 3, 1).numpy())
    assert main(["sample", str(cgan_run), "--n", "30", "--out", str(tmp_path / "rows.png")]) == 0
    assert Image.open(tmp_path / "rows.png").size == (2 + 3 * 30, 2 + 10 * 30)  # one row per class
    assert main(["sample", str(cgan_run), "--n", "4", "--class", "10", "--out", str(tmp_path / "x.png")]) == 2
    assert "--class 10: expected 0..9" in capsys.readouterr().err


@needs_fashion
def test_class_sweep_keeps_z_along_a_row(cgan_run, tmp_path):
    from ganforge.viz import VIZ, VizOptions

    model = ganforge.load(cgan_run)
    picture = VIZ.get("class-sweep")(model, VizOptions(seed=5, rows=2))
    assert picture.cols == 10 and picture.images.shape == (20, 1, 28, 28)
    z = model.family.sample_latent(2, torch.Generator().manual_seed(5), device="cpu")
    for row in range(2):
        expect = model.family.generate(z[row:row + 1].repeat(10, 1), torch.arange(10))
        got = picture.images[row * 10:(row + 1) * 10].float() / 255
        assert (got - expect).abs().max() <= 1 / 255 + 1e-6
    assert main(["viz", str(cgan_run), "interpolate", "--rows", "3", "--steps", "4",
                 "--out", str(tmp_path / "i.png")]) == 0
    assert Image.open(tmp_path / "i.png").size == (2 + 4 * 30, 2 + 3 * 30)


def test_class_sweep_of_an_unconditional_run_is_an_error(tmp_path, capsys):
    if not __import__("conftest").fashion_available():
        pytest.skip("Fashion-MNIST not installed")
    ganforge.train("quickstart", tmp_path / "q", steps=1, **TINY)
    assert main(["viz", str(tmp_path / "q"), "class-sweep", "--out", str(tmp_path / "s.png")]) == 2
    assert "class-sweep needs a conditional model" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["acgan-fashion", "projection-fashion"])
def test_briefly_trained_conditional_dcgan_draws_its_labels(tmp_path, monkeypatch, mnist5k_classifier, preset):
    """Issue 4: samples of a briefly trained conditional DCGAN are classified as their label more often than
    chance: the DCGAN nets with ACGAN's class head or with the projection discriminator, 800 steps on
    mnist-5k (measured in bf16: ACGAN 0.44 with seed 0, 0.86 with seed 1; projection 0.85 and 0.87). They
    train in fp32: emulated bf16 on a CPU without AVX-512 BF16 made these two tests 20 minutes of CI. Seed
    000's concatenating D cannot do this (see the hidden=0 test above)."""
    from ganforge.evaluation import make_extractor
    from ganforge.features import extract

    cache, _ = mnist5k_classifier
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    ganforge.train(preset, tmp_path / "r", steps=800, data="mnist-5k:train", batch_size=64,
                   precision="fp32", sample_every=10_000, ckpt_every=10_000, log_every=100, seed=0,
                   **{"model.generator.width": 32, "model.discriminator.width": 32, "model.z_dim": 16})
    model = ganforge.load(tmp_path / "r")
    labels = torch.arange(500) % 10
    images = model.sample(500, seed=0, labels=labels)
    logits = extract(make_extractor("classifier", "mnist-5k:test", None), images)
    accuracy = float((logits.argmax(1) == labels.numpy()).mean())
    assert accuracy > 0.25, accuracy  # chance is 0.1
