"""InfoGAN (Chen et al. 2016): the information term, the latent layout, which parameters each update trains,
the shared-body discriminator, that Q learns the categorical code, and the ``codes`` picture."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.models import Batch
from ganforge.models.gan import GAN
from ganforge.models.infogan import CodeLayout, InfoGAN, information_terms
from ganforge.nets import NetShape
from ganforge.nets.infogan import build_info_discriminator
from ganforge.nets.lucic import LucicDiscriminator
from ganforge.viz import VIZ, VizOptions, make_picture
from ganforge.viz.codes import code_blocks

from conftest import needs_fashion


def _family(z_dim=6, **options) -> InfoGAN:
    cfg = ModelConfig(family="infogan", z_dim=z_dim, z_dist="uniform", generator={"name": "lucic-g"},
                      discriminator={"name": "infogan-d"}, options=options)
    return InfoGAN(cfg, NetShape(1, 28, z_dim))


# ---------------------------------------------------------------- the information term

def _log_softmax(a: np.ndarray) -> np.ndarray:
    shifted = a - a.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _cross_entropy(logits: np.ndarray, target: np.ndarray) -> float:
    """Mean over the batch of -log softmax(logits)[target]."""
    return float(-_log_softmax(logits)[np.arange(len(target)), target].mean())


@pytest.mark.parametrize("learn_std", [False, True])
def test_information_terms_equal_a_hand_computation(learn_std):
    rng = np.random.default_rng(0)
    n, counts, m = 7, (3, 4), 2
    q = rng.normal(size=(n, 7 + m * (2 if learn_std else 1))) * 2.0
    cat = np.stack([rng.integers(0, 3, n), rng.integers(0, 4, n)], axis=1)
    cont = rng.uniform(-1, 1, size=(n, m))
    # categorical: mean over the batch of -log softmax(logits_j)[c_j], summed over the two codes
    ce = _cross_entropy(q[:, :3], cat[:, 0]) + _cross_entropy(q[:, 3:7], cat[:, 1])
    # continuous: Gaussian negative log-density -log N(c; mu, sigma^2), summed over codes, mean over the batch
    mu = q[:, 7:9]
    sigma = np.exp(q[:, 9:11]) if learn_std else np.ones_like(mu)
    density = np.exp(-((cont - mu) ** 2) / (2 * sigma ** 2)) / (sigma * np.sqrt(2 * np.pi))
    nll = -np.log(density).sum(axis=1).mean()
    acc = ((q[:, :3].argmax(1) == cat[:, 0]).mean() + (q[:, 3:7].argmax(1) == cat[:, 1]).mean()) / 2

    layout = CodeLayout(5, counts, m)
    terms = information_terms(torch.tensor(q, dtype=torch.float32), torch.tensor(cat), torch.tensor(cont),
                              layout, learn_std)
    assert terms.cat_nll.item() == pytest.approx(ce, rel=1e-5)
    assert terms.cont_nll.item() == pytest.approx(nll, rel=1e-5)
    assert terms.accuracy.item() == pytest.approx(acc)


def test_family_weights_the_terms_and_logs_the_mutual_information_bounds():
    fam = _family(categorical=[3, 4], continuous=2, lambda_cat=0.7, lambda_cont=0.3)
    rng = np.random.default_rng(1)
    n = 6
    q = rng.normal(size=(n, 9))
    cat = np.stack([rng.integers(0, 3, n), rng.integers(0, 4, n)], axis=1)
    cont = rng.uniform(-1, 1, size=(n, 2))
    ce = _cross_entropy(q[:, :3], cat[:, 0]) + _cross_entropy(q[:, 3:7], cat[:, 1])
    nll = (0.5 * (cont - q[:, 7:9]) ** 2 + 0.5 * np.log(2 * np.pi)).sum(axis=1).mean()
    onehot = np.concatenate([np.eye(3)[cat[:, 0]], np.eye(4)[cat[:, 1]]], axis=1)
    z = torch.tensor(np.concatenate([rng.normal(size=(n, 6)), onehot, cont], axis=1), dtype=torch.float32)
    loss, stats = fam.information(torch.tensor(q, dtype=torch.float32), z)
    assert loss.item() == pytest.approx(0.7 * ce + 0.3 * nll, rel=1e-5)
    assert stats["loss_info"].item() == pytest.approx(0.7 * ce + 0.3 * nll, rel=1e-5)
    assert stats["mi_cat"].item() == pytest.approx(math.log(3) + math.log(4) - ce, rel=1e-5)  # H(c) - CE
    assert stats["mi_cont"].item() == pytest.approx(2 * math.log(2) - nll, rel=1e-5)  # H(U(-1,1)^2) - NLL


# ---------------------------------------------------------------- the latent

def test_latent_layout_noise_then_one_hot_then_continuous():
    fam = _family(z_dim=4, categorical=[3, 5], continuous=2)
    z = fam.sample_latent(2000, torch.Generator().manual_seed(0), device="cpu")
    assert z.shape == (2000, 4 + 3 + 5 + 2)
    assert fam.G.fc[0].in_features == 14  # the generator is built for the whole latent
    noise, first, second, cont = z[:, :4], z[:, 4:7], z[:, 7:12], z[:, 12:]
    assert noise.abs().max() <= 1 and noise.std() > 0.5  # uniform(-1, 1) noise, as model.z_dist says
    for block, k in ((first, 3), (second, 5)):
        assert set(block.unique().tolist()) == {0.0, 1.0}
        assert torch.equal(block.sum(dim=1), torch.ones(2000))  # exactly one 1 per row
        counts = block.sum(dim=0)
        assert counts.min() > 2000 / k * 0.8  # every category drawn, about uniformly
    assert cont.min() >= -1 and cont.max() <= 1 and cont.min() < -0.95 and cont.max() > 0.95
    again = fam.sample_latent(2000, torch.Generator().manual_seed(0), device="cpu")
    assert torch.equal(z, again)
    _, cat, c = fam.layout.split(z)
    assert torch.equal(cat[:, 1], second.argmax(dim=1)) and torch.equal(c, cont)
    assert torch.equal(fam.layout.assemble(noise, cat, c), z)
    assert fam.D.q_outputs == 3 + 5 + 2  # logits per category, a mean per continuous code
    assert _family(z_dim=4, categorical=[3, 5], continuous=2, learn_std=True).D.q_outputs == 3 + 5 + 2 * 2


@pytest.mark.parametrize("options, message", [
    ({"categorical": [10, 1]}, "categorical must be a list of category counts"),
    ({"categorical": 10}, "categorical must be a list"),
    ({"continuous": -1}, "continuous must be a whole number"),
    ({"continuous": 1.5}, "continuous must be a whole number"),
    ({"lambda_cat": "one"}, "lambda_cat must be a number"),
    ({"lambda_cont": -0.1}, "lambda_cont must be a number >= 0"),
    ({"learn_std": "yes"}, "learn_std must be true or false"),
    ({"categorical": [], "continuous": 0}, "at least one code"),
    ({"lamda_cat": 1.0}, "has no option 'lamda_cat'"),
])
def test_options_are_checked(options, message):
    with pytest.raises(GanforgeError, match=message):
        _family(**options)


def test_a_plain_logit_discriminator_is_an_error():
    cfg = ModelConfig(family="infogan", z_dim=6, generator={"name": "lucic-g"}, discriminator={"name": "lucic-d"})
    with pytest.raises(GanforgeError, match="unknown InfoGAN discriminator 'lucic-d'"):
        InfoGAN(cfg, NetShape(1, 28, 6))


# ---------------------------------------------------------------- networks and updates

def test_infogan_d_is_lucic_d_plus_a_q_head():
    shape = NetShape(1, 28, 8)
    torch.manual_seed(3)
    lucic = LucicDiscriminator(shape, LucicDiscriminator.Args()).eval()
    torch.manual_seed(3)
    d = build_info_discriminator({"name": "infogan-d"}, shape, 14).eval()
    x = torch.rand(5, 1, 28, 28)
    logit, q = d(x)
    assert logit.shape == (5,) and q.shape == (5, 14)
    assert torch.equal(logit, lucic(x))  # same layers, same initialisation, same output
    body = {id(p) for p in d.body.parameters()}
    assert body and not body & {id(p) for p in d.q_head.parameters()}
    q.sum().backward()  # Q's gradient reaches the shared body
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d.body.parameters() if p.dim() > 1)


def _snapshot(module):
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def _changed(before, module):
    return {name for name, p in module.named_parameters() if not torch.equal(before[name], p.detach())}


def _setup():
    torch.manual_seed(0)
    fam = _family(categorical=[10], continuous=2)
    opts = {"g": torch.optim.Adam(fam.G.parameters(), 1e-3), "d": torch.optim.Adam(fam.D.parameters(), 1e-3)}
    return fam, opts, Batch(torch.rand(8, 1, 28, 28), torch.zeros(8, dtype=torch.int64))


def test_d_update_trains_body_logit_and_q_g_update_trains_g_only():
    fam, opts, batch = _setup()
    g0, d0 = _snapshot(fam.G), _snapshot(fam.D)
    stats = fam.d_step(batch, opts)
    assert not _changed(g0, fam.G)
    changed = _changed(d0, fam.D)
    assert {"body.0.weight", "logit.weight", "q_head.0.weight", "q_head.3.weight"} <= changed
    assert {"loss_d", "d_real", "d_fake"} <= set(stats)

    g1, d1 = _snapshot(fam.G), _snapshot(fam.D)
    stats = fam.g_step(batch, opts)
    assert _changed(g1, fam.G) == set(g1)  # every G parameter moved
    assert not _changed(d1, fam.D)  # every D parameter, Q's head included, bit-identical
    assert all(p.requires_grad for p in fam.D.parameters())  # D is trainable again afterwards
    assert {"loss_g", "loss_info", "q_acc", "mi_cat", "mi_cont"} <= set(stats)
    assert 0.0 <= stats["q_acc"].item() <= 1.0


def test_q_head_takes_one_optimiser_step_per_training_step():
    """As openai/InfoGAN's trainer: the discriminator optimiser (D's variables, Q included) steps once per
    iteration and the generator optimiser holds only G's variables; the loop's order is d_step, g_step."""
    fam, opts, batch = _setup()
    before, q_steps = {}, []  # for every optimiser step: which optimiser, and whether it changed Q's head
    for name, opt in opts.items():
        opt.register_step_pre_hook(lambda o, a, k: before.update(_snapshot(fam.D.q_head)))
        opt.register_step_post_hook(lambda o, a, k, name=name: q_steps.append(
            (name, bool(_changed(before, fam.D.q_head)))))
    for _ in range(2):  # two training steps
        fam.d_step(batch, opts)
        fam.g_step(batch, opts)
    assert q_steps == [("d", True), ("g", False)] * 2


def test_the_information_term_reaches_g_through_d_and_q():
    after = []
    for weight in (0.0, 1.0):  # the same G update without and with the information term
        torch.manual_seed(0)
        fam = _family(categorical=[10], continuous=2, lambda_cat=weight, lambda_cont=weight)
        opts = {"g": torch.optim.SGD(fam.G.parameters(), 0.1), "d": torch.optim.SGD(fam.D.parameters(), 0.1)}
        fam.g_step(Batch(torch.rand(8, 1, 28, 28), torch.zeros(8, dtype=torch.int64)), opts)
        after.append(_snapshot(fam.G))
    assert all(not torch.equal(after[0][name], after[1][name]) for name in after[0])  # every G weight differs


# ---------------------------------------------------------------- a short real run: Q learns the code

STEPS = 120


@pytest.fixture(scope="module")
def infogan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("infogan") / "run"
    ganforge.train("infogan-fashion", out, steps=STEPS, batch_size=32, data="fashion-mnist:train[:2000]",
                   log_every=50, sample_every=10 ** 6, ckpt_every=10 ** 6, seed=0)
    return out


def q_accuracy(family: InfoGAN, n: int = 1000, seed: int = 123, use_ema: bool = False) -> float:
    """Share of fresh generated images whose categorical code Q's argmax recovers (computed here by hand)."""
    z = family.sample_latent(n, torch.Generator().manual_seed(seed), device="cpu")
    true = z[:, 62:72].argmax(dim=1)  # the one-hot block follows the 62 noise dimensions
    images = family.generate(z, use_ema=use_ema)  # [0, 1], lucic-g's own range
    family.D.eval()
    with torch.no_grad():
        _, q = family.D(images)
    return (q[:, :10].argmax(dim=1) == true).float().mean().item()


