"""Config: presets resolve, overrides reach nested keys, bad keys and values are one-line user errors."""
from __future__ import annotations

import pytest

from ganforge.config import (OptimConfig, RunConfig, apply_overrides, from_dict, load_preset, parse_override,
                             preset_names, resolve_config, to_dict)
from ganforge.errors import GanforgeError
from ganforge.registry import Registry

REQUIRED_PRESETS = {"goodfellow-mnist", "dcgan-fashion", "dcgan64-fashion", "lucic-mm", "lucic-ns"}


def test_required_presets_exist_and_resolve():
    assert REQUIRED_PRESETS <= set(preset_names())
    for name in preset_names():
        cfg = resolve_config(name)
        assert cfg.preset == name
        assert load_preset(name)["description"], f"{name} has no description citing its source"


def test_lucic_presets_follow_the_design_constants():
    ns, mm = resolve_config("lucic-ns"), resolve_config("lucic-mm")
    for cfg, loss in ((ns, "ns"), (mm, "mm")):
        assert cfg.model.loss == loss
        assert (cfg.g_opt.betas[0], cfg.g_opt.lr, cfg.d_steps) == (0.0, 5e-5, 1)
        assert cfg.model.z_dim == 64 and cfg.model.z_dist == "uniform" and cfg.batch_size == 64
        assert cfg.steps == 15625


def test_goodfellow_preset_schedule_constants():
    cfg = resolve_config("goodfellow-mnist")
    assert cfg.g_opt.name == "sgd" and cfg.g_opt.lr == 0.1 and cfg.g_opt.lr_decay == 1.000004
    assert cfg.g_opt.momentum == 0.5 and cfg.g_opt.momentum_final == 0.7 and cfg.g_opt.momentum_ramp_epochs == 250
    assert cfg.batch_size == 100 and abs(cfg.model.z_scale - 3 ** 0.5) < 1e-12


def test_overrides_parse_yaml_values_and_reach_nested_sections():
    assert parse_override("steps=3000") == ("steps", 3000)
    assert parse_override("g_opt.lr=1.0e-4") == ("g_opt.lr", 1e-4)
    assert parse_override("g_opt.lr=1e-4") == ("g_opt.lr", 1e-4)  # a string to YAML 1.1, a number to users
    assert parse_override("data=fashion-mnist:train[:2000]") == ("data", "fashion-mnist:train[:2000]")
    assert parse_override("g_opt.betas=[0.5, 0.99]") == ("g_opt.betas", [0.5, 0.99])
    cfg = resolve_config("lucic-ns", {"steps": 10, "g_opt.lr": 1e-3, "g_opt.betas": [0.5, 0.99],
                                      "model.discriminator.batchnorm": False, "precision": "bf16"})
    assert cfg.steps == 10 and cfg.g_opt.lr == 1e-3 and cfg.g_opt.betas == (0.5, 0.99)
    assert cfg.model.discriminator == {"name": "lucic-d", "batchnorm": False}
    assert cfg.d_opt.lr == 5e-5  # untouched


def test_int_for_float_is_accepted_but_string_is_not():
    cfg = resolve_config("lucic-ns", {"g_opt.lr": 1})
    assert isinstance(cfg.g_opt.lr, float)
    with pytest.raises(GanforgeError, match="g_opt.lr must be float"):
        resolve_config("lucic-ns", {"g_opt.lr": "fast"})


@pytest.mark.parametrize("overrides, message", [
    ({"stepz": 3}, "unknown config key 'stepz'"),
    ({"g_opt.lrr": 3}, "unknown config key 'g_opt.lrr'"),
    ({"precision": "fp16"}, "precision='fp16' is not one of"),
    ({"device": "tpu"}, "device='tpu'"),
    ({"steps": 0}, "steps must be a positive"),
    ({"batch_size": 2.5}, "batch_size must be int"),
    ({"ema_decay": 1.0}, "ema_decay must be in"),
    ({"dist_timeout_min": 0}, r"dist_timeout_min must be a number of minutes in \(0, 1e6\]"),
    ({"dist_timeout_min": float("inf")}, "dist_timeout_min must be a number of minutes"),
    ({"sync_bn": "yes"}, "sync_bn must be true or false"),
    ({"steps.x": 1}, "'steps' is a value, not a section"),
    ({"log_to": "wandb"}, "log_to='wandb' is not one of: jsonl, tensorboard"),
    ({"log_to": "tensorboard,tb"}, "log_to='tb' is not one of"),
    ({"log_to": [1]}, "log_to must be str"),
    ({"log_to": {"a": 1}}, "log_to must be a list"),
])
def test_bad_overrides_are_user_errors(overrides, message):
    with pytest.raises(GanforgeError, match=message):
        resolve_config("lucic-ns", overrides)


