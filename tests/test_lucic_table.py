"""``experiment lucic-table``: each row trains its preset, scores FID against the test split, resumes a killed
run, never recomputes a finished row and refuses to mix protocols."""
import json
import shutil

import pytest

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.evaluation import score
from ganforge.experiments import ExperimentOptions, run_experiment
from ganforge.experiments.lucic_table import ROWS
from ganforge.runs import RunDir
from conftest import needs_fashion

pytestmark = needs_fashion
TINY_ROW = {"steps": 6, "ckpt_every": 3, "sample_every": 100, "log_every": 1}


def options(out, rows=("ns",), n=48, **extra) -> ExperimentOptions:
    return ExperimentOptions("fashion-mnist", out, None, "pixels", n, 0, None, list(rows), {**TINY_ROW, **extra})


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    out = tmp_path_factory.mktemp("lucic") / "table"
    run_experiment("lucic-table", options(out, rows=("ns", "vae")))
    return out


def test_row_records_the_fid_of_its_own_run_against_the_test_split(table):
    record = json.loads((table / "ns.json").read_text())
    expected = score("fashion-mnist:test", str(table / "runs" / "ns"), ["fid"], "pixels", 48, 0)
    assert record["fid"] == expected["fid"]
    assert record["published_fid"] == ROWS["ns"].published_fid == 26.5
    protocol = record["protocol"]
    assert protocol["reference"] == "fashion-mnist:test" and protocol["n"] == 48 and protocol["features"] == "pixels"
    assert protocol["config"]["model"]["loss"] == "ns" and protocol["config"]["steps"] == 6
    assert protocol["config"]["data"] == "fashion-mnist:train"  # the dataset argument, not the preset's own
    log = RunDir(table / "runs" / "ns").read_log()
    assert record["train_seconds"] == round(log[-1]["time_s"], 1) > 0


def test_table_holds_every_finished_row_beside_the_published_value(table):
    rows = json.loads((table / "lucic-table.json").read_text())["rows"]
    assert [r["row"] for r in rows] == ["ns", "vae"]
    md = (table / "lucic-table.md").read_text().splitlines()
    vae = json.loads((table / "vae.json").read_text())
    assert md[3].startswith("| vae | lucic-vae | 58.7 | ") and f"{vae['fid']:.1f}" in md[3]
    assert (table / "lucic-table.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_finished_row_is_never_recomputed(table):
    before = {p: p.stat().st_mtime_ns for p in (table / "runs" / "ns").rglob("*") if p.is_file()}
    record = (table / "ns.json").read_bytes()
    run_experiment("lucic-table", options(table, rows=("ns",)))
    assert (table / "ns.json").read_bytes() == record
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_a_killed_row_resumes_from_its_checkpoint_to_the_same_number(table, tmp_path):
    out = tmp_path / "table"
    (out / "runs").mkdir(parents=True)
    shutil.copytree(table / "runs" / "ns", out / "runs" / "ns")
    run = RunDir(out / "runs" / "ns")
    killed_at = run.checkpoints()[-2]
    run.checkpoint_path(6).unlink()  # killed between the checkpoints of steps 3 and 6
    kept = killed_at[1].read_bytes()
    run_experiment("lucic-table", options(out, rows=("ns",)))
    record, straight = (json.loads((d / "ns.json").read_text()) for d in (out, table))
    assert killed_at[0] == 3 and killed_at[1].read_bytes() == kept
    assert record["fid"] == straight["fid"]  # resumed bit for bit: the same samples, the same FID
    steps = [r["step"] for r in run.read_log() if "loss_d" in r]
    assert steps == list(range(1, 7))  # the log continues from step 3, no step twice
    times = [r["time_s"] for r in run.read_log() if "time_s" in r]
    assert all(a < b for a, b in zip(times, times[1:]))  # training seconds carry over the resume


def test_a_row_measured_otherwise_is_refused_not_mixed(table, capsys):
    with pytest.raises(GanforgeError, match=r"ns.json was measured with another n"):
        run_experiment("lucic-table", options(table, rows=("ns",), n=32))
    code = main(["experiment", "lucic-table", "fashion-mnist", "--out", str(table), "--rows", "ns", "--n", "48",
                 "--features", "pixels", *(f"{k}={v}" for k, v in TINY_ROW.items()), "steps=7"])
    assert code == 2 and "another config" in capsys.readouterr().err


def test_rows_are_checked_before_any_training(tmp_path):
    with pytest.raises(GanforgeError, match="unknown row"):
        run_experiment("lucic-table", options(tmp_path / "t", rows=("ns", "bogus")))
    assert not (tmp_path / "t").exists()


def test_the_default_protocol_is_10k_generated_against_10k_test_images(tmp_path):
    asked = ExperimentOptions("fashion-mnist", tmp_path / "t", None, None, None, 0, None, ["ns", "bogus"], {})
    with pytest.raises(GanforgeError, match="unknown row"):
        run_experiment("lucic-table", asked)
    assert asked.n == 10_000
