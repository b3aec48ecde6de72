"""The ``ddpm`` family (Ho et al. 2020): the forward process against its closed form and against the Markov
chain it summarises, both schedules from their formulas, the simple loss by hand, DDIM's determinism at
eta = 0, ancestral sampling = DDIM at eta = 1, both samplers recovering a Gaussian from its exact noise
predictor, per-image noise, and sampler settings."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganforge.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.models import FAMILIES, SamplerRequest, generate_uint8
from ganforge.models.ddpm import (SCHEDULES, alpha_bars, ancestral_sample, ddim_sample, q_sample, simple_loss,
                                  spaced_timesteps)
from ganforge.nets import NetShape

SHAPE = NetShape(1, 28, 8, 10)


def _numpy_alpha_bar(schedule: str, T: int = 1000) -> np.ndarray:
    """abar_t = prod (1 - beta_s), with betas written from the papers (Ho et al. section 4; Nichol and
    Dhariwal eq. 17)."""
    if schedule == "linear":
        betas = np.linspace(1e-4, 0.02, T)
    else:
        f = np.cos((np.arange(T + 1) / T + 0.008) / 1.008 * np.pi / 2) ** 2
        betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return np.cumprod(1 - betas)


def _family(**options):
    torch.manual_seed(0)
    cfg = ModelConfig(family="ddpm", generator={"name": "time-unet", "width": 8, "mults": [1, 2]},
                      discriminator={}, options=options)
    fam = FAMILIES.get("ddpm")(cfg, SHAPE)
    with torch.no_grad():  # a denoiser that is not the zero function (its last layer starts at zero)
        for p in fam.G.parameters():
            if not p.abs().any():
                p.normal_(0.0, 0.05)
    return fam


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_schedules_are_the_published_formulas(schedule):
    ab = alpha_bars(SCHEDULES.get(schedule)(1000)).numpy()
    np.testing.assert_allclose(ab, _numpy_alpha_bar(schedule), rtol=1e-12, atol=1e-15)
    assert np.all(np.diff(ab) < 0) and ab[-1] < 1e-4  # x_T is close to N(0, I)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_forward_noising_is_the_closed_form_of_q(schedule):
    ab = _numpy_alpha_bar(schedule)
    gen = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(6, 1, 4, 4, generator=gen), torch.randn(6, 1, 4, 4, generator=gen)
    t = torch.tensor([0, 1, 250, 500, 998, 999])
    got = q_sample(x0.double(), t, noise.double(), alpha_bars(SCHEDULES.get(schedule)(1000)))
    a = ab[t.numpy()][:, None, None, None]
    want = np.sqrt(a) * x0.double().numpy() + np.sqrt(1 - a) * noise.double().numpy()  # mean + std * eps
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def test_closed_form_summarises_the_markov_chain():
    """Running x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps (Ho et al. eq. 2) for t steps gives the mean
    sqrt(abar_t) x_0 and variance 1 - abar_t that q_sample uses (40,000 chains, per-step float64)."""
    betas = np.linspace(1e-4, 0.02, 1000)
    ab = alpha_bars(SCHEDULES.get("linear")(1000))
    rng = np.random.default_rng(0)
    x0 = np.array([1.5, -0.7])[:, None] * np.ones((2, 20_000))  # two starting values, 20,000 chains each
    x, checked = x0.copy(), 0
    for t, beta in enumerate(betas):
        x = np.sqrt(1 - beta) * x + np.sqrt(beta) * rng.standard_normal(x.shape)
        if t in (9, 99, 499, 999):
            draws = q_sample(torch.tensor(x0[:, :1]), torch.tensor([t, t]), torch.zeros(2, 1), ab)  # the mean
            std_err = np.sqrt((1 - float(ab[t])) / 20_000)
            np.testing.assert_allclose(x.mean(1), draws[:, 0].numpy(), atol=5 * std_err)
            np.testing.assert_allclose(x.var(1), 1 - float(ab[t]), rtol=0.05)
            checked += 1
    assert checked == 4


def test_simple_loss_by_hand():
    """Two one-pixel images: abar 0.64 and 0.36, x_0 = 1 and -1, eps = 0.5 and 2, eps_theta(x, t) = x.
    x_t = 0.8 * 1 + 0.6 * 0.5 = 1.1 and 0.6 * -1 + 0.8 * 2 = 1.0; loss = ((0.5 - 1.1)^2 + (2 - 1)^2) / 2 = 0.68."""
    x0 = torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)
    noise = torch.tensor([0.5, 2.0]).view(2, 1, 1, 1)
    seen = []

    def eps_fn(x, t):
        seen.append(t.tolist())
        return x

    loss = simple_loss(eps_fn, x0, torch.tensor([0, 1]), noise, torch.tensor([0.64, 0.36], dtype=torch.float64))
    assert loss.item() == pytest.approx(0.68, abs=1e-6) and seen == [[0, 1]]


def test_the_family_loss_draws_t_uniformly_and_eps_standard_normal():
    fam = _family(timesteps=1000)
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    calls = []
    net = lambda xt, t, y: calls.append((xt, t, y)) or 0.5 * xt  # noqa: E731
    torch.manual_seed(3)
    loss = fam.loss(net, x, None)
    torch.manual_seed(3)
    t, noise = torch.randint(0, 1000, (4,)), torch.randn_like(x)
    ab = torch.tensor(_numpy_alpha_bar("linear")[t.numpy()], dtype=torch.float32).view(4, 1, 1, 1)
    xt = ab.sqrt() * x + (1 - ab).sqrt() * noise
    assert torch.equal(calls[0][1], t.float()) and calls[0][2] is None
    torch.testing.assert_close(calls[0][0], xt)
    torch.testing.assert_close(loss, (noise - 0.5 * xt).pow(2).mean())


def test_spaced_timesteps():
    assert spaced_timesteps(1000, 1000) == list(range(999, -1, -1))
    for steps in (1, 2, 7, 50, 999):
        ts = spaced_timesteps(1000, steps)
        assert len(ts) == len(set(ts)) == steps and ts == sorted(ts, reverse=True) and ts[0] == 999
        assert steps == 1 or ts[-1] == 0
    with pytest.raises(GanforgeError, match="1..1000"):
        spaced_timesteps(1000, 1001)


def _gaussian_eps(ab: torch.Tensor, m: float, s: float):
    """The exact noise predictor for data N(m, s^2): E[eps | x_t] = sqrt(1 - a)(x - sqrt(a) m) / (a s^2 + 1 - a)."""
    def eps(x, t):
        a = float(ab[t])
        return math.sqrt(1 - a) * (x - math.sqrt(a) * m) / (a * s * s + 1 - a)
    return eps


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddim_with_the_exact_noise_predictor_maps_noise_to_the_data_gaussian(schedule):
    """With eps linear in x, DDIM (eta = 0) is an affine map: its images of 0 and 1 give the mean and std it
    maps N(0, 1) to, which approach the data's N(0.5, 0.3^2) as the steps grow."""
    ab = alpha_bars(SCHEDULES.get(schedule)(1000))
    eps = _gaussian_eps(ab, 0.5, 0.3)
    errors = []
    for steps in (20, 100, 1000):
        y = ddim_sample(eps, torch.tensor([0.0, 1.0], dtype=torch.float64), ab, spaced_timesteps(1000, steps),
                        clip=False)
        errors.append(abs(y[0].item() - 0.5) + abs((y[1] - y[0]).item() - 0.3))
    assert errors[2] < 0.003 and errors[2] < errors[1] < errors[0]


