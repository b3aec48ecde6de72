"""score/eval orchestration: values match an independent computation, protocol recorded, features cached."""
from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

import ganforge
from ganforge import evaluation as evaluate
from ganforge.evaluation import cache as cache_module, scoring as scoring_module
from ganforge.cli import main

from conftest import TINY, needs_fashion


def _fid_reference(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.fixture
def two_sets(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (60, 4, 4, 1), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 60, a.shape), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "a.npz", images=a)
    np.save(tmp_path / "b.npy", b[..., 0])  # (N, H, W) layout too
    return tmp_path / "a.npz", tmp_path / "b.npy", a.reshape(60, -1) / 255.0, b.reshape(60, -1) / 255.0


def test_score_json_matches_independent_fid_and_records_protocol(two_sets, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    a, b, fa, fb = two_sets
    assert main(["score", str(a), str(b), "--metrics", "fid,kid", "--features", "pixels", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fid"] == pytest.approx(_fid_reference(fa, fb), rel=1e-6)
    assert out["fid"] > 0 and np.isfinite(out["kid"])
    proto = out["protocol"]
    assert proto["inputs"] == [str(a), str(b)] and proto["n"] == [60, 60] and proto["seed"] == 0
    assert proto["features"]["pixels"]["dim"] == 16
    assert set(proto["metrics"]) == {"fid", "kid"} and proto["ganforge_version"] == ganforge.__version__


def test_identical_sets_score_zero(two_sets, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    a, _, _, _ = two_sets
    out = evaluate.score(str(a), str(a), ["fid", "prdc"], "pixels")
    assert abs(out["fid"]) < 1e-6 and out["precision"] == 1.0 and out["recall"] == 1.0


def test_reference_features_are_cached(two_sets, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    a, b, _, _ = two_sets
    calls = []
    real_extract = cache_module.extract
    monkeypatch.setattr(cache_module, "extract",
                        lambda ext, images: calls.append(len(images)) or real_extract(ext, images))
    first = evaluate.score(str(a), str(b), ["fid"], "pixels")
    assert len(calls) == 2 and len(list((tmp_path / "cache" / "features").iterdir())) == 2
    second = evaluate.score(str(a), str(b), ["fid"], "pixels")
    assert len(calls) == 2 and second["fid"] == first["fid"]  # nothing recomputed
    evaluate.score(str(a), str(b), ["fid"], "pixels", n=30)  # other images (a subset) are another key
    assert len(calls) == 4


def test_a_file_rewritten_under_the_same_name_is_scored_anew(two_sets, tmp_path, monkeypatch):
    """The feature cache is keyed on content: re-sampling into the same samples.npz must change the score
    (a cache keyed on the file name returned the old FID)."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    a, _, a_px, _ = two_sets
    rng = np.random.default_rng(1)
    samples = tmp_path / "samples.npz"
    first_images = rng.integers(0, 256, (60, 4, 4, 1), dtype=np.uint8)
    np.savez(samples, images=first_images)
    first = evaluate.score(str(a), str(samples), ["fid"], "pixels")
    second_images = rng.integers(0, 128, (60, 4, 4, 1), dtype=np.uint8)
    np.savez(samples, images=second_images)
    second = evaluate.score(str(a), str(samples), ["fid"], "pixels")
    expected = _fid_reference(a_px, second_images.reshape(60, -1) / 255.0)
    assert second["fid"] == pytest.approx(expected, rel=1e-6) and second["fid"] != pytest.approx(first["fid"])
    images = torch.from_numpy(second_images).permute(0, 3, 1, 2).contiguous()
    digest = hashlib.sha1(repr(tuple(images.shape)).encode() + images.numpy().tobytes()).hexdigest()
    assert second["protocol"]["content_sha1"][1] == digest


def test_the_same_relative_path_in_two_folders_never_collides(two_sets, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    a, _, a_px, _ = two_sets
    rng = np.random.default_rng(2)
    values = []
    for folder, high in (("one", 256), ("two", 64)):
        (tmp_path / folder).mkdir()
        images = rng.integers(0, high, (60, 4, 4, 1), dtype=np.uint8)
        np.savez(tmp_path / folder / "s.npz", images=images)
        monkeypatch.chdir(tmp_path / folder)
        got = evaluate.score(str(a), "s.npz", ["fid"], "pixels")["fid"]
        values.append((got, _fid_reference(a_px, images.reshape(60, -1) / 255.0)))
    assert all(got == pytest.approx(want, rel=1e-6) for got, want in values)


def test_unknown_metric_is_a_user_error(two_sets, capsys):
    a, b, _, _ = two_sets
    assert main(["score", str(a), str(b), "--metrics", "fid,nope"]) == 2
    assert "unknown metric 'nope'" in capsys.readouterr().err


@needs_fashion
def test_eval_run_writes_a_record_naming_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    ganforge.train("quickstart", tmp_path / "r", steps=2, **TINY)
    result, out = evaluate.evaluate_run(tmp_path / "r", ["fid", "ddm"], "pixels", n=100)
    record = json.loads(out.read_text())
    assert out.name == "step-0000002.json" and record["fid"] == pytest.approx(result["fid"])
    assert record["protocol"]["step"] == 2 and record["protocol"]["checkpoint"].endswith("step-0000002.pt")
    assert record["protocol"]["inputs"][0] == "fashion-mnist:test"


@needs_fashion
def test_parzen_follows_the_goodfellow_protocol(tmp_path, monkeypatch):
    """sigma from the grid maximising valid[:1000] log-likelihood; test mean and standard error."""
    from scipy.special import logsumexp

    from ganforge.data import load_dataset

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    gen = load_dataset("fashion-mnist:train[:300]").images
    np.savez(tmp_path / "gen.npz", images=gen.permute(0, 2, 3, 1).numpy())
    out = evaluate.score("fashion-mnist:test", str(tmp_path / "gen.npz"), ["parzen"], n=300)

    def ll(x, mu, sigma):  # brute force: every pair, float64
        d2 = ((x[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
        return logsumexp(-d2 / (2 * sigma ** 2), axis=1) - np.log(len(mu)) - mu.shape[1] * np.log(sigma * np.sqrt(2 * np.pi))

    mu = gen.reshape(300, -1).numpy() / 255.0
    valid = load_dataset("fashion-mnist:valid[:1000]").images.reshape(1000, -1).numpy() / 255.0
    sigmas = np.logspace(-1, 0, 10)
    best = sigmas[np.argmax([np.mean(np.concatenate([ll(valid[i:i + 100], mu, s) for i in range(0, 1000, 100)]))
                             for s in sigmas])]
    test_images, _ = evaluate.load_input("fashion-mnist:test", 300, 0)
    lls = ll(test_images.reshape(300, -1).numpy() / 255.0, mu, best)
    assert out["parzen_sigma"] == pytest.approx(best)
    assert out["parzen"] == pytest.approx(lls.mean(), rel=1e-6)
    assert out["parzen_se"] == pytest.approx(lls.std() / np.sqrt(300), rel=1e-6)


@needs_fashion
def test_parzen_pca_and_relative_ddm_match_direct_computations(tmp_path, monkeypatch):
    """parzen-pca: PCA of train[:10000] by an eigendecomposition of its covariance (not the SVD the code
    uses), the fewest components holding 95%, then brute-force Parzen; ddm-relative and ddm-sum on pixels
    against eq. 3.4 and 3.5 written out with scipy's logsumexp over every pair."""
    from scipy.special import logsumexp

    from ganforge.data import load_dataset

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    gen = load_dataset("fashion-mnist:train[1000:1200]").images
    np.savez(tmp_path / "gen.npz", images=gen.permute(0, 2, 3, 1).numpy())
    out = evaluate.score("fashion-mnist:test", str(tmp_path / "gen.npz"), ["parzen-pca", "ddm-relative", "ddm-sum"],
                         features="pixels", n=200)
    flat = lambda images: images.reshape(len(images), -1).numpy().astype(np.float64) / 255.0  # noqa: E731
    train = flat(load_dataset("fashion-mnist:train[:10000]").images)
    evals, evecs = np.linalg.eigh(np.cov(train, rowvar=False))
    evals, evecs = evals[::-1], evecs[:, ::-1]
    k = int(np.argmax(np.cumsum(evals) / evals.sum() >= 0.95)) + 1
    project = lambda x: (x - train.mean(0)) @ evecs[:, :k]  # noqa: E731
    test_images, _ = evaluate.load_input("fashion-mnist:test", 200, 0)
    mu, test = project(flat(gen)), project(flat(test_images))
    valid = project(flat(load_dataset("fashion-mnist:valid[:1000]").images))

    def ll(x, sigma):
        d2 = ((x[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
        return logsumexp(-d2 / (2 * sigma ** 2), axis=1) - np.log(len(mu)) - k * np.log(sigma * np.sqrt(2 * np.pi))

    sigmas = np.logspace(-1, 0, 10)
    best = sigmas[np.argmax([ll(valid, s).mean() for s in sigmas])]
    assert out["parzen_pca_dims"] == k and 20 < k < 300
    assert out["parzen_pca_sigma"] == pytest.approx(best)
    assert out["parzen_pca"] == pytest.approx(ll(test, best).mean(), rel=1e-6)

    def log_mean_affinity(x, y):
        d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return logsumexp(-d2 / 2, axis=1) - np.log(len(y))

    t, g = flat(test_images), flat(gen)
    r = flat(load_dataset("fashion-mnist:train[:200]").images)
    relative = float(np.mean(log_mean_affinity(r, t) - log_mean_affinity(r, g)))
    assert out["ddm_relative"] == pytest.approx(relative, rel=1e-6)
    assert out["ddm_sum"] == pytest.approx(relative - log_mean_affinity(t, g).mean(), rel=1e-6)
    assert out["protocol"]["metrics"]["ddm-relative"]["equation"] == "Basart 2017 eq. 3.5"


@needs_fashion
def test_parzen_warns_when_sigma_is_chosen_on_training_images(tmp_path, monkeypatch, capsys):
    """valid is the last 10,000 training images: a run trained on them gets a warning and the protocol
    says so; a run trained on the first images does not."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    tail = ganforge.train("quickstart", tmp_path / "tail", steps=1, **{**TINY, "data": "fashion-mnist:train[50000:51000]"})
    assert main(["eval", str(tail), "--metrics", "parzen", "--n", "100", "--json"]) == 0
    captured = capsys.readouterr()
    note = json.loads(captured.out)["protocol"]["metrics"]["parzen"]
    assert note["valid_in_training"] == "1000/1000" and note["trained_on"] == "fashion-mnist:train[50000:51000]"
    warning = [line for line in captured.err.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith("ganforge: warning: parzen: 1000 of the 1000 images")
    head = ganforge.train("quickstart", tmp_path / "head", steps=1, **TINY)  # fashion-mnist:train[:512]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        result, _ = evaluate.evaluate_run(head, ["parzen"], n=100)
    assert result["protocol"]["metrics"]["parzen"]["valid_in_training"] == "0/1000"


@needs_fashion
def test_memorisation_flags_copies_of_training_images(tmp_path, monkeypatch):
    from ganforge.data import load_dataset

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    copies = load_dataset("fashion-mnist:train[:200]").images.permute(0, 2, 3, 1).numpy()
    np.savez(tmp_path / "copies.npz", images=copies)
    out = evaluate.score("fashion-mnist:test", str(tmp_path / "copies.npz"), ["memorisation"], n=200)
    assert out["nn_median_ratio"] == 0.0 and out["nn_share_below_test_p1"] == 1.0


@needs_fashion
def test_eval_records_merge_metrics_of_the_same_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    ganforge.train("quickstart", tmp_path / "r", steps=1, **TINY)
    evaluate.evaluate_run(tmp_path / "r", ["fid"], "pixels", n=100)
    _, out = evaluate.evaluate_run(tmp_path / "r", ["prdc"], "pixels", n=100)
    record = json.loads(out.read_text())
    assert {"fid", "precision", "coverage"} <= set(record) and set(record["protocol"]["metrics"]) == {"fid", "prdc"}
    _, out = evaluate.evaluate_run(tmp_path / "r", ["prdc"], "pixels", n=50)  # another protocol replaces it
    assert "fid" not in json.loads(out.read_text())


# ---------------------------------------------------------------- evidence for the report, conditional accuracy

def _distinct_pixel_images(seed: int, n: int) -> np.ndarray:
    """uint8 (n, 2, 2, 1) images with four distinct pixel values: the "pixels" features then act as the
    logits of a 4-class classifier whose class is the brightest pixel (no ties)."""
    rng = np.random.default_rng(seed)
    values = np.stack([rng.choice(256, 4, replace=False) for _ in range(n)]).astype(np.uint8)
    return values.reshape(n, 2, 2, 1)


def _brightest(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).argmax(1)


def test_modes_keeps_both_class_histograms(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(scoring_module, "check_logits", lambda *args: None)  # pixels stand in for 4-class logits
    real, fake = _distinct_pixel_images(1, 80), _distinct_pixel_images(2, 50)
    fake[:20, 0, 0, 0] = 255  # push class 0 up in the generated set
    np.savez(tmp_path / "real.npz", images=real)
    np.savez(tmp_path / "fake.npz", images=fake)
    result, extras = evaluate.score_with_extras(str(tmp_path / "real.npz"), str(tmp_path / "fake.npz"), ["modes"],
                                                "pixels")
    modes = extras.details["modes"]
    assert modes["generated"] == [int((_brightest(fake) == c).sum()) for c in range(4)]
    assert modes["reference"] == [int((_brightest(real) == c).sum()) for c in range(4)]
    assert modes["classes"] == ["0", "1", "2", "3"] and result["classes_hit"] == 4
    assert "details" not in result  # the printed result keeps its contract: numbers and protocol


def test_modes_names_the_classes_when_it_can():
    logits = np.eye(3)[[0, 0, 2, 1]]
    ctx = evaluate.Context("x:test", None, None, 0, class_names=["<b>shoe</b>", "bag", "coat"])
    evaluate.METRICS.get("modes").fn(logits, logits[:2], ctx)
    assert ctx.extras.details["modes"] == {"classes": ["<b>shoe</b>", "bag", "coat"], "generated": [2, 0, 0],
                                           "reference": [2, 1, 1]}
    ctx = evaluate.Context("x:test", None, None, 0, class_names=["only", "two"])  # wrong count: indices
    evaluate.METRICS.get("modes").fn(logits, logits, ctx)
    assert ctx.extras.details["modes"]["classes"] == ["0", "1", "2"]


def _brute_force_panel(gen: np.ndarray, train: np.ndarray, rows: int = 8, k: int = 5):
    g = gen.reshape(len(gen), -1).astype(np.float64) / 255.0
    t = train.reshape(len(train), -1).astype(np.float64) / 255.0
    d = np.sqrt(((g[:, None, :] - t[None, :, :]) ** 2).sum(-1))  # every pair
    order = np.argsort(d.min(1), kind="stable")[:rows]
    return order, d


def _perturbed_digits(tmp_path):
    from ganforge.data import load_dataset

    pytest.importorskip("sklearn")
    train = load_dataset("digits:train").images.numpy()  # (1437, 1, 8, 8)
    rng = np.random.default_rng(3)
    near = train[rng.choice(len(train), 12, replace=False)].astype(int)
    near = near + rng.integers(-1, 2, near.shape) * rng.integers(1, 40, (12, 1, 1, 1))  # 12 noise levels
    noise = rng.integers(0, 256, (18, 1, 8, 8))
    gen = np.clip(np.concatenate([noise, near]), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "gen.npz", images=gen.transpose(0, 2, 3, 1))
    return gen, train


def test_memorisation_panel_shows_the_true_nearest_training_images(tmp_path, monkeypatch):
    from PIL import Image

    from ganforge.evaluation.panels import cell_origin

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    gen, train = _perturbed_digits(tmp_path)
    _, extras = evaluate.score_with_extras("digits:test", str(tmp_path / "gen.npz"), ["memorisation"], "pixels")
    order, d = _brute_force_panel(gen, train)
    rows = extras.details["memorisation"]["rows"]
    assert [r["generated"] for r in rows] == order.tolist()
    assert all(r["generated"] >= 18 for r in rows[:8])  # the perturbed copies, not the noise
    for r in rows:
        dist = d[r["generated"]]
        assert np.allclose(r["distances"], np.sort(dist)[:5], atol=1e-9)
        assert np.allclose(dist[r["train"]], r["distances"], atol=1e-9)
    details = evaluate.write_pictures(extras, tmp_path / "eval" / "step-0000004.json")
    assert details["memorisation"]["picture"] == "step-0000004-neighbours.png"
    picture = np.asarray(Image.open(tmp_path / "eval" / "step-0000004-neighbours.png"))
    for i, r in enumerate(rows):  # each cell of the written picture is the image the row names
        for c, image in enumerate([gen[r["generated"]]] + [train[t] for t in r["train"]]):
            y, x = cell_origin(i, c, 8, 8)
            assert np.array_equal(picture[y:y + 8, x:x + 8], image[0])


def test_panel_search_without_a_known_order_matches_brute_force(tmp_path):
    import torch

    from ganforge.evaluation.panels import nearest_training_images

    gen, train = _perturbed_digits(tmp_path)
    found = nearest_training_images(torch.from_numpy(gen), torch.from_numpy(train), rows=6, k=3)
    order, d = _brute_force_panel(gen, train, rows=6)
    assert found.generated.tolist() == order.tolist() and found.train.shape == (6, 3)
    assert np.allclose(found.distances, np.sort(d[order], axis=1)[:, :3], atol=1e-9)


def test_cond_acc_scores_npz_labels_against_an_independent_count(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(scoring_module, "check_logits", lambda *args: None)  # pixels stand in for 4-class logits
    images = _distinct_pixel_images(4, 120)
    true = _brightest(images)
    labels = np.where(np.arange(120) % 3 == 0, (true + 1) % 4, true)  # a third of them wrong
    shuffled = np.random.default_rng(5).permutation(labels)
    for name, lab in (("right", labels), ("shuffled", shuffled)):
        np.savez(tmp_path / f"{name}.npz", images=images, labels=lab)
        out = evaluate.score(str(tmp_path / "right.npz"), str(tmp_path / f"{name}.npz"), ["cond-acc"], "pixels")
        assert out["cond_acc"] == pytest.approx(np.mean(true == lab), abs=1e-12)
    assert out["protocol"]["metrics"]["cond-acc"]["features"] == "pixels"


class _StubModel:
    """Stands in for a trained (conditional) model: records the labels it is asked for."""

    def __init__(self, conditional: bool, images: np.ndarray):
        from pathlib import Path
        from types import SimpleNamespace

        self.conditional, self.num_classes, self.step = conditional, 4, 7
        self.checkpoint, self.images, self.asked = Path("step-0000007.pt"), images, []
        self.config = SimpleNamespace(data="stub:train")  # what the run trained on
        self.family = SimpleNamespace(needs_sources=False)  # samples from noise, modifies no source images

    def sample(self, n, seed=0, labels=None):
        import torch

        self.asked.append(labels)
        return torch.from_numpy(self.images[:n].transpose(0, 3, 1, 2).copy())

    paired = unpaired = False  # not an image-to-image model

    def sample_timed(self, n, seed=0, labels=None):
        return self.sample(n, seed, labels), {"nfe_per_image": 1, "images": n, "seconds": 0.0}


def test_cond_acc_samples_a_conditional_run_with_balanced_labels(tmp_path, monkeypatch, capsys):
    from ganforge.evaluation import inputs

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    images = _distinct_pixel_images(6, 40)
    np.savez(tmp_path / "ref.npz", images=images)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    stub = _StubModel(True, images)
    monkeypatch.setattr(inputs, "load", lambda path, checkpoint=None: stub)
    monkeypatch.setattr(scoring_module, "check_logits", lambda *args: None)  # pixels stand in for 4-class logits
    out = evaluate.score(str(tmp_path / "ref.npz"), str(tmp_path / "run"), ["cond-acc"], "pixels", n=40)
    assert stub.asked[0].tolist() == [i % 4 for i in range(40)]
    assert out["cond_acc"] == pytest.approx(np.mean(_brightest(images) == np.arange(40) % 4), abs=1e-12)
    assert "labels i mod 4" in out["protocol"]["kinds"][1]
    stub.conditional = False  # an unconditional run has no labels: a one-line user error, no features computed
    monkeypatch.setattr(cache_module, "extract", lambda *a: pytest.fail("features computed before the check"))
    assert main(["score", str(tmp_path / "ref.npz"), str(tmp_path / "run"), "--metrics", "cond-acc",
                 "--features", "pixels"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"cond-acc: {tmp_path / 'run'} has no class labels (expected a conditional run, a labelled "
                        "DATASET:SPLIT or an .npz with a 'labels' array)") and "\n" not in err


def test_cond_acc_without_labels_is_a_user_error(two_sets, capsys):
    a, b, _, _ = two_sets
    assert main(["score", str(a), str(b), "--metrics", "cond-acc", "--features", "pixels"]) == 2
    assert f"cond-acc: {b} has no class labels" in capsys.readouterr().err


def test_cond_acc_of_real_digits_is_the_classifier_accuracy(mnist5k_classifier, tmp_path, monkeypatch):
    import torch

    from ganforge.data import load_dataset
    from ganforge.features import classifier as clf

    cache, _ = mnist5k_classifier
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    test = load_dataset("mnist-5k:test")
    images, labels = test.images, test.labels.numpy()  # all 1,000: every class (the file is class-sorted)
    model, _ = clf.load_classifier("mnist-5k")
    with torch.no_grad():
        predicted = model(images.float() / 255.0)[0].argmax(1).numpy()
    shuffled = np.random.default_rng(0).permutation(labels)
    for name, lab in (("true", labels), ("shuffled", shuffled)):
        np.savez(tmp_path / f"{name}.npz", images=images.permute(0, 2, 3, 1).numpy(), labels=lab)
        out = evaluate.score("mnist-5k:test", str(tmp_path / f"{name}.npz"), ["cond-acc"], n=1000)
        assert out["cond_acc"] == pytest.approx(np.mean(predicted == lab), abs=1e-12)
    assert np.mean(predicted == labels) > 0.9 and out["cond_acc"] < 0.2  # shuffled: about chance (0.1)


@pytest.mark.parametrize("metric, features, fragment", [
    ("is", "inception", "2048-d pool_3 features"),
    ("modes", "pixels", "features 'pixels' are not"),
    ("cond-acc", "classifier-prelogits", "needs class logits"),
])
def test_probability_metrics_refuse_features_that_are_not_logits(capsys, metric, features, fragment):
    """A softmax of Inception pool features is not an Inception Score: refuse before any work is done."""
    code = main(["score", "digits:test", "digits:train", "--metrics", metric, "--features", features])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err