@needs_fashion
def test_q_recovers_the_categorical_code_far_above_chance(infogan_run):
    model = ganforge.load(infogan_run)
    acc = q_accuracy(model.family)
    print(f"Q accuracy on the categorical code after {STEPS} steps: {acc:.3f} (chance 0.1)")
    assert acc > 0.6


# ---------------------------------------------------------------- the codes picture

def test_code_blocks_vary_one_code_and_keep_the_rest():
    layout = CodeLayout(4, (3,), 2)
    gen = torch.Generator().manual_seed(0)
    cont = torch.tensor([[0.5, -0.3], [0.1, 0.9]])
    base = torch.cat([torch.rand(2, 4, generator=gen), torch.eye(3)[[2, 0]], cont], dim=1)
    cat_block, c1, c2 = code_blocks(layout, base, steps=5)
    assert cat_block.shape == (2, 3, 9) and c1.shape == c2.shape == (2, 5, 9)
    for r in range(2):
        for k in range(3):  # column k: category k, noise and continuous codes of row r
            expected = torch.cat([base[r, :4], torch.eye(3)[k], base[r, 7:]])
            assert torch.equal(cat_block[r, k], expected)
        sweep = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
        assert torch.equal(c1[r, :, 7], sweep) and torch.equal(c2[r, :, 8], sweep)
        assert torch.equal(c1[r, :, 8], base[r, 8].repeat(5)) and torch.equal(c2[r, :, 7], base[r, 7].repeat(5))
        assert torch.equal(c1[r, :, :7], base[r, :7].repeat(5, 1))