def test_ancestral_sampling_with_the_exact_noise_predictor_draws_the_data_gaussian():
    ab = alpha_bars(SCHEDULES.get("linear")(1000))
    g = torch.Generator().manual_seed(0)
    n = 20_000
    y = ancestral_sample(_gaussian_eps(ab, 0.5, 0.3), torch.randn(n, generator=g, dtype=torch.float64), ab,
                         spaced_timesteps(1000, 1000), lambda: torch.randn(n, generator=g, dtype=torch.float64),
                         clip=False)
    assert abs(y.mean().item() - 0.5) < 4 * 0.3 / math.sqrt(n) + 2e-3 and abs(y.std().item() - 0.3) < 0.01


@pytest.mark.parametrize("clip,steps", [(False, 10), (True, 10), (True, 1000)])
def test_ancestral_sampling_is_ddim_at_eta_one(clip, steps):
    """Ho et al.'s posterior (eq. 6-7) and Song et al.'s eq. 12 with eta = 1 are the same update: with the same
    noise draws they give the same images."""
    ab = alpha_bars(SCHEDULES.get("cosine")(1000))
    weight = torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    eps = lambda x, t: torch.tanh(x @ weight) * (1 + t / 1000)  # noqa: E731  (any predictor will do)
    x = 2 * torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = []
    for sample in (ancestral_sample, lambda *a, **k: ddim_sample(*a, eta=1.0, **k)):
        g = torch.Generator().manual_seed(3)
        out.append(sample(eps, x, ab, spaced_timesteps(1000, steps), noise=lambda: torch.randn(
            5, 3, generator=g, dtype=torch.float64), clip=clip))
    torch.testing.assert_close(out[0], out[1], rtol=1e-9, atol=1e-9)
    assert not torch.allclose(out[0], ddim_sample(eps, x, ab, spaced_timesteps(1000, steps), clip=clip))


