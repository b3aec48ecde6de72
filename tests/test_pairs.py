"""Paired tasks (ganforge.data.pairs) against direct computations, and the class filter of dataset specs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import load_dataset, make_inputs, make_pairs
from ganforge.data import test_split_of as held_out_split
from ganforge.data import pairs as P
from ganforge.data.common import make_set
from ganforge.errors import GanforgeError

from conftest import needs_fashion


def _images(n: int, channels: int = 1, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, size, size), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


# ---------------------------------------------------------------- edges

def _sobel_by_loops(img: np.ndarray) -> np.ndarray:
    """|g| of one (H, W) float image with edge-replicated borders, pixel by pixel from the definition."""
    h, w = img.shape
    at = lambda r, c: img[min(max(r, 0), h - 1), min(max(c, 0), w - 1)]  # noqa: E731
    out = np.zeros_like(img)
    for r in range(h):
        for c in range(w):
            gx = (at(r - 1, c + 1) + 2 * at(r, c + 1) + at(r + 1, c + 1)) - (at(r - 1, c - 1) + 2 * at(r, c - 1)
                                                                             + at(r + 1, c - 1))
            gy = (at(r + 1, c - 1) + 2 * at(r + 1, c) + at(r + 1, c + 1)) - (at(r - 1, c - 1) + 2 * at(r - 1, c)
                                                                             + at(r - 1, c + 1))
            out[r, c] = math.hypot(gx, gy)
    return out


def test_sobel_magnitude_matches_a_pixel_loop_and_the_task_scales_it_by_4():
    images = _images(3, size=9)
    x = images.double() / 255
    got = P.sobel_magnitude(x)
    for i in range(3):
        np.testing.assert_allclose(got[i, 0].numpy(), _sobel_by_loops(x[i, 0].numpy()), atol=1e-12)
    edges = make_inputs("edges", images)
    want = np.clip(got.numpy() / 4, 0, 1) * 255
    assert np.abs(edges.numpy().astype(float) - want).max() <= 0.5 + 1e-6


def test_a_unit_step_is_edge_1_and_flat_regions_and_borders_are_0():
    step = torch.zeros(1, 1, 6, 6, dtype=torch.uint8)
    step[..., 3:] = 255  # black | white, vertical edge between columns 2 and 3
    edges = make_inputs("edges", step)[0, 0]
    assert (edges[:, 2:4] == 255).all()  # both sides of the step see |g| = 4
    assert (edges[:, [0, 1, 4, 5]] == 0).all()  # replicate padding: the border makes no edge


def test_binary_edges_threshold_the_normalised_magnitude():
    images = _images(4, size=10, seed=1)
    magnitude = (P.sobel_magnitude(images.float() / 255) / 4).clamp(0, 1)
    binary = make_inputs("edges:0.3", images)
    assert set(binary.unique().tolist()) <= {0, 255}
    assert torch.equal(binary == 255, magnitude > 0.3)


def test_colour_edges_use_the_luminance_and_fill_every_channel():
    rgb = _images(2, channels=3, size=8, seed=2)
    edges = make_inputs("edges", rgb)
    assert edges.shape == rgb.shape and torch.equal(edges[:, 0], edges[:, 1]) and torch.equal(edges[:, 0], edges[:, 2])
    luma = (rgb.double() / 255 * torch.tensor([0.2989, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)).sum(1)
    want = np.clip(P.sobel_magnitude(luma[:, None]).numpy() / 4, 0, 1) * 255
    assert np.abs(edges[:, :1].numpy() - want).max() <= 0.5 + 1e-4


# ---------------------------------------------------------------- gray

def test_gray_is_pils_luminance_in_three_equal_channels():
    rgb = _images(3, channels=3, size=8, seed=3)
    gray = make_inputs("gray", rgb)
    assert gray.shape == rgb.shape and torch.equal(gray[:, 0], gray[:, 2])
    for i in range(3):
        pil = np.asarray(Image.fromarray(rgb[i].permute(1, 2, 0).numpy()).convert("L")).astype(int)
        assert np.abs(gray[i, 0].numpy().astype(int) - pil).max() <= 1  # PIL rounds in integer arithmetic


def test_gray_refuses_single_channel_images_in_one_line():
    data = make_set(_images(4, channels=1).numpy(), None, 0, "tiny:train", "here")
    with pytest.raises(GanforgeError, match=r"^tiny:train: pair task gray .* needs 3-channel images, got 1 "
                                            r"channel\(s\)$"):
        make_pairs(data, "gray")


# ---------------------------------------------------------------- downscale

def _cubic(t: float, a: float = -0.75) -> float:
    """Keys' cubic convolution kernel with a = -0.75 (the one PyTorch's bicubic uses)."""
    t = abs(t)
    if t <= 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def _bicubic_1d(row: np.ndarray, out: int) -> np.ndarray:
    """Upsample a 1-d signal to ``out`` samples: half-pixel centres, taps clamped at the borders."""
    n, scale = len(row), len(row) / out
    result = np.zeros(out)
    for j in range(out):
        src = (j + 0.5) * scale - 0.5
        base = math.floor(src)
        for k in range(base - 1, base + 3):
            result[j] += _cubic(src - k) * row[min(max(k, 0), n - 1)]
    return result


@pytest.mark.parametrize("factor", [2, 4])
def test_downscale_is_a_box_average_then_bicubic_upsampling(factor):
    images = _images(2, channels=3, size=8, seed=4)
    got = make_inputs(f"downscale:{factor}", images)
    x = images.numpy().astype(float) / 255
    small = x.reshape(2, 3, 8 // factor, factor, 8 // factor, factor).mean(axis=(3, 5))
    for i in range(2):
        for c in range(3):
            rows = np.stack([_bicubic_1d(r, 8) for r in small[i, c]])  # (8/F, 8)
            full = np.stack([_bicubic_1d(col, 8) for col in rows.T]).T  # (8, 8)
            want = np.clip(full, 0, 1) * 255
            assert np.abs(got[i, c].numpy() - want).max() <= 0.5 + 1e-4


def test_downscale_of_a_block_constant_image_keeps_its_block_means():
    images = torch.full((1, 1, 8, 8), 40, dtype=torch.uint8)
    assert torch.equal(make_inputs("downscale:2", images), images)


@pytest.mark.parametrize("task, message", [
    ("downscale:3", "pair task downscale:3 needs an image size divisible by 3, got 28x28"),
    ("downscale", "pair task downscale needs its factor (expected downscale:F, e.g. downscale:2)"),
    ("downscale:x", "pair task downscale:x: expected the downscaling factor, a whole number in 2..14"),
    ("edges:2", "pair task edges:2: expected a number strictly between 0 and 1"),
    ("mask:28", "pair task mask:28: expected the side of the masked square, a whole number in 1..27"),
    ("gray:1", "pair task gray takes no argument, got gray:1"),
    ("blur", "unknown pair task 'blur' (expected one of: downscale, edges, gray, mask)"),
])
def test_bad_tasks_are_one_line_errors(task, message):
    with pytest.raises(GanforgeError) as info:
        make_inputs(task, _images(2, size=28))
    assert str(info.value) == message


# ---------------------------------------------------------------- mask

def test_mask_greys_one_square_per_image_and_leaves_the_rest():
    images = _images(50, size=12, seed=5)
    images[images == 128] = 127  # so the square is the only mid grey
    masked = make_inputs("mask:4", images)
    changed = masked != images
    for i in range(50):
        grey = (masked[i, 0] == 128).nonzero()
        assert len(grey) == 16
        (r0, c0), (r1, c1) = grey.min(0).values.tolist(), grey.max(0).values.tolist()
        assert (r1 - r0, c1 - c0) == (3, 3)  # a 4 x 4 square
        assert torch.equal(masked[i, 0][~(masked[i, 0] == 128)], images[i, 0][~(masked[i, 0] == 128)])
        assert changed[i].sum() <= 16
    corners = {tuple(map(int, (masked[i, 0] == 128).nonzero().min(0).values)) for i in range(50)}
    assert len(corners) > 20  # spread over the 81 places the square fits


def test_mask_is_fixed_by_seed_and_index_whatever_the_chunks_or_set_size():
    images = _images(30, size=10, seed=6)
    whole = make_inputs("mask:3", images, seed=7)
    assert torch.equal(make_inputs("mask:3", images, seed=7, chunk=4), whole)
    assert torch.equal(make_inputs("mask:3", images[:12], seed=7), whole[:12])
    assert not torch.equal(make_inputs("mask:3", images, seed=8), whole)
    default = make_inputs("mask", images)
    assert int((default[0] == 128).sum()) >= 25  # side 10 // 2 = 5


# ---------------------------------------------------------------- the disk cache

def test_cached_inputs_are_written_once_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    images = _images(20, size=8, seed=7)
    first = P.cached_inputs("edges", images, min_images=10)
    files = list((tmp_path / "pairs").glob("*.npy"))
    assert len(files) == 1 and torch.equal(first, make_inputs("edges", images))

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(P, "make_inputs", refuse)
    assert torch.equal(P.cached_inputs("edges", images, min_images=10), first)
    monkeypatch.undo()
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    files[0].write_bytes(b"garbage")  # an unreadable entry is recomputed and rewritten
    assert torch.equal(P.cached_inputs("edges", images, min_images=10), first)
    assert torch.equal(torch.from_numpy(np.load(files[0])), first)
    assert torch.equal(P.cached_inputs("edges:0.5", images, min_images=10), make_inputs("edges:0.5", images))
    assert len(list((tmp_path / "pairs").glob("*.npy"))) == 2  # the task is part of the key
    P.cached_inputs("edges", images[:5], min_images=10)  # small sets are not cached
    assert len(list((tmp_path / "pairs").glob("*.npy"))) == 2


# ---------------------------------------------------------------- the class filter of dataset specs

@needs_fashion
def test_class_filter_keeps_the_classes_in_order_and_chains_with_slices():
    full = load_dataset("fashion-mnist:test")
    sneakers = load_dataset("fashion-mnist:test[class=7]")
    idx = (full.labels == 7).nonzero().flatten()
    assert len(sneakers) == 1000 and torch.equal(sneakers.images, full.images[idx])
    assert sneakers.name == "fashion-mnist:test[class=7]"
    two = load_dataset("fashion-mnist:test[class=7,5]")
    assert len(two) == 2000 and set(two.labels.tolist()) == {5, 7}
    first = load_dataset("fashion-mnist:test[class=7][:10]")
    assert torch.equal(first.images, full.images[idx[:10]])
    head = load_dataset("fashion-mnist:test[:100][class=7]")
    assert torch.equal(head.images, full.images[:100][full.labels[:100] == 7])


def test_test_split_keeps_class_filters_and_drops_slices():
    assert held_out_split("fashion-mnist:train[class=7][:500]") == "fashion-mnist:test[class=7]"
    assert held_out_split("fashion-mnist:train[:2000]") == "fashion-mnist:test"
    assert held_out_split("mnist-5k:train") == "mnist-5k:test"


def test_a_file_dataset_is_its_own_held_out_reference():
    assert held_out_split("npz:/data/pairs.npz[:500]") == "npz:/data/pairs.npz"
    assert held_out_split("npy:x.npy[class=1]") == "npy:x.npy[class=1]"
    assert held_out_split("folder:/data/shoes") == "folder:/data/shoes"


@needs_fashion
@pytest.mark.parametrize("spec, message", [
    ("fashion-mnist:test[class=10]", "dataset filter [class=10] of fashion-mnist:test: class 10 does not exist "
                                     "(expected 0..9)"),
    ("fashion-mnist:test[klass=1]", "dataset selector [klass=1] of fashion-mnist:test is not one of "
                                    "[START:STOP] or [class=K] / [class=K,L,...]"),
    ("fashion-mnist:test[:1][class=0]", "dataset filter [class=0] of fashion-mnist:test[:1] selects no images"),
    ("fashion-mnist:test[class=7][5:5]", "dataset slice [5:5] of fashion-mnist:test[class=7] selects no images "
                                         "(expected START < STOP)"),
])
def test_bad_selectors_are_one_line_errors(spec, message):
    with pytest.raises(GanforgeError) as info:
        load_dataset(spec)
    assert str(info.value) == message


def test_class_filter_on_unlabelled_images_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 8, 8), dtype=np.uint8))
    with pytest.raises(GanforgeError, match=r"^dataset filter \[class=1\] of npy:.*x.npy: the images have no "
                                            r"class labels"):
        load_dataset(f"npy:{tmp_path / 'x.npy'}[class=1]")


@needs_fashion
def test_pairs_of_a_class_filtered_set():
    sneakers = load_dataset("fashion-mnist:test[class=7][:64]")
    pairs = make_pairs(sneakers, "downscale:2")
    assert len(pairs) == 64 and pairs.inputs.shape == sneakers.images.shape and pairs.targets is sneakers
    error = (pairs.inputs.float() - sneakers.images.float()).abs().mean()
    assert 0 < error < 40  # a blurred copy: close to the target, not equal to it
