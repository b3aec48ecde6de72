"""The iterative families (``ddpm``, ``flow``) in everything that exists: network evaluations per image equal to
what each sampler's steps ask for (counted on the network), exact resume with an EMA, ``ganforge sample
--steps``, ``eval`` recording the sampling, and the Python API, on tiny networks and 512 real images."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.config import ModelConfig
from ganforge.evaluation import evaluate_run
from ganforge.models import FAMILIES, SamplerRequest
from ganforge.report import build_report
from ganforge.nets import NetShape
from ganforge.runs import RunDir
from ganforge.training.checkpoint import load_checkpoint

from conftest import TINY, assert_bitwise_equal, needs_fashion

#: tiny networks, 2 sampler steps, no progress grids but the last
SMALL = {**TINY, "max_minutes": 0, "model.generator.width": 8, "model.generator.mults": [1, 2],
         "model.options.sample_steps": 2}


def _family(name: str, **options):
    torch.manual_seed(0)
    cfg = ModelConfig(family=name, generator={"name": "time-unet", "width": 8, "mults": [1, 2]}, discriminator={},
                      options=options)
    return FAMILIES.get(name)(cfg, NetShape(1, 28, 8, 10))


@pytest.mark.parametrize("name,options,request_,per_step", [
    ("ddpm", {}, SamplerRequest(sampler="ancestral", steps=7), 1),
    ("ddpm", {}, SamplerRequest(sampler="ddim", steps=4, eta=0.5), 1),
    ("ddpm", {"class_cond": True}, SamplerRequest(steps=3, guidance=2.0), 2),  # conditional + unconditional
    ("flow", {}, SamplerRequest(sampler="euler", steps=5), 1),
    ("flow", {}, SamplerRequest(sampler="heun", steps=5), 2),
    ("flow", {"class_cond": True}, SamplerRequest(sampler="heun", steps=2, guidance=1.0), 4),
])
def test_network_evaluations_per_image_are_the_requested_steps(name, options, request_, per_step):
    fam = _family(name, **options)
    images = []
    fam.G.register_forward_pre_hook(lambda _m, args: images.append(args[0].shape[0]))
    n = 3
    z = fam.sample_latent(n, torch.Generator().manual_seed(0), device="cpu")
    labels = torch.tensor([0, 4, 9]) if fam.conditional else None
    with fam.sampling(request_) as record:
        fam.generate(z, labels, use_ema=False)
    assert sum(images) / n == record["nfe_per_image"] == request_.steps * per_step
    assert (record["sampler"], record["steps"]) == (request_.sampler or "ddim", request_.steps)


@needs_fashion
@pytest.mark.parametrize("preset,extra", [("ddpm-fashion", {"model.options.sampler": "ancestral"}),
                                          ("flow-fashion", {"model.options.class_cond": True,
                                                            "model.options.guidance": 1.0})])
def test_resume_is_bitwise_identical_with_ema(tmp_path, preset, extra):
    over = {**SMALL, "ema_decay": 0.9, **extra}
    ganforge.train(preset, tmp_path / "straight", steps=4, **over)
    ganforge.train(preset, tmp_path / "halves", steps=2, **over)  # its step-2 grid must not move training's RNG
    ganforge.train(preset, tmp_path / "halves", resume=True, steps=4, **over)
    a, b = (load_checkpoint(RunDir(tmp_path / r).latest_checkpoint()) for r in ("straight", "halves"))
    assert a["step"] == b["step"] == 4
    assert_bitwise_equal({k: a[k] for k in ("model", "optim", "sampler", "rng")},
                         {k: b[k] for k in ("model", "optim", "sampler", "rng")})
    assert any(k.startswith("g_ema.") for k in a["model"])
    assert not torch.equal(a["model"]["g_ema.module.stem.weight"], a["model"]["G.stem.weight"])
    log = [json.loads(line) for line in (tmp_path / "halves" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(np.isfinite(r["loss_g"]) for r in log)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 3-step ddpm-fashion run and a 3-step flow-fashion run on the tiny networks."""
    from conftest import fashion_available

    if not fashion_available():
        pytest.skip("Fashion-MNIST not installed")
    root = tmp_path_factory.mktemp("iterative")
    return {p: ganforge.train(p, root / p, steps=3, **SMALL) for p in ("ddpm-fashion", "flow-fashion")}


@pytest.mark.parametrize("preset,args,nfe", [("ddpm-fashion", ["--steps", "3"], 3),
                                             ("ddpm-fashion", ["--sampler", "ancestral", "--steps", "4"], 4),
                                             ("flow-fashion", ["--sampler", "heun", "--steps", "3"], 6)])
