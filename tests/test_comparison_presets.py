"""The comparison-model presets (issue 12 part 3): each resolves through the CLI's --dry-run, builds its
family and networks at its own geometry (CIFAR-10 ones on random tensors, as CIFAR-10 may not be installed)
and trains three steps on CPU; the settings each source states are pinned."""
from __future__ import annotations

import json
import math

import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.config import resolve_config
from ganforge.models import FAMILIES
from ganforge.nets import NetShape

from conftest import TINY, needs_fashion

#: preset -> the channels of its dataset (CIFAR-10: 3, Fashion-MNIST: 1)
PRESETS = {"dcgan-weak-fashion": 1, "dcgan-small-fashion": 1, "improved-gan-fm-fashion": 1,
           "improved-gan-mbd-fashion": 1, "wgangp-cifar32": 3, "goodfellow-conv-cifar": 3,
           "villani-conv-cifar": 3, "skliar-dcgan-fashion": 1}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_resolves_with_dry_run_and_its_nets_fit_its_geometry(preset, capsys, tmp_path):
    assert main(["train", preset, "--out", str(tmp_path / "x"), "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["preset"] == preset and not (tmp_path / "x").exists()
    cfg = resolve_config(preset)
    size = cfg.image_size or 28
    torch.manual_seed(0)
    family = FAMILIES.get(cfg.model.family)(cfg.model, NetShape(PRESETS[preset], size, cfg.model.z_dim, 10))
    z = family.sample_latent(4, device="cpu")
    x = family.G(z)
    assert x.shape == (4, PRESETS[preset], size, size)
    out = family.D(x)
    assert out.shape == (4,) and torch.isfinite(out).all()


def test_presets_state_their_sources_settings():
    weak = resolve_config("dcgan-weak-fashion").model
    assert weak.generator["batchnorm"] is False and weak.discriminator["batchnorm"] is False
    assert resolve_config("dcgan-small-fashion").model.generator["name"] == "small-dcgan-g"
    wgp = resolve_config("wgangp-cifar32")  # gan_cifar.py: DIM 128, lambda 10, 5 critic steps, Adam 1e-4 (.5, .9)
    assert (wgp.model.generator["width"], wgp.model.discriminator["width"], wgp.model.z_dim) == (128, 128, 128)
    assert (wgp.model.loss, wgp.model.loss_options["gp_weight"], wgp.d_steps) == ("wgan-gp", 10.0, 5)
    assert (wgp.g_opt.lr, wgp.g_opt.betas, wgp.batch_size, wgp.steps) == (1e-4, (0.5, 0.9), 64, 200000)
    fm, mbd = resolve_config("improved-gan-fm-fashion").model, resolve_config("improved-gan-mbd-fashion").model
    assert fm.options["feature_matching"] is True and mbd.options["feature_matching"] is False
    assert mbd.discriminator["minibatch_kernels"] == 100 and mbd.label_smoothing == 0.1  # targets .9
    conv = resolve_config("goodfellow-conv-cifar")  # cifar10_convolutional.yaml
    assert (conv.batch_size, conv.g_opt.lr, conv.g_opt.lr_decay, conv.data) == (128, 0.004, 1.000004,
                                                                               "cifar10:train[:40000]")
    skliar = resolve_config("skliar-dcgan-fashion")
    assert skliar.model.generator["leak"] == 0.2 and skliar.model.discriminator["batchnorm_first"] is True
    assert skliar.model.noisy_labels_range == (0.7, 1.2) and skliar.image_size == 64


@needs_fashion
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_trains_three_steps_on_cpu(preset, tmp_path):
    run = ganforge.train(preset, tmp_path / "r", steps=3, device="cpu", eval_every=0,
                         **{**TINY, "batch_size": 8})
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in log)
    size = resolve_config(preset).image_size or 28
    assert ganforge.load(run).sample(2, seed=0).shape == (2, 1, size, size)
