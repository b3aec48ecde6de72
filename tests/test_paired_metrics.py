"""Paired metrics (L1, PSNR, SSIM of Wang et al. 2004) against direct computations, and `ganforge eval` of a
pix2pix run reporting them."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import ganforge
from ganforge.errors import GanforgeError
from ganforge.metrics import l1_error, l2_distance, paired_scores, psnr, ssim

from conftest import TINY, needs_fashion


def _pair(n: int = 3, channels: int = 1, h: int = 13, w: int = 14, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, channels, h, w, generator=g, dtype=torch.float64)
    y = (x + 0.2 * torch.randn(n, channels, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x, y


def test_l1_and_psnr_are_their_definitions():
    x, y = _pair()
    a, b = x.numpy(), y.numpy()
    np.testing.assert_allclose(l1_error(x, y).numpy(), np.abs(a - b).mean(axis=(1, 2, 3)), rtol=1e-12)
    mse = ((a - b) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(psnr(x, y).numpy(), 10 * np.log10(1.0 / mse), rtol=1e-12)
    np.testing.assert_allclose(psnr(255 * x, 255 * y, data_range=255).numpy(), 10 * np.log10(1.0 / mse), rtol=1e-10)
    assert math.isinf(psnr(x, x)[0].item())


def test_l2_distance_is_the_euclidean_norm_of_each_pair_difference():
    x, y = _pair(4, 3)
    want = [math.sqrt(sum(float(v) ** 2 for v in (x[i] - y[i]).reshape(-1).tolist())) for i in range(4)]
    np.testing.assert_allclose(l2_distance(x, y).numpy(), want, rtol=1e-12)
    assert l2_distance(x, x).abs().max().item() == 0.0
    with pytest.raises(GanforgeError, match=r"^l2: expected two image batches"):
        l2_distance(x, y[:, :1])


def _ssim_by_windows(a: np.ndarray, b: np.ndarray, size: int = 11, sigma: float = 1.5, r: float = 1.0) -> float:
    """Wang et al. 2004 eq. 13 window by window on one (H, W) image pair: a Gaussian-weighted mean of every
    11x11 window wholly inside the image, then the mean of the local SSIMs."""
    d = np.arange(size) - (size - 1) / 2
    w = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma ** 2))
    w /= w.sum()
    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    values = []
    for i in range(a.shape[0] - size + 1):
        for j in range(a.shape[1] - size + 1):
            pa, pb = a[i:i + size, j:j + size], b[i:i + size, j:j + size]
            mu_a, mu_b = (w * pa).sum(), (w * pb).sum()
            var_a, var_b = (w * (pa - mu_a) ** 2).sum(), (w * (pb - mu_b) ** 2).sum()
            cov = (w * (pa - mu_a) * (pb - mu_b)).sum()
            values.append((2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
    return float(np.mean(values))


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_a_window_by_window_loop(channels):
    x, y = _pair(2, channels, 13, 14, seed=channels)
    got = ssim(x, y).numpy()
    for i in range(2):
        want = np.mean([_ssim_by_windows(x[i, c].numpy(), y[i, c].numpy()) for c in range(channels)])
        assert got[i] == pytest.approx(want, rel=1e-10)


def test_ssim_of_constant_images_is_its_luminance_term_and_of_identical_images_1():
    a, b = 0.3, 0.7
    x, y = torch.full((1, 1, 12, 12), a, dtype=torch.float64), torch.full((1, 1, 12, 12), b, dtype=torch.float64)
    c1 = 0.01 ** 2  # no variance: the contrast-structure term is C2 / C2
    assert ssim(x, y).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-12)
    z, _ = _pair(2, 3, 16, 16)
    assert torch.allclose(ssim(z, z), torch.ones(2, dtype=torch.float64))
    u, v = _pair(2, 1, 16, 16, seed=5)
    assert torch.allclose(ssim(u, v), ssim(v, u)) and (ssim(u, v) < 1).all()


def test_paired_scores_do_not_depend_on_the_chunk_and_refuse_bad_input():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (7, 1, 12, 12), generator=g, dtype=torch.uint8)
    b = torch.randint(0, 256, (7, 1, 12, 12), generator=g, dtype=torch.uint8)
    whole = paired_scores(a, b)
    assert paired_scores(a, b, chunk=3) == pytest.approx(whole, rel=1e-12)
    x, y = a.double() / 255, b.double() / 255
    assert whole["ssim"] == pytest.approx(ssim(x, y).mean().item())
    assert whole["psnr"] == pytest.approx(psnr(x, y).mean().item())
    with pytest.raises(GanforgeError, match=r"^ssim: images of 8x8 px are smaller than its 11 px window$"):
        ssim(x[:, :, :8, :8], y[:, :, :8, :8])
    with pytest.raises(GanforgeError, match=r"^l1: expected two image batches"):
        l1_error(x, y[:3])


# ---------------------------------------------------------------- ganforge eval on a pix2pix run

@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory):
    if not __import__("conftest").fashion_available():
        pytest.skip("Fashion-MNIST not installed")
    out = tmp_path_factory.mktemp("p2p") / "run"
    over = {**TINY, "eval_every": 0, "model.generator.width": 8, "model.discriminator.width": 8}
    return ganforge.train("pix2pix-fashion-sr2", out, steps=2, **over)


@needs_fashion
def test_eval_reports_l1_psnr_ssim_of_test_pairs_and_their_input_baseline(pix2pix_run, tmp_path, monkeypatch):
    from ganforge.evaluation import evaluate_run

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    result, record = evaluate_run(pix2pix_run, ["l1", "psnr", "ssim"], n=300, seed=4)
    inputs, outputs, targets = ganforge.load(pix2pix_run).pairs(300, seed=4)
    want, baseline = paired_scores(outputs, targets), paired_scores(inputs, targets)
    for name in ("l1", "psnr", "ssim"):
        assert result[name] == pytest.approx(want[name], rel=1e-12)
        assert result[f"{name}_input"] == pytest.approx(baseline[name], rel=1e-12)
    assert result["psnr_input"] > 15 and 0 < result["ssim_input"] < 1  # the bicubic baseline of a 2x task
    saved = json.loads(record.read_text())
    assert saved["ssim"] == result["ssim"] and saved["protocol"]["metrics"]["ssim"]["reference"] == "Wang et al. 2004"


@needs_fashion
def test_cli_eval_json_and_paired_metrics_without_targets(pix2pix_run, tmp_path, monkeypatch, capsys):
    from ganforge.cli import main

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    assert main(["eval", str(pix2pix_run), "--metrics", "psnr", "--n", "50", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) >= {"psnr", "psnr_input", "protocol"} and math.isfinite(printed["psnr"])
    np.savez(tmp_path / "s.npz", images=np.zeros((50, 28, 28), dtype=np.uint8))
    assert main(["score", "fashion-mnist:test", str(tmp_path / "s.npz"), "--metrics", "ssim", "--n", "50"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "ssim compares each output with its own target" in err, err
