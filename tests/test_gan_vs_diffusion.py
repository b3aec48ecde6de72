"""``benchmarks/gan_vs_diffusion.py``: families trained to equal time budgets, each budget's checkpoint scored
under one protocol, the iterative family's sampler-step sweep, resumable, plotted; on tiny runs."""
import importlib.util
import json
from pathlib import Path

import numpy as np

import ganforge
from ganforge.evaluation import score
from ganforge.runs import RunDir
from ganforge.training.checkpoint import load_checkpoint

from conftest import needs_fashion

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gan_vs_diffusion.py"
spec = importlib.util.spec_from_file_location("gan_vs_diffusion", SCRIPT)
gvd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gvd)

TINY = ["data=fashion-mnist:train[:512]", "batch_size=16", "precision=fp32", "sample_every=1000", "grid_size=16",
        "eval_every=0", "flow:model.generator.width=8", "flow:model.generator.mults=[1,2]",
        "flow:model.options.sample_steps=2"]


def _minutes(path: Path) -> float:
    return float(load_checkpoint(path)["train_seconds"]) / 60


@needs_fashion
def test_each_budget_is_scored_at_its_checkpoint_with_the_step_sweep_and_a_rerun_adds_nothing(tmp_path):
    root, out, budgets = tmp_path / "runs", tmp_path / "gvd.json", [0.05, 0.1]
    argv = [*TINY, "--presets", "gan=quickstart,flow=flow-fashion", "--minutes", *map(str, budgets), "--every",
            "0.05", "--sampler-steps", "1", "2", "3", "--n", "40", "--features", "pixels", "--root", str(root),
            "--out", str(out)]
    assert gvd.main(argv) == 0
    data = json.loads(out.read_text())
    points = {p["key"]: p for p in data["points"]}
    assert set(points) == {"gan@0.05min", "gan@0.1min", "flow@0.05min", "flow@0.1min", "flow@0.1min/1steps",
                           "flow@0.1min/2steps", "flow@0.1min/3steps"}
    for label in ("gan", "flow"):
        timed = [(p.name, _minutes(p)) for _, p in RunDir(root / label).checkpoints()]
        for budget in budgets:  # the checkpoint that closes the budget: the first at or past it
            point = points[f"{label}@{budget:g}min"]
            assert point["checkpoint"] == next(name for name, m in timed if m >= budget)
            assert point["train_minutes"] >= budget
    assert points["gan@0.1min"]["nfe_per_image"] == 1 and points["gan@0.1min"]["sampler"] is None
    # euler: one network evaluation per step; the model's own 2 steps at the budgets, the sweep's 1 and 3
    assert [points[k]["nfe_per_image"] for k in ("flow@0.1min", "flow@0.1min/1steps", "flow@0.1min/3steps")] \
        == [2, 1, 3]
    own = points["flow@0.1min/2steps"]  # the model's own 2 steps: the budget's point, not scored twice
    assert {k: v for k, v in own.items() if k != "key"} == \
        {k: v for k, v in points["flow@0.1min"].items() if k != "key"}
    sweep = points["flow@0.1min/3steps"]
    model = ganforge.load(root / "flow", checkpoint=RunDir(root / "flow").ckpt_dir / sweep["checkpoint"])
    np.savez(tmp_path / "mine.npz", images=model.sample(40, seed=0, steps=3).permute(0, 2, 3, 1).numpy())
    mine = score("fashion-mnist:test", str(tmp_path / "mine.npz"), ["fid", "kid"], "pixels", 40, 0)
    assert np.isclose(sweep["fid"], mine["fid"], rtol=1e-6) and np.isclose(sweep["kid"], mine["kid"], rtol=1e-6)
    assert all(0 <= p["precision"] <= 1 and 0 <= p["recall"] <= 1 for p in points.values())
    assert data["protocol"]["presets"] == {"gan": "quickstart", "flow": "flow-fashion"}

    before = out.read_bytes()
    assert gvd.main(argv) == 0  # every budget spent and every point scored: nothing trained or scored again
    assert out.read_bytes() == before

    png = tmp_path / "gvd.png"
    assert gvd.main(["--plot", "--out", str(out), "--png", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = png.with_suffix(".md").read_text().splitlines()[2:]  # the table beside the figure: a row per point,
    assert len(rows) == len(points) - 1  # the sweep's own-steps point only once
    cells = [row.strip("| ").split(" | ") for row in rows]
    by_sampler = {(c[0], c[4]): c for c in cells}
    assert by_sampler[("flow (flow-fashion)", "euler 3 steps")][5] == f"{sweep['fid']:.2f}"
    assert [c[0] for c in cells].count("gan (quickstart)") == 2 and by_sampler[("gan (quickstart)", "one pass")]
    assert [c[0] for c in cells][:2] == ["gan (quickstart)"] * 2  # the GAN first, then the iterative families


@needs_fashion
def test_train_only_trains_to_the_budget_and_a_later_pass_scores_without_training(tmp_path):
    root, out = tmp_path / "runs", tmp_path / "gvd.json"
    argv = [*TINY[:6], "--presets", "gan=quickstart", "--minutes", "0.05", "--n", "40", "--features", "pixels",
            "--root", str(root), "--out", str(out)]
    assert gvd.main([*argv, "--train-only"]) == 0
    trained = [p.name for _, p in RunDir(root / "gan").checkpoints()]
    assert _minutes(RunDir(root / "gan").latest_checkpoint()) >= 0.05
    assert not out.exists()  # nothing scored, nothing written
    assert gvd.main(argv) == 0
    assert [p.name for _, p in RunDir(root / "gan").checkpoints()] == trained  # budget spent: no more training
    assert [p["key"] for p in json.loads(out.read_text())["points"]] == ["gan@0.05min"]


def test_bad_labels_are_one_line_exit_2(tmp_path, capsys):
    for argv in (["--only", "vae"], ["--presets", "gan"], ["vae:steps=3"],
                 ["--plot", "--out", str(tmp_path / "none.json")]):
        assert gvd.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("gan_vs_diffusion: error:")


def test_overrides_split_into_common_and_per_label():
    split = gvd.split_overrides(["batch_size=32", "flow:batch_size=128", "data=fashion-mnist:train[:64]"],
                                ["gan", "flow"])
    assert split == {"gan": {"batch_size": 32, "data": "fashion-mnist:train[:64]"},
                     "flow": {"batch_size": 128, "data": "fashion-mnist:train[:64]"}}