def test_cli_sample_takes_steps_and_reports_network_evaluations(runs, tmp_path, capsys, preset, args, nfe):
    out = tmp_path / "s.npz"
    assert main(["sample", str(runs[preset]), "--n", "5", "--seed", "2", "--out", str(out), *args]) == 0
    printed = capsys.readouterr().out
    assert f"{nfe} network evaluations per image" in printed and f"{args[-1]} steps" in printed
    images = np.load(out)["images"]
    model = ganforge.load(runs[preset])
    settings = dict(zip([a.lstrip("-") for a in args[::2]], [int(v) if v.isdigit() else v for v in args[1::2]]))
    expected = model.sample(5, seed=2, batch_size=2, **settings)
    assert images.shape == (5, 28, 28, 1) and np.array_equal(images, expected.permute(0, 2, 3, 1).numpy())
    assert not torch.equal(expected, model.sample(5, seed=2, steps=1))  # the steps change the samples


def test_cli_refuses_sampler_settings_for_bad_values_and_one_pass_families(runs, tmp_path, capsys):
    for argv, fragment in (([str(runs["ddpm-fashion"]), "--steps", "1001"], "steps must be a whole number in 1..1000"),
                           ([str(runs["flow-fashion"]), "--eta", "0.3"], "has no eta")):
        assert main(["sample", *argv, "--out", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0], err
    gan = ganforge.train("quickstart", tmp_path / "gan", steps=1, **TINY)
    assert main(["sample", str(gan), "--steps", "5", "--out", str(tmp_path / "g.png")]) == 2
    assert "model family 'gan' draws each image in one network evaluation" in capsys.readouterr().err
    assert main(["sample", str(gan), "--n", "4", "--out", str(tmp_path / "g.png")]) == 0
    assert "(1 network evaluation per image" in capsys.readouterr().out


def test_eval_records_the_sampler_and_its_network_evaluations(runs, monkeypatch, capsys):
    monkeypatch.setenv("GANFORGE_CACHE", str(runs["flow-fashion"].parent / "cache"))
    result, out = evaluate_run(runs["flow-fashion"], ["fid"], "pixels", n=40, sampler={"steps": 2, "sampler": "heun"})
    record = json.loads(out.read_text())
    ref, gen = record["protocol"]["sampling"]
    assert ref is None and gen["images"] == 40 and gen["seconds"] > 0
    assert {k: gen[k] for k in ("sampler", "steps", "nfe_per_image")} == {"sampler": "heun", "steps": 2,
                                                                         "nfe_per_image": 4}
    assert np.isfinite(record["fid"]) and record["protocol"]["step"] == 3
    assert main(["eval", str(runs["ddpm-fashion"]), "--metrics", "fid", "--features", "pixels", "--n", "40",
                 "--steps", "3"]) == 0
    assert "ddim, 3 steps: 3 network evaluations per image" in capsys.readouterr().out


def test_eval_at_two_step_counts_keeps_two_records_and_the_report_shows_their_cost(runs, monkeypatch, tmp_path):
    monkeypatch.setenv("GANFORGE_CACHE", str(runs["flow-fashion"].parent / "cache"))
    run = runs["ddpm-fashion"]
    outs = {steps: evaluate_run(run, ["fid"], "pixels", n=40, sampler={"steps": steps, "sampler": "ddim"})[1]
            for steps in (2, 5)}
    assert outs[2] != outs[5] and outs[2].name == "step-0000003-ddim-steps2.json"
    nfe = {s: json.loads(p.read_text())["protocol"]["sampling"][1]["nfe_per_image"] for s, p in outs.items()}
    assert nfe == {2: 2, 5: 5}  # the 5-step record did not overwrite the 2-step one
    html = build_report([run], tmp_path / "r.html").read_text()
    assert "ddim, 2 steps, 2 NFE/image" in html and "ddim, 5 steps, 5 NFE/image" in html


def test_python_api_samples_are_deterministic_and_batch_size_free(runs):
    for preset in runs:
        model = ganforge.load(runs[preset])
        a = model.sample(6, seed=1, batch_size=4)
        assert a.dtype == torch.uint8 and a.shape == (6, 1, 28, 28)
        assert torch.equal(a, model.sample(6, seed=1, batch_size=6)) and not torch.equal(a, model.sample(6, seed=2))
        images, record = model.sample_timed(6, seed=1)
        assert torch.equal(images, a) and record["nfe_per_image"] == 2 and record["images"] == 6
