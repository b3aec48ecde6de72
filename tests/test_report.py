"""The HTML report: self-contained, escapes what came from files, ranks runs by their metrics."""
from __future__ import annotations

import json
import re

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


def test_report_of_a_non_run_is_a_user_error(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "not a ganforge run directory" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
