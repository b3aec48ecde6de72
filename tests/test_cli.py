"""The CLI end to end on a real 2,000-image Fashion-MNIST slice, and its handling of bad input."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main

from conftest import needs_fashion


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


def assert_user_error(capsys, argv, *fragments):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    if not os.path.isdir("/usr/share/datasets/fashion-mnist") and not os.environ.get("GANFORGE_DATA"):
        pytest.skip("Fashion-MNIST not installed")
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = run_cli("train", "quickstart", "--out", str(out), "steps=20", "data=fashion-mnist:train[:2000]",
                   "sample_every=10", "ckpt_every=10", "log_every=5", "seed=1")
    assert proc.returncode == 0, proc.stderr
    return out


@needs_fashion
def test_train_writes_a_self_describing_run(trained_run):
    cfg = json.loads((trained_run / "config.json").read_text())
    assert cfg["preset"] == "quickstart" and cfg["steps"] == 20 and cfg["seed"] == 1
    log = [json.loads(x) for x in (trained_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [5, 10, 15, 20]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d", "img_per_s"):
        assert all(np.isfinite(r[key]) for r in log), key
    assert all(0 <= r["d_real"] <= 1 and 0 <= r["d_fake"] <= 1 for r in log)
    assert sorted(p.name for p in (trained_run / "samples").iterdir()) == ["step-0000010.png", "step-0000020.png"]
    assert sorted(p.name for p in (trained_run / "checkpoints").iterdir()) == ["step-0000010.pt", "step-0000020.pt"]
    grid = Image.open(trained_run / "samples" / "step-0000020.png")
    assert grid.size == (2 + 8 * 30, 2 + 8 * 30)  # 64 images of 28 px, 8 per row, padding 2
    assert Image.open(trained_run / "curves.png").size[0] > 300


@needs_fashion
def test_sample_png_and_npz(trained_run, tmp_path):
    proc = run_cli("sample", str(trained_run), "--n", "10", "--seed", "0", "--out", str(tmp_path / "s.npz"))
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "s.npz") as data:
        images = data["images"]
        assert data.files == ["images"]  # unconditional: no labels
    assert images.dtype == np.uint8 and images.shape == (10, 28, 28, 1)
    assert images.std() > 0
    assert main(["sample", str(trained_run), "--n", "9", "--out", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size == (2 + 3 * 30, 2 + 3 * 30)
    # the same seed gives the same images
    assert main(["sample", str(trained_run), "--n", "10", "--seed", "0", "--out", str(tmp_path / "t.npz")]) == 0
    with np.load(tmp_path / "t.npz") as again:
        assert np.array_equal(again["images"], images)


def test_presets_lists_one_name_per_line(capsys):
    assert main(["presets"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"goodfellow-mnist", "dcgan-fashion", "dcgan64-fashion", "lucic-mm", "lucic-ns"} <= set(names)


def test_dry_run_prints_resolved_config(capsys, tmp_path):
    assert main(["train", "lucic-ns", "--out", str(tmp_path / "x"), "--dry-run", "steps=7", "g_opt.lr=0.001"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["steps"] == 7 and cfg["g_opt"]["lr"] == 0.001 and cfg["model"]["loss"] == "ns"
    assert not (tmp_path / "x").exists()


def test_bad_input_is_one_line_exit_2(capsys, tmp_path):
    assert_user_error(capsys, ["train", "nope", "--out", str(tmp_path / "a")], "unknown preset 'nope'")
    assert_user_error(capsys, ["train", "lucic-ns", "--out", str(tmp_path / "a"), "stepz=1"], "stepz")
    assert_user_error(capsys, ["train", "lucic-ns", "--out", str(tmp_path / "a"), "--dry-run", "steps"],
                      "not KEY=VALUE")
    assert_user_error(capsys, ["sample", str(tmp_path / "missing"), "--out", str(tmp_path / "a.png")],
                      "does not exist")
    assert_user_error(capsys, ["frobnicate"], "invalid choice")
    assert_user_error(capsys, ["train", "lucic-ns", "--out", str(tmp_path / "a"), "--resume"], "config.json")


def test_missing_dataset_names_paths_and_how_to_get_it(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(capsys, ["train", "goodfellow-mnist", "--out", str(tmp_path / "r"), "--data-root", str(empty),
                               "steps=1"], "mnist", str(empty))
    assert not (tmp_path / "r" / "checkpoints").exists()


@needs_fashion
def test_corrupt_and_foreign_checkpoints(capsys, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    ckpt = run / "checkpoints" / "step-0000020.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    assert_user_error(capsys, ["sample", str(run), "--out", str(tmp_path / "a.png")], "step-0000020.pt", "cannot be read")
    # a malicious pickle is never executed: weights_only refuses it
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    ckpt.write_bytes(pickle.dumps({"format": "x", "payload": Evil()}))
    assert_user_error(capsys, ["sample", str(run), "--out", str(tmp_path / "a.png")], "step-0000020.pt")
    assert not marker.exists()
    # wrong output type
    assert_user_error(capsys, ["sample", str(trained_run), "--out", str(tmp_path / "a.jpg")], ".png", ".npz")


@needs_fashion
def test_resume_with_a_checkpoint_from_another_model_is_refused(capsys, trained_run, tmp_path):
    other = tmp_path / "other"
    assert main(["train", "quickstart", "--out", str(other), "steps=1", "data=fashion-mnist:train[:512]",
                 "batch_size=16", "model.generator.batchnorm=false"]) == 0
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    for p in (run / "checkpoints").iterdir():
        p.unlink()
    shutil.copy(other / "checkpoints" / "step-0000001.pt", run / "checkpoints" / "step-0000030.pt")
    capsys.readouterr()
    assert_user_error(capsys, ["train", "quickstart", "--out", str(run), "--resume", "steps=40"],
                      "different model config")


@needs_fashion
def test_data_lists_found_and_missing_datasets(capsys, tmp_path):
    assert main(["data", "--data-root", str(tmp_path)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "60000 x 1x28x28" in lines["fashion-mnist:train"] and "10 classes" in lines["fashion-mnist:train"]
    assert "10000 x 1x28x28" in lines["fashion-mnist:test"]
    assert "not found" in lines["mnist:train"] and str(tmp_path) in lines["mnist:train"]


def test_every_command_of_the_readme_tour_parses():
    """Each ``ganforge ...`` line of README's tour is accepted by the parser, KEY=VALUE words included."""
    import re
    import shlex
    from pathlib import Path

    from ganforge.cli import parse_args

    readme = Path(__file__).resolve().parents[1] / "README.md"
    lines = [m.group(1) for m in re.finditer(r"(?:\.venv/bin/ganforge|-m ganforge) +([^#`\n]*)", readme.read_text())]
    parsed = [parse_args(shlex.split(line.rstrip(" \\"))) for line in lines]
    assert {a.command for a in parsed} >= {"presets", "data", "train", "sample", "viz", "fetch", "eval", "score",
                                           "classifier", "report", "experiment"}
    resumed = next(a for a in parsed if a.command == "train" and a.resume)
    assert resumed.overrides == ["steps=6000"]  # a KEY=VALUE after --resume still reaches the overrides


def test_a_reader_that_left_gets_no_traceback():
    """``ganforge presets | head -1``: the pipe's reader is gone before ganforge writes."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)
    done = subprocess.run([sys.executable, "-m", "ganforge", "presets"], stdout=write, stderr=subprocess.PIPE,
                          text=True)
    os.close(write)
    assert done.returncode == 141 and done.stderr == ""