@needs_fashion
def test_codes_picture_has_one_block_per_code(infogan_run, tmp_path):
    model = ganforge.load(infogan_run)
    picture = VIZ.get("codes")(model, VizOptions(rows=3, steps=7, seed=1))
    # blocks: the 10-way code (3 rows x 10), two continuous codes (3 rows x 7, padded to 10), 2 blank rows
    assert picture.cols == 10
    assert picture.images.shape == ((3 * 3 + 2) * 10, 1, 28, 28) and picture.images.dtype == torch.uint8
    grid = picture.images.reshape(11, 10, 28 * 28)
    assert (grid[3] == 0).all() and (grid[7] == 0).all()  # separator rows
    assert (grid[4:7, 7:] == 0).all() and (grid[8:, 7:] == 0).all()  # continuous rows padded after 7 steps
    assert (grid[:3].float().amax(dim=2) > 0).all() and (grid[4:7, :7].float().amax(dim=2) > 0).all()
    assert not torch.equal(grid[0, 0], grid[0, 1])  # the categorical code changes the image
    out = make_picture(infogan_run, "codes", tmp_path / "codes.png", VizOptions(rows=3, steps=7))
    assert Image.open(out).size == (10 * 30 + 2, 11 * 30 + 2)  # save_image tiles with padding 2


def test_codes_picture_refuses_a_model_without_codes():
    cfg = ModelConfig(family="gan", z_dim=8, generator={"name": "lucic-g"}, discriminator={"name": "lucic-d"})
    model = SimpleNamespace(family=GAN(cfg, NetShape(1, 28, 8)), config=SimpleNamespace(model=cfg))
    with pytest.raises(GanforgeError, match="codes needs an InfoGAN model .*'gan'"):
        VIZ.get("codes")(model, VizOptions())
