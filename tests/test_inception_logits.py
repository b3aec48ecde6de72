"""The eager FID InceptionV3, and Inception Score logits from a user's pytorch-fid weights file.

Files in the pytorch-fid key format are written here: one with random weights (what a wrong file looks
like), one with the real FID conv weights (from the TorchScript) and a random fc (what the real file
looks like, up to its fc). The logits are checked against pool_3 of the shipped TorchScript times fc^T,
computed in the test.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganforge import metrics as M
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.features import FEATURES, extract
from ganforge.features import inception as inc
from ganforge.features import inception_logits as il
from ganforge.features.inception_net import build_fid_inception, load_torchscript, pool3


@pytest.fixture(scope="module")
def script(fid_weights):
    return inc.load_torchscript_file()


@pytest.fixture
def cache(tmp_path, monkeypatch, script):
    """A fresh cache holding only the FID TorchScript."""
    real = inc.weights_path()
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    inc.weights_path().parent.mkdir(parents=True)
    inc.weights_path().symlink_to(real)
    return tmp_path


def _real_like(script, seed=0):
    """A pytorch-fid-format state dict: the FID network's conv weights and a random 1008 x 2048 fc."""
    net = load_torchscript(build_fid_inception(), script)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.fc.weight.copy_(torch.randn(1008, 2048, generator=gen) * 0.01)
        net.fc.bias.copy_(torch.randn(1008, generator=gen))
    return net.state_dict()


def test_eager_network_equals_the_torchscript(script):
    """Our module with the TorchScript's tensors computes the TorchScript's function; so does the
    registered extractor, whose batch norm is folded and whose layout is channels-last."""
    images = torch.randint(0, 256, (3, 1, 40, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x = inc.preprocess(images)
    with torch.no_grad():
        reference = script(x).reshape(3, -1)
        ours = pool3(load_torchscript(build_fid_inception(), script), x)
    tol = 1e-5 * reference.abs().max().item()
    assert torch.allclose(ours, reference, rtol=0, atol=tol)
    folded = extract(FEATURES.get("inception")(), images, batch_size=2)
    assert np.allclose(folded, reference.double().numpy(), rtol=0, atol=tol)
    assert reference.std(0).mean() > 100 * tol  # the images give different features


def test_logits_are_pool3_times_fc_without_bias(cache, script):
    state = _real_like(script)
    torch.save(state, cache / "pt_inception.pth")
    assert main(["fetch", "inception-logits", "--from", str(cache / "pt_inception.pth")]) == 0
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    logits = extract(FEATURES.get("inception-logits")(), images, batch_size=2)
    with torch.no_grad():
        pool = script(inc.preprocess(images)).reshape(5, -1).double().numpy()
    expected = pool @ state["fc.weight"].double().numpy().T  # the bias is not used (openai/improved-gan)
    assert logits.shape == (5, 1008)
    assert np.allclose(logits, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
    assert not np.allclose(logits, expected + state["fc.bias"].double().numpy(), atol=1e-2)


def test_inception_score_through_the_cli(cache, script, tmp_path, capsys):
    torch.save(_real_like(script, seed=3), cache / "w.pth")
    assert main(["fetch", "inception-logits", "--from", str(cache / "w.pth")]) == 0
    images = np.random.default_rng(0).integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "gen.npz", images=images)
    code = main(["score", "digits:test", str(tmp_path / "gen.npz"), "--metrics", "is",
                 "--features", "inception-logits", "--n", "12", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    record = json.loads(captured.out.strip().splitlines()[-1])
    logits = extract(FEATURES.get("inception-logits")(), torch.from_numpy(images).permute(0, 3, 1, 2))
    order = np.random.default_rng(0).permutation(12)
    assert record["is"] == pytest.approx(M.inception_score(logits[order], splits=10)[0], rel=1e-6)
    assert record["protocol"]["metrics"]["is"]["values"] == ["is", "is_std"]  # the report names them by features
    features = record["protocol"]["features"]["inception-logits"]
    assert features["weights_sha1"] == il.sha1_of(il.logits_weights_path()) and "without bias" in features["logits"]


def test_a_file_of_other_weights_is_refused_and_nothing_lands(cache, capsys):
    """Random weights in the right key format: right shapes, wrong network (its pool_3 disagrees)."""
    torch.manual_seed(0)
    torch.save(build_fid_inception().state_dict(), cache / "random.pth")
    code = main(["fetch", "inception-logits", "--from", str(cache / "random.pth")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "pool_3 features differ" in err, err
    assert not il.logits_weights_path().exists()
    assert main(["fetch", "inception-logits", "--from", str(cache / "random.pth"), "--no-verify"]) == 0
    assert il.logits_weights_path().is_file()  # the user's choice; its sha1 goes into every protocol


def _imagenet_head(state):
    return {**state, "fc.weight": state["fc.weight"][:1000], "fc.bias": state["fc.bias"][:1000]}


@pytest.mark.parametrize("make, fragment", [
    (lambda s: _imagenet_head(s), "fc.weight has shape (1000, 2048), expected (1008, 2048)"),
    (lambda s: {k: v for k, v in s.items() if not k.startswith("Mixed_7c")}, "keys missing ['Mixed_7c"),
    (lambda s: {**s, "AuxLogits.fc.weight": torch.zeros(1000, 768)}, "1 unexpected ['AuxLogits"),
    (lambda s: [1, 2, 3], "expected a state dict of tensors"),
])
def test_wrong_files_get_one_line_errors(tmp_path, monkeypatch, capsys, make, fragment):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    torch.save(make(build_fid_inception().state_dict()), tmp_path / "w.pth")
    assert main(["fetch", "inception-logits", "--from", str(tmp_path / "w.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert not (tmp_path / "cache").exists() or not il.logits_weights_path().exists()


class Payload:  # an arbitrary pickled object: weights_only loading must refuse it
    pass


def test_pickles_and_missing_files_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    torch.save({"fc.weight": Payload()}, tmp_path / "evil.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a zip")
    for name, fragment in (("evil.pth", "not a safe PyTorch weights file"), ("junk.pth", "not a safe"),
                           ("absent.pth", "no such file"), (None, "pass --from")):
        argv = ["fetch", "inception-logits"] + (["--from", str(tmp_path / name)] if name else [])
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fragment in err, err
    with pytest.raises(GanforgeError, match="ganforge fetch inception-logits --from FILE"):
        FEATURES.get("inception-logits")()
