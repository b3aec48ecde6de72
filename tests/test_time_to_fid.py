"""``benchmarks/time_to_fid.py``: a time-budgeted run scored at each time checkpoint, resumable, plotted."""
import importlib.util
import json
from pathlib import Path

import numpy as np

import ganforge
from ganforge.config import resolve_config
from ganforge.evaluation import score
from ganforge.runs import RunDir

from conftest import needs_fashion

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_fid.py"
spec = importlib.util.spec_from_file_location("time_to_fid", SCRIPT)
time_to_fid = importlib.util.module_from_spec(spec)
spec.loader.exec_module(time_to_fid)


@needs_fashion
def test_points_are_the_fid_of_each_time_checkpoint_and_a_rerun_adds_nothing(tmp_path, monkeypatch):
    run, out = tmp_path / "run", tmp_path / "ttf.json"
    scored, score_point = [], time_to_fid.score_point
    monkeypatch.setattr(time_to_fid, "score_point", lambda r, ckpt, *a: scored.append(ckpt.name) or score_point(r, ckpt, *a))
    argv = ["vae-mnist-2d", "data=fashion-mnist:train[:512]", "batch_size=16", "eval_every=0", "--minutes", "0.02",
            "--every", "0.005", "--n", "40", "--features", "pixels", "--run", str(run), "--out", str(out)]
    assert time_to_fid.main(argv) == 0
    data = json.loads(out.read_text())
    points, checkpoints = data["points"], RunDir(run).checkpoints()
    assert [p["checkpoint"] for p in points] == [p.name for _, p in checkpoints] and len(points) >= 3
    assert scored == [checkpoints[-1][1].name] + [p.name for _, p in checkpoints[:-1]]  # the budget's answer first
    assert points[-1]["minutes"] >= 0.02 > points[-2]["minutes"]  # the budget ends the run
    assert all(a["minutes"] < b["minutes"] and a["step"] < b["step"] for a, b in zip(points, points[1:]))
    assert all(p["images_seen"] == p["step"] * 16 for p in points)
    _, middle = checkpoints[1]
    images = ganforge.load(run, checkpoint=middle).sample(40, seed=0).permute(0, 2, 3, 1).numpy()
    np.savez(tmp_path / "mine.npz", images=images)
    assert points[1]["fid"] == score("fashion-mnist:test", str(tmp_path / "mine.npz"), ["fid"], "pixels", 40, 0)["fid"]
    assert data["protocol"]["n"] == 40 and data["protocol"]["config"]["max_minutes"] == 0.02

    before = out.read_bytes()
    assert time_to_fid.main(argv) == 0  # budget spent, every point scored: nothing trained or scored again
    assert out.read_bytes() == before and RunDir(run).checkpoints() == checkpoints

    png = tmp_path / "curve.png"
    assert time_to_fid.main(["--plot", str(out), str(out), "--png", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_preset_is_one_line_exit_2(capsys):
    assert time_to_fid.main([]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_linear_decay_keeps_the_presets_steps_and_other_presets_let_the_minutes_decide():
    # fashion-fast-decay's lr reaches 0 at its `steps`: lifting them would leave it held for the whole budget
    assert time_to_fid.budget_steps("fashion-fast-decay", {}) == resolve_config("fashion-fast-decay").steps
    assert time_to_fid.budget_steps("fashion-fast", {}) > resolve_config("fashion-fast").steps  # lifted
    assert time_to_fid.budget_steps("fashion-fast", {"g_opt.lr_schedule": "linear"}) == \
        resolve_config("fashion-fast").steps
    assert time_to_fid.budget_steps("fashion-fast-decay", {"steps": 123}) == 123
