"""ganforge.metrics against independent computations written here (scipy / brute-force numpy)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.spatial.distance import cdist
from scipy.special import logsumexp, softmax

import ganforge.metrics as M
from ganforge.errors import GanforgeError

CHUNKS = (1, 7, 100_000)


def rand(seed: int, n: int, d: int, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) * scale + shift


def test_exports_exactly():
    assert sorted(M.__all__) == sorted([
        "frechet_distance", "frechet_from_stats", "kid", "inception_score", "parzen_log_likelihood",
        "select_parzen_sigma", "pca_basis", "ddm", "ddm_relative", "precision_recall", "density_coverage",
        "nearest_neighbour_distances", "memorisation_summary", "conditional_accuracy",
        "l1_error", "l2_distance", "psnr", "ssim", "paired_scores"])
    for name in M.__all__:
        assert callable(getattr(M, name))


# ---------------------------------------------------------------- FID

def fid_sqrtm(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_matches_sqrtm_formula():
    a, b = rand(0, 200, 8), rand(1, 150, 8, scale=1.3, shift=0.4)
    assert M.frechet_distance(a, b) == pytest.approx(fid_sqrtm(a, b), rel=1e-8)
    # torch input, float32, gives the same answer as the float64 numpy path on the same values
    a32 = a.astype(np.float32)
    assert M.frechet_distance(torch.from_numpy(a32), b) == pytest.approx(fid_sqrtm(a32.astype(np.float64), b), rel=1e-8)


def test_fid_identical_zero_and_shift_positive():
    a = rand(2, 120, 6)
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    shifted = M.frechet_distance(a, a + 0.5)
    assert shifted == pytest.approx(6 * 0.25, rel=1e-8)  # only the mean term changes
    assert M.frechet_distance(a, a + 1.0) > shifted > 0


def test_frechet_from_stats_validation():
    with pytest.raises(GanforgeError, match="s2"):
        M.frechet_from_stats(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
    with pytest.raises(GanforgeError, match="f2 must have shape"):
        M.frechet_distance(rand(0, 10, 3), rand(0, 10, 4))


# ---------------------------------------------------------------- KID

def mmd2_loops(x: np.ndarray, y: np.ndarray) -> float:
    m, d = x.shape
    k = lambda u, v: (float(np.dot(u, v)) / d + 1.0) ** 3  # noqa: E731
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return sxx / (m * (m - 1)) + syy / (m * (m - 1)) - 2 * sxy / (m * m)


def test_kid_one_subset_of_everything_is_exact_mmd():
    x, y = rand(3, 40, 5), rand(4, 40, 5, shift=0.3)
    mean, std = M.kid(x, y, subset_size=1000, subsets=1)
    assert mean == pytest.approx(mmd2_loops(x, y), rel=1e-10)
    assert std == 0.0


def test_kid_subsets_reproducible_and_positive_for_shift():
    x, y = rand(5, 120, 6), rand(6, 100, 6, shift=1.0)
    a = M.kid(x, y, subset_size=50, subsets=20, seed=3)
    assert a == M.kid(x, y, subset_size=50, subsets=20, seed=3)
    assert a[0] > 0 and a[1] > 0
    same = M.kid(x, rand(7, 100, 6), subset_size=50, subsets=20)
    assert abs(same[0]) < a[0]


# ---------------------------------------------------------------- Inception Score

def is_numpy(logits: np.ndarray, splits: int) -> tuple[float, float]:
    p = softmax(logits.astype(np.float64), axis=1)
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        py = part.mean(0)
        kl = (part * (np.log(part) - np.log(py))).sum(1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


def test_inception_score_matches_numpy():
    logits = rand(8, 103, 12, scale=3.0)
    mean, std = M.inception_score(logits, splits=10)
    ref = is_numpy(logits, 10)
    assert mean == pytest.approx(ref[0], rel=1e-10)
    assert std == pytest.approx(ref[1], rel=1e-8)


def test_inception_score_uniform_confident_is_num_classes():
    classes = 10
    labels = np.tile(np.arange(classes), 20)
    logits = np.full((len(labels), classes), -50.0)
    logits[np.arange(len(labels)), labels] = 50.0
    mean, std = M.inception_score(logits, splits=4)
    assert mean == pytest.approx(classes, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------- Parzen

def parzen_brute(samples: np.ndarray, data: np.ndarray, sigma: float) -> np.ndarray:
    sq = ((data[:, None, :] - samples[None, :, :]) ** 2).sum(-1)
    d = samples.shape[1]
    norm = math.log(len(samples)) + d * math.log(sigma * math.sqrt(2 * math.pi))
    return logsumexp(-sq / (2 * sigma ** 2), axis=1) - norm


@pytest.mark.parametrize("chunk", CHUNKS)
def test_parzen_matches_brute_force(chunk):
    rng = np.random.default_rng(9)
    samples, data = rng.random((150, 20)), rng.random((60, 20))
    for sigma in (0.1, 0.3, 1.0):
        got = M.parzen_log_likelihood(samples, data, sigma, chunk=chunk)
        assert got.shape == (60,) and got.dtype == np.float64
        np.testing.assert_allclose(got, parzen_brute(samples, data, sigma), rtol=1e-6, atol=0)


def test_parzen_chunk_invariance_exactish():
    rng = np.random.default_rng(10)
    samples, data = rng.random((90, 16)), rng.random((50, 16))
    base = M.parzen_log_likelihood(samples, data, 0.2, chunk=100_000)
    for chunk in (1, 7):
        np.testing.assert_allclose(M.parzen_log_likelihood(samples, data, 0.2, chunk=chunk), base, rtol=1e-12)


def test_select_parzen_sigma_grid_argmax():
    rng = np.random.default_rng(11)
    samples, valid = rng.random((120, 10)), rng.random((40, 10))
    grid = np.logspace(-1, 0, 10)
    expected = grid[np.argmax([parzen_brute(samples, valid, s).mean() for s in grid])]
    assert M.select_parzen_sigma(samples, valid) == pytest.approx(expected)
    for chunk in (1, 7):
        assert M.select_parzen_sigma(samples, valid, chunk=chunk) == pytest.approx(expected)
    custom = [0.05, 0.5, 2.0]
    expected = custom[int(np.argmax([parzen_brute(samples, valid, s).mean() for s in custom]))]
    assert M.select_parzen_sigma(samples, valid, sigmas=custom) == pytest.approx(expected)


def test_parzen_validation():
    with pytest.raises(GanforgeError, match="data must have shape \\(n, 5\\)"):
        M.parzen_log_likelihood(rand(0, 10, 5), rand(0, 10, 4), 0.1)
    with pytest.raises(GanforgeError, match="samples must be a 2-D array"):
        M.parzen_log_likelihood(np.zeros(5), rand(0, 10, 5), 0.1)
    with pytest.raises(GanforgeError, match="sigma"):
        M.parzen_log_likelihood(rand(0, 10, 5), rand(0, 10, 5), -1.0)
    with pytest.raises(GanforgeError, match="chunk"):
        M.parzen_log_likelihood(rand(0, 10, 5), rand(0, 10, 5), 0.1, chunk=0)


# ---------------------------------------------------------------- DDM

def ddm_loops(test: np.ndarray, gen: np.ndarray) -> float:
    total = 0.0
    for t in test:
        s = 0.0
        for g in gen:
            s += math.exp(-float(((t - g) ** 2).sum()) / 2)
        total += -math.log(s / len(gen))
    return total / len(test)


def log_mean_exp_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([math.log(np.mean([math.exp(-float(((x - y) ** 2).sum()) / 2) for y in b])) for x in a])


@pytest.mark.parametrize("chunk", CHUNKS)
def test_ddm_matches_double_loop(chunk):
    test, gen = rand(12, 30, 5, scale=0.7), rand(13, 25, 5, scale=0.7, shift=0.2)
    assert M.ddm(test, gen, chunk=chunk) == pytest.approx(ddm_loops(test, gen), rel=1e-10)


def test_ddm_stable_far_apart_and_increasing_with_shift():
    test = rand(14, 80, 10)
    values = [M.ddm(test, rand(15, 80, 10) + s) for s in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(b > a for a, b in zip(values, values[1:]))
    far = M.ddm(test, test + 100.0)  # exp(-D) underflows everywhere; logsumexp keeps it finite
    gen = test + 100.0
    expected = -np.mean(logsumexp(-cdist(test, gen, "sqeuclidean") / 2, axis=1) - math.log(len(gen)))
    assert np.isfinite(far) and far > values[-1] and far == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_ddm_relative_matches_loops(chunk):
    train, test, gen = rand(16, 20, 4), rand(17, 15, 4), rand(18, 18, 4, shift=0.5)
    expected = float(np.mean(log_mean_exp_rows(train, test) - log_mean_exp_rows(train, gen)))
    assert M.ddm_relative(train, test, gen, chunk=chunk) == pytest.approx(expected, rel=1e-10)
    assert M.ddm_relative(train, test, test, chunk=chunk) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(GanforgeError, match="gen_emb must have shape \\(n, 4\\)"):
        M.ddm_relative(train, test, rand(0, 5, 3))


# ---------------------------------------------------------------- precision / recall, density / coverage

def kth_radius(x: np.ndarray, k: int) -> np.ndarray:
    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def pr_brute(real, fake, k):
    rr, rf = kth_radius(real, k), kth_radius(fake, k)
    d = cdist(real, fake)  # (n_real, n_fake)
    precision = (d <= rr[:, None]).any(axis=0).mean()
    recall = (d <= rf[None, :]).any(axis=1).mean()
    return precision, recall


def dc_brute(real, fake, k):
    rr = kth_radius(real, k)
    d = cdist(real, fake)
    density = (d < rr[:, None]).sum() / (k * len(fake))
    coverage = (d.min(axis=1) < rr).mean()
    return density, coverage


@pytest.mark.parametrize("chunk", CHUNKS)
def test_precision_recall_matches_brute_force(chunk):
    real, fake = rand(19, 120, 6), rand(20, 90, 6, scale=0.6, shift=0.7)
    got = M.precision_recall(real, fake, k=3, chunk=chunk)
    ref = pr_brute(real, fake, 3)
    assert got == pytest.approx(ref, abs=1e-12)
    assert 0 < got[0] < 1 and 0 < got[1] < 1


@pytest.mark.parametrize("chunk", CHUNKS)
def test_density_coverage_matches_brute_force(chunk):
    real, fake = rand(21, 110, 7), rand(22, 130, 7, scale=0.8, shift=0.4)
    got = M.density_coverage(real, fake, k=5, chunk=chunk)
    assert got == pytest.approx(dc_brute(real, fake, 5), abs=1e-12)
    assert 0 < got[1] < 1


def test_prdc_identical_sets():
    x = rand(23, 100, 5)
    assert M.precision_recall(x, x) == (1.0, 1.0)
    assert M.density_coverage(x, x)[1] == 1.0


# ---------------------------------------------------------------- nearest neighbours

@pytest.mark.parametrize("chunk", CHUNKS)
def test_nearest_neighbours_match_cdist(chunk):
    q, ref = rand(24, 70, 9), rand(25, 130, 9)
    d = cdist(q, ref)
    order = np.argsort(d, axis=1)[:, :4]
    dist, idx = M.nearest_neighbour_distances(q, ref, k=4, chunk=chunk)
    assert dist.shape == (70, 4) and dist.dtype == np.float64 and idx.dtype == np.int64
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_allclose(dist, np.take_along_axis(d, order, axis=1), rtol=1e-9)


def test_nearest_neighbours_exclude_self_and_validation():
    x = rand(26, 50, 5)
    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    dist, idx = M.nearest_neighbour_distances(x, x, k=2, chunk=7, exclude_self=True)
    np.testing.assert_array_equal(idx, np.argsort(d, axis=1)[:, :2])
    with pytest.raises(GanforgeError, match="k must be"):
        M.nearest_neighbour_distances(x, x[:3], k=4)
    with pytest.raises(GanforgeError, match="reference must have shape \\(n, 5\\)"):
        M.nearest_neighbour_distances(x, rand(0, 5, 6))


def test_memorisation_summary():
    rng = np.random.default_rng(27)
    train, test = rng.normal(size=(200, 8)), rng.normal(size=(100, 8))
    gen = np.concatenate([train[:10] + 1e-3 * rng.normal(size=(10, 8)), rng.normal(size=(90, 8))])
    out = M.memorisation_summary(gen, train, test, chunk=7)
    d_gen = cdist(gen, train).min(1)
    d_test = cdist(test, train).min(1)
    assert out["median_ratio"] == pytest.approx(np.median(d_gen) / np.median(d_test), rel=1e-9)
    assert out["share_below_test_p1"] == pytest.approx(np.mean(d_gen < np.percentile(d_test, 1)))
    assert out["share_below_test_p1"] >= 0.1
    pairs = out["closest_pairs"]
    assert len(pairs) == 8
    assert {g for g, _, _ in pairs} <= set(range(10)) and all(g == t for g, t, _ in pairs)
    assert [p[2] for p in pairs] == sorted(p[2] for p in pairs)
    np.testing.assert_allclose(np.array(pairs)[:, 2], np.sort(d_gen)[:8], rtol=1e-6)
    big = M.memorisation_summary(gen, train, test, chunk=100_000)
    assert [p[:2] for p in big["closest_pairs"]] == [p[:2] for p in pairs]
    for key in ("median_ratio", "share_below_test_p1", "test_p1"):
        assert big[key] == pytest.approx(out[key], rel=1e-12)


# ---------------------------------------------------------------- shared input handling

def test_torch_and_numpy_inputs_agree_and_inputs_untouched():
    real, fake = rand(28, 60, 5), rand(29, 50, 5, shift=0.3)
    keep = real.copy()
    assert M.precision_recall(torch.from_numpy(real), torch.from_numpy(fake).float().double()) == \
        M.precision_recall(real, fake)
    assert M.ddm(torch.from_numpy(real), fake) == M.ddm(real, fake)
    np.testing.assert_array_equal(real, keep)


@pytest.mark.parametrize("call, message", [
    (lambda: M.precision_recall(np.zeros(5), rand(0, 5, 5)), "real must be a 2-D array"),
    (lambda: M.density_coverage(rand(0, 5, 5), rand(0, 5, 2)), "fake must have shape \\(n, 5\\) to match real"),
    (lambda: M.ddm(np.full((3, 2), np.nan), rand(0, 4, 2)), "test_emb must be finite"),
    (lambda: M.kid(rand(0, 5, 3), np.zeros((0, 3))), "f2 must have at least one row"),
    (lambda: M.inception_score(rand(0, 5, 3), splits=6), "splits must be at most"),
    (lambda: M.memorisation_summary(rand(0, 5, 3), rand(0, 5, 3), rand(0, 5, 4)), "test must have shape \\(n, 3\\)"),
    (lambda: M.nearest_neighbour_distances(rand(0, 5, 3), rand(0, 5, 3), chunk=2.5), "chunk must be a positive"),
])
def test_validation_messages(call, message):
    with pytest.raises(GanforgeError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- conditional accuracy

def test_conditional_accuracy_counts_argmax_hits():
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(97, 6))
    labels = rng.integers(0, 6, 97)
    hits = sum(1 for row, y in zip(logits.tolist(), labels.tolist()) if max(range(6), key=row.__getitem__) == y)
    assert M.conditional_accuracy(logits, labels) == pytest.approx(hits / 97, abs=1e-15)
    # labels equal to each row's argmax score 1; torch inputs give the same
    assert M.conditional_accuracy(torch.from_numpy(logits), torch.from_numpy(logits.argmax(1))) == 1.0
    assert M.conditional_accuracy(logits, (logits.argmax(1) + 1) % 6) == 0.0


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 1, 3]), "labels must lie in 0..2"),
    (np.array([0, -1, 1]), "labels must lie in 0..2"),
    (np.array([0, 1]), r"labels must be 3 integers shaped \(3,\)"),
    (np.array([0.0, 1.0, 2.0]), "labels must be 3 integers"),
])
def test_conditional_accuracy_validation(labels, message):
    with pytest.raises(GanforgeError, match=message):
        M.conditional_accuracy(np.eye(3), labels)


def test_an_exact_copy_is_at_distance_exactly_zero_on_any_cpu():
    """The fast expansion ||x||^2 + ||y||^2 - 2 x.y rounds by the CPU's kernel (3e-8 for a copied Fashion-MNIST
    image with AVX-512): the winners are re-measured from the differences, so a copy is at 0.0 exactly and
    every distance equals the direct one computed here."""
    rng = np.random.default_rng(0)
    train = rng.random((300, 784)) * rng.random((300, 1)) * 40.0  # large, uneven norms
    queries = np.concatenate([train[[5, 17, 250]], rng.random((4, 784))])
    dist, idx = M.nearest_neighbour_distances(queries, train, k=3, chunk=2)
    assert dist[:3, 0].tolist() == [0.0, 0.0, 0.0] and idx[:3, 0].tolist() == [5, 17, 250]
    direct = np.sqrt(((queries[:, None, :] - train[None]) ** 2).sum(-1))
    np.testing.assert_allclose(dist, np.sort(direct, axis=1)[:, :3], rtol=1e-12)
