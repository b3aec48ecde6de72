"""The report's ModNet panels and experiment sections: per-class strips cut from a real ModNet run's grid, the
numbers its records hold, an experiment output (written by the experiment's own writer) shown in the run it
used and on its own page, everything from files escaped, and no such sections for other runs."""
from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from torchvision.utils import make_grid

import ganforge
from ganforge.cli import main
from ganforge.evaluation.registry import METRICS
from ganforge.fileio import write_json
from ganforge.report import build_report
from ganforge.report.modnet import class_strips, grid_layout

from conftest import TINY, needs_fashion

EVIL = "<img src=x onerror=alert(1)>"
EVIL_ROW = "<script>alert(2)</script>"


def _tables(html: str) -> dict:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


class _Tables(HTMLParser):
    """class of each table -> its rows (lists of cell texts), tables in page order under one class."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list] = {}
        self.current = None
        self.cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.current = []
            self.tables.setdefault(dict(attrs).get("class") or "", []).append(self.current)
        elif tag == "tr" and self.current is not None:
            self.current.append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None and self.current:
            self.current[-1].append(self.cell.strip())
            self.cell = None
        elif tag == "table":
            self.current = None


def _images(html: str, alt_prefix: str) -> dict[str, bytes]:
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="(' + alt_prefix + r'[^"]*)"', html)
    return {alt: base64.b64decode(data) for data, alt in found}


# ---------------------------------------------------------------- the change metric

def test_change_is_mean_l1_per_pixel_and_mean_l2_per_image_on_the_0_1_scale():
    sources = torch.zeros(2, 1, 2, 2, dtype=torch.uint8)
    images = sources.clone()
    images[0] = 51  # 0.2 everywhere: L1 0.2, L2 sqrt(4 * 0.04) = 0.4; image 1 unchanged
    ctx = SimpleNamespace(generated=SimpleNamespace(images=images, sources=sources, spec="run"))
    got = METRICS.get("change").fn(None, None, ctx)
    assert got == {"change_l1": pytest.approx(0.1), "change_l2": pytest.approx(0.2)}


def test_change_of_an_input_without_sources_is_a_one_line_error(tmp_path, capsys):
    assert main(["score", "mnist-5k:test", "mnist-5k:test", "--metrics", "change", "--n", "10"]) == 2
    err = capsys.readouterr().err
    assert "change compares each modification with the real image it modifies" in err and err.count("\n") == 1


# ---------------------------------------------------------------- the strips, on a grid of known tiles

def test_strips_take_source_delta_and_result_of_each_class():
    k, rows, size = 3, 2, 4  # grid_size 4: ceil(sqrt(4)) = 2 source rows, 1 + 2K = 7 tiles a row
    tiles = torch.stack([torch.full((1, size, size), 10 * col + row, dtype=torch.uint8)
                         for row in range(rows) for col in range(1 + 2 * k)])
    grid = make_grid(tiles, nrow=1 + 2 * k, padding=2)  # (3, H, W) as the training loop saves it
    assert grid_layout(grid.shape[2], grid.shape[1], 4) == (3, 2, 6)
    assert grid_layout(grid.shape[2] + 6, grid.shape[1], 4) is None  # an even tile count is no ModNet grid
    buffer = io.BytesIO()
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    strips = class_strips(io.BytesIO(buffer.getvalue()), 4, ["a", "b", "c"])
    assert [s["name"] for s in strips] == ["a", "b", "c"]
    strip = Image.open(io.BytesIO(base64.b64decode(strips[1]["png"])))
    assert strip.size == (3 * 6 + 2, 2 * 6 + 2)
    # tile (row r, column j) of class 1's strip is the grid's column 0, 3 (delta) or 4 (result) of row r
    for r in range(rows):
        for j, col in enumerate((0, 3, 4)):
            assert strip.getpixel((2 + 6 * j + 1, 2 + 6 * r + 1))[0] == 10 * col + r


# ---------------------------------------------------------------- a real tiny ModNet run and an experiment of it

@pytest.fixture(scope="module")
def modnet_run(tmp_path_factory):
    """A 2-step modnet-fashion run with a grid, inside an experiment folder (``EXP/runs/modnet``) whose name is
    hostile, as ``ganforge experiment modnet-augment`` lays it out."""
    exp = tmp_path_factory.mktemp("report") / EVIL
    over = {**TINY, "model.generator.width": 8, "model.discriminator.width": 8, "sample_every": 2}
    return exp, ganforge.train("modnet-fashion", exp / "runs" / "modnet", steps=2, **over)


def _eval_record(run, **values):
    protocol = {"step": 2, "inputs": ["fashion-mnist:test", str(run)],
                "features": {"classifier": {"extractor": "classifier:fashion-mnist", "test_accuracy": 0.9266}}}
    write_json(run / "eval" / "step-0000002.json", {**values, "protocol": protocol})


def _augment_output(exp, run):
    """modnet-augment's summary on made-up accuracies, written by the experiment's own writer and plot."""
    from ganforge.experiments._common import write_outputs
    from ganforge.experiments.modnet_augment import NAME, draw

    curve = {"sizes": [10, 100], "skipped_sizes": [], "seeds": 2, "whole_train_split": 0.875,
             "real": {"mean": [0.4, 0.6], "std": [0.05, 0.02], "per_seed": [[0.35, 0.58], [0.45, 0.62]]},
             "real+generated": {"mean": [0.5, 0.65], "std": [0.1, 0.04], "per_seed": [[0.4, 0.61], [0.6, 0.69]]}}
    record = {"dataset": "fashion-mnist", "modnet": {"run": str(run), "preset": EVIL_ROW, "train_seconds": 1.0},
              "rows": {"curve": curve, "generated": {"sources": 64, "train_images": 576, "test_accuracy": 0.3125}},
              "protocol": {"note": EVIL_ROW, "seeds": 2}}
    write_outputs(exp, NAME, record, lambda path: draw(record, path))
    return exp / f"{NAME}.json"


@needs_fashion
def test_modnet_run_report_shows_strips_numbers_and_its_experiment(modnet_run, tmp_path):
    exp, run = modnet_run
    _eval_record(run, cond_acc=0.4375, change_l1=0.0625, change_l2=1.25)
    with open(run / "log.jsonl", "a") as log:  # what eval_every logs (ModNet.heldout_stats)
        log.write(json.dumps({"step": 2, "eval_fooling_rate": 0.15625, "eval_critic_acc_real": 0.5,
                              "eval_l1_per_pixel": 0.03125}) + "\n")
    _augment_output(exp, run)
    html = build_report([run], tmp_path / "r.html").read_text()

    strips = _images(html, "modnet target ")
    assert sorted(strips) == [f"modnet target {c}" for c in range(10)]
    grid = Image.open(run / "samples" / "step-0000002.png").convert("RGB")
    strip = Image.open(io.BytesIO(strips["modnet target 7"])).convert("RGB")
    pitch = 30  # 28 px tiles + 2 px padding
    for j, col in enumerate((0, 1 + 2 * 7, 2 + 2 * 7)):  # source, delta and result for class 7
        box = (col * pitch + 2, 2, col * pitch + 30, grid.size[1] - 2)
        assert strip.crop((j * pitch + 2, 2, j * pitch + 30, strip.size[1] - 2)).tobytes() == grid.crop(box).tobytes()

    rows = {r[0]: r[1:] for r in _tables(html)["modnet-numbers"][0][1:]}
    target = rows["target accuracy (share of modifications labelled as their target)"]
    assert target[0] == "0.4375" and target[1].startswith("classifier:fashion-mnist (test accuracy 0.927)")
    assert rows["mean L2 change per image"][0] == "1.2500"
    fooled = rows["fooling rate (share of modifications labelled as their target)"]
    assert fooled[0] == "0.1562" and fooled[1].startswith("the critic's class head (shared critic")
    assert rows["accuracy on real test images"][0] == "0.5000"

    numbers = _tables(html)["experiment-numbers"][0]
    assert numbers[0] == ["classifier trained on", "real only", "real + generated"]
    assert numbers[1] == ["10 real images", "0.4000 ± 0.0500", "0.5000 ± 0.1000"]
    assert numbers[4] == ["modifications of 64 images only", "–", "0.3125"]
    assert 'class="marked"' in html  # the rows measured with this run
    assert _images(html, "experiment modnet-augment plot")["experiment modnet-augment plot"] == \
        (exp / "modnet-augment.png").read_bytes()
    assert EVIL not in html and EVIL_ROW not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert not re.search(r'src="(?!data:)', html)


@needs_fashion
def test_report_of_an_experiment_folder_is_its_page(modnet_run, tmp_path):
    exp, run = modnet_run
    _augment_output(exp, run)
    out = tmp_path / "exp.html"
    assert main(["report", str(exp), "--out", str(out)]) == 0
    html = out.read_text()
    assert html.count('<h2 class="experiment">Experiment modnet-augment</h2>') == 1
    assert "ModNet modifications" not in html  # the page of the experiment, not of its run
    numbers = _tables(html)["experiment-numbers"][0]
    assert numbers[3] == ["whole train split", "0.875", "–"] and 'class="marked"' not in html
    protocol = re.search(r"<summary>protocol of modnet-augment</summary><pre>(.*?)</pre>", html, re.S).group(1)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in protocol and EVIL_ROW not in html
    assert "modnet = <code>" in html  # the run it used
    assert _images(html, "experiment ")  # its plot, embedded


def test_a_malformed_experiment_record_is_a_one_line_error(tmp_path, capsys):
    write_json(tmp_path / "modnet-augment.json", {"rows": {"curve": {"sizes": [10]}},
                                                  "written": [str(tmp_path / "modnet-augment.json")]})
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "modnet-augment.json: not the record modnet-augment writes" in err and err.count("\n") == 1


def test_other_experiments_get_every_number_of_their_record(tmp_path):
    write_json(tmp_path / "corruptions.json", {"clean": {"fid": 1.5}, "results": {"noise": {"fid": [2.5, 3.5]}},
                                               "protocol": {"dataset": "x"},
                                               "written": [str(tmp_path / "corruptions.json")]})
    html = build_report([tmp_path / "corruptions.json"], tmp_path / "r.html").read_text()
    rows = _tables(html)["experiment-numbers"][0]
    assert rows == [["value", "number"], ["clean.fid", "1.5"], ["results.noise.fid[0]", "2.5"],
                    ["results.noise.fid[1]", "3.5"]]


def test_a_run_without_modnet_or_experiment_data_has_no_such_sections(tmp_path):
    run = tmp_path / "gan"
    write_json(run / "config.json", {"preset": "quickstart", "description": "x", "model": {"family": "gan"}})
    (run / "log.jsonl").write_text(json.dumps({"step": 1, "loss_g": 1.0}) + "\n")
    write_json(tmp_path / "lucic-table.json", {"rows": [], "written": [str(tmp_path / "lucic-table.json")]})
    html = build_report([run], tmp_path / "r.html").read_text()  # an experiment beside it that does not name it
    assert "ModNet modifications" not in html and "modnet-numbers" not in html
    assert 'class="experiment' not in html


@needs_fashion
def test_a_modnet_run_side_keeps_the_test_image_each_modification_modifies(modnet_run):
    """What ``change`` compares: eval's sample of a ModNet run and, for each image, the source it came from."""
    from ganforge.evaluation.inputs import load_side
    from ganforge.models import to_uint8

    _, run = modnet_run
    side = load_side(str(run), 6, seed=3)
    model = ganforge.load(run)
    assert torch.equal(side.labels, torch.arange(6) % 10)
    result, _ = model.modify(side.sources, side.labels)
    assert torch.equal(to_uint8((result + 1) / 2), side.images)
    test = model.family.sources.flatten(1)
    assert all(bool((test == s.flatten()).all(1).any()) for s in side.sources)  # each one a test image


def test_interpret_headlines_name_each_rows_frozen_classifier(tmp_path):
    """modnet-interpret's summary as its writer lays it out (rows with their runs), on made-up numbers."""
    rows = {"weak": {"row": "weak", "run": str(tmp_path / "runs" / "weak"), "classifier": "shallow",
                     "fooling_rate": {"shallow": 0.8125, "small-cnn": 0.25}, "source_kept": {"shallow": 0.0625},
                     "clean_accuracy": {"shallow": 0.875}, "l1_per_pixel": 0.125, "l2_per_image": 6.0}}
    write_json(tmp_path / "modnet-interpret.json", {"rows": rows, "written": [str(tmp_path / "modnet-interpret.json")]})
    html = build_report([tmp_path], tmp_path / "r.html").read_text()
    table = _tables(html)["experiment-numbers"][0]
    assert table[1] == ["weak", "shallow", "0.8125", "small-cnn: 0.250", "0.0625", "0.875", "0.125", "6"]
    assert "weak = <code>" in html and "ModNet modifications" not in html