def test_unknown_preset_suggests_close_names_and_the_listing_command():
    with pytest.raises(GanforgeError, match=r"unknown preset 'lucic-nss' \(did you mean lucic-ns\b"):
        resolve_config("lucic-nss")
    with pytest.raises(GanforgeError, match=r"unknown preset 'nope' \(`ganforge presets` lists all \d+\)"):
        resolve_config("nope")


def test_override_without_equals_is_rejected():
    with pytest.raises(GanforgeError, match="not KEY=VALUE"):
        parse_override("steps")


@pytest.mark.parametrize("text, expected", [
    ("log_to=tensorboard", ["jsonl", "tensorboard"]),
    ("log_to=jsonl,tensorboard", ["jsonl", "tensorboard"]),
    ("log_to=[tensorboard, jsonl, tensorboard]", ["jsonl", "tensorboard"]),
    ("log_to=jsonl", ["jsonl"]),
    ("log_to=", ["jsonl"]),
])
def test_log_to_override_always_keeps_jsonl(text, expected):
    """One name, names joined by commas or a YAML list; log.jsonl is always written, so jsonl is first."""
    assert resolve_config("lucic-ns", dict([parse_override(text)])).log_to == expected


def test_config_saved_before_log_to_existed_resolves_to_jsonl():
    saved = to_dict(resolve_config("lucic-ns"))
    del saved["log_to"]
    assert resolve_config("lucic-ns", base=saved).log_to == ["jsonl"]


def test_round_trip_through_dict_is_identity():
    cfg = resolve_config("goodfellow-mnist", {"seed": 7})
    assert from_dict(RunConfig, to_dict(cfg)) == cfg


def test_apply_overrides_does_not_mutate_input():
    base = {"g_opt": {"lr": 1.0}}
    out = apply_overrides(base, {"g_opt.lr": 2.0})
    assert base["g_opt"]["lr"] == 1.0 and out["g_opt"]["lr"] == 2.0


def test_registry_rejects_duplicates_wrong_base_and_unknown_names():
    reg: Registry = Registry("thing", base=OptimConfig)
    reg.register("a")(OptimConfig)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(OptimConfig)
    with pytest.raises(TypeError, match="subclass of OptimConfig"):
        reg.register("b")(int)
    with pytest.raises(GanforgeError, match="unknown thing 'c' \\(expected one of: a\\)"):
        reg.get("c")


# google/compare_gan params.py (per-GAN defaults) and generate_tasks_lib.py (20 epochs of 50,000 at batch 64 =
# 15,625 D updates): preset -> (loss, loss_options, beta1, lr, d_steps, steps in G steps, D batch norm)
COMPARE_GAN = {
    "lucic-ns": ("ns", {}, 0.0, 5e-5, 1, 15625, True),
    "lucic-mm": ("mm", {}, 0.0, 5e-5, 1, 15625, True),
    "lucic-lsgan": ("lsgan", {"scores": "sigmoid"}, 0.5, 2e-4, 1, 15625, True),
    "lucic-wgan": ("wgan", {"clip": 0.01}, 0.5, 5e-5, 5, 3125, True),
    "lucic-wgangp": ("wgan-gp", {"gp_weight": 10.0, "slope_eps": 1e-4}, 0.5, 1e-4, 5, 3125, False),
    "lucic-dragan": ("dragan", {"gp_weight": 10.0, "form": "compare_gan"}, 0.5, 1e-4, 1, 15625, True),
}


@pytest.mark.parametrize("name", sorted(COMPARE_GAN))
def test_lucic_gan_presets_match_compare_gan_defaults(name):
    loss, options, beta1, lr, d_steps, steps, d_bn = COMPARE_GAN[name]
    cfg = resolve_config(name)
    assert (cfg.model.loss, dict(cfg.model.loss_options)) == (loss, options)
    for opt in (cfg.g_opt, cfg.d_opt):
        assert (opt.name, opt.betas[0], opt.betas[1], opt.lr) == ("adam", beta1, 0.999, lr)
    assert (cfg.d_steps, cfg.steps, cfg.batch_size, cfg.model.z_dim, cfg.model.z_dist) == (d_steps, steps, 64, 64,
                                                                                             "uniform")
    assert cfg.model.discriminator.get("batchnorm", True) is d_bn
    assert cfg.model.generator == {"name": "lucic-g", "leak": 0.2}  # compare_gan's G uses lrelu(0.2)