def test_ddim_at_eta_zero_is_deterministic_given_the_start_noise():
    fam = _family(sample_steps=4)
    z = fam.sample_latent(3, torch.Generator().manual_seed(0), device="cpu")
    other_seeds = z.clone()
    other_seeds[:, -1] = torch.randn(3)  # the per-image noise seeds change, the start noise does not
    torch.manual_seed(1)
    a = generate_uint8(fam, z, use_ema=False)
    torch.manual_seed(2)
    b = generate_uint8(fam, other_seeds, use_ema=False)
    assert torch.equal(a, b)
    with fam.sampling(SamplerRequest(eta=1.0)):  # fresh noise: the seeds matter, the global RNG does not
        torch.manual_seed(1)
        c = generate_uint8(fam, z, use_ema=False)
        torch.manual_seed(2)
        assert torch.equal(c, generate_uint8(fam, z, use_ema=False, chunk=2))
        assert not torch.equal(c, generate_uint8(fam, other_seeds, use_ema=False))
    assert not torch.equal(a, c)


def test_ancestral_samples_do_not_depend_on_the_chunk():
    fam = _family(sampler="ancestral", sample_steps=3)
    z = fam.sample_latent(5, torch.Generator().manual_seed(0), device="cpu")
    whole = fam.generate(z, use_ema=False)
    parts = torch.cat([fam.generate(z[:2], use_ema=False), fam.generate(z[2:], use_ema=False)])
    torch.testing.assert_close(whole, parts, rtol=0, atol=1e-4)  # per-image noise: only conv batching differs
    reseeded = z.clone()
    reseeded[:, -1] = reseeded[:, -1].flip(0)  # the same start noise with other images' noise streams
    assert (fam.generate(reseeded, use_ema=False) - whole).abs().amax() > 0.05


@pytest.mark.parametrize("options,request_,match", [
    ({}, SamplerRequest(sampler="euler"), "unknown ddpm sampler 'euler'"),
    ({"timesteps": 100}, SamplerRequest(steps=101), r"1\.\.100"),
    ({}, SamplerRequest(steps=0), "steps"),
    ({"sampler": "ancestral"}, SamplerRequest(eta=0.5), "'ancestral' has no eta"),
    ({}, SamplerRequest(eta=-1.0), "eta must be >= 0"),
    ({}, SamplerRequest(guidance=2.0), "class-conditional"),
])
def test_bad_sampler_settings_are_one_line_errors(options, request_, match):
    fam = _family(**options)
    with pytest.raises(GanforgeError, match=match) as info:
        with fam.sampling(request_):
            pass
    assert "\n" not in str(info.value)
    assert fam.settings.steps == 50  # the model's own settings are untouched


@pytest.mark.parametrize("options,match", [({"schedule": "quadratic"}, "unknown noise schedule 'quadratic'"),
                                           ({"timesteps": 1}, "timesteps"), ({"p_uncond": 1.0}, "p_uncond"),
                                           ({"guidance": 1.0}, "class-conditional"), ({"sampler": "heun"}, "heun"),
                                           ({"steps": 5}, "no option 'steps'"), ({"class_cond": True}, None)])
def test_bad_options_are_one_line_errors(options, match):
    if match is None:  # class_cond on unlabelled data
        cfg = ModelConfig(family="ddpm", generator={"name": "time-unet", "width": 8}, discriminator={}, options=options)
        with pytest.raises(GanforgeError, match="labelled data"):
            FAMILIES.get("ddpm")(cfg, NetShape(1, 28, 8, 0))
        return
    with pytest.raises(GanforgeError, match=match) as info:
        _family(**options)
    assert "\n" not in str(info.value)


def test_one_pass_families_refuse_sampler_settings():
    cfg = ModelConfig(family="gan", generator={"name": "lucic-g"}, discriminator={"name": "lucic-d"})
    gan = FAMILIES.get("gan")(cfg, SHAPE)
    with gan.sampling() as record:
        assert record == {"nfe_per_image": 1}
    with pytest.raises(GanforgeError, match="^steps: model family 'gan' draws each image in one network evaluation"):
        gan.sampling(SamplerRequest(steps=10))
