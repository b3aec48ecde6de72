"""Typed run configuration: presets (YAML data), then ``KEY=VALUE`` overrides, then validation.

A run is described by one :class:`RunConfig`. Presets live in ``ganforge/presets/*.yaml`` as plain data;
``resolve_config`` merges a preset with command-line overrides (dotted keys reach nested sections, e.g.
``g_opt.lr=1e-4`` or ``model.generator.width=32``) and builds the dataclasses, rejecting unknown keys and
values of the wrong type with one-line messages. The resolved config is saved in the run directory as JSON.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Optional

import yaml

from .errors import GanforgeError
from .logsinks import log_sinks


@dataclass
class OptimConfig:
    """An optimiser and its per-step schedule (pure functions of the step, so resume needs no state).

    ``lr_schedule`` names a registered learning-rate schedule (``ganforge.training.optim.SCHEDULES``):
    ``exponential`` (the default) divides the learning rate by ``lr_decay`` every step down to ``lr_min``
    (Goodfellow et al. 2014: 1.000004, floor 1e-6; ``lr_decay`` 1 keeps it constant); ``linear`` keeps ``lr``
    for the first ``lr_hold`` share of the run's ``steps``, then decays it linearly towards ``lr_min`` (Zhu et
    al. 2017, CycleGAN, section 7.1: constant for 100 epochs, then linearly to zero over the next 100). ``momentum_final`` ramps momentum linearly from ``momentum`` to it over
    ``momentum_ramp_epochs`` epochs (pylearn2 MomentumAdjustor; Goodfellow: 0.5 -> 0.7 by epoch 250).
    """

    name: str = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-8
    momentum: float = 0.0
    weight_decay: float = 0.0
    lr_decay: float = 1.0
    lr_min: float = 0.0
    lr_schedule: str = "exponential"
    lr_hold: float = 0.5  # linear schedule: the share of the run's steps at the constant lr
    momentum_final: Optional[float] = None
    momentum_ramp_epochs: float = 0.0


@dataclass
class ModelConfig:
    """Which model family, networks and loss; network options are checked by the network itself.

    ``encoder`` is the VAE's encoder network; ``options`` are the family's own settings (InfoGAN codes, BEGAN
    gamma, VAE likelihood, ...), checked against the family's ``Args`` dataclass.

    Real-image targets for D (``ganforge.losses.heuristics``): ``label_smoothing`` s gives 1 - s (one-sided,
    Salimans et al. 2016); ``noisy_labels`` draws them from U(``noisy_labels_range``) with 5% flipped to
    U(0, 0.3). The default range (0.7, 1.0) keeps targets at most 1; the course report on VAE and DCGAN used
    (0.7, 1.2), where binary cross-entropy is unbounded below as a real logit grows.
    """

    family: str = "gan"
    z_dim: int = 100
    z_dist: str = "normal"
    z_scale: float = 1.0
    generator: dict = field(default_factory=lambda: {"name": "dcgan-g"})
    discriminator: dict = field(default_factory=lambda: {"name": "dcgan-d"})
    loss: str = "ns"
    loss_options: dict = field(default_factory=dict)
    label_smoothing: float = 0.0
    noisy_labels: bool = False
    noisy_labels_range: tuple[float, float] = (0.7, 1.0)
    instance_noise: float = 0.0
    instance_noise_steps: int = 0
    spectral_norm: bool = False
    freeze_d_layers: int = 0
    encoder: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)


@dataclass
class RunConfig:
    """Everything that defines a training run. Step counts are training steps: each is ``d_steps``
    discriminator updates then ``g_steps`` generator updates (j and k of Basart 2017, "Analysis of Generative
    Adversarial Models", Training Algorithm box; 1 and 1 by default, Goodfellow et al. 2014's Algorithm 1 with
    k = 1).

    Under torchrun: ``batch_size`` is the global batch, split evenly over the processes, so without
    ``sync_bn`` each process's BatchNorm layers normalise with the statistics of its own batch_size/world
    images; ``sync_bn=true`` computes them over the whole global batch (two small all-reduces per BatchNorm
    layer in every training forward and backward; a single process needs nothing and ignores it).
    ``dist_timeout_min`` is how long a collective may wait for the other processes before the run fails
    (work rank 0 does alone, such as evaluation, is waited for without limit).
    ``ema_bn`` is which batch-norm statistics the EMA generator (``ema_decay`` > 0) samples with:
    ``standing`` (recomputed for the averaged weights before they are saved, shown or evaluated) or
    ``averaged`` (the EMA of the live network's running statistics).
    ``data_target`` is the second image domain of an unpaired image-to-image family (CycleGAN's Y, with
    ``data`` its X), drawn in batches of its own; other families leave it empty.
    ``log_to`` names the log sinks (:mod:`ganforge.logsinks`): ``jsonl`` (DIR/log.jsonl, always written) and
    ``tensorboard`` (event files in DIR/tensorboard/); an override may give one name or several joined by
    commas (``log_to=tensorboard``).
    """

    preset: str = ""
    description: str = ""
    data: str = "fashion-mnist:train"
    data_target: str = ""
    data_root: Optional[str] = None
    image_size: Optional[int] = None
    steps: int = 1000
    batch_size: int = 64
    seed: int = 0
    precision: str = "fp32"
    device: str = "auto"
    d_steps: int = 1
    g_steps: int = 1
    ema_decay: float = 0.0
    ema_bn: str = "standing"
    ckpt_every: int = 1000
    ckpt_every_min: float = 0.0  # also a checkpoint every this many minutes of training time (0: off)
    max_minutes: float = 0.0     # stop once the run has trained this many minutes (0: no limit; steps still ends it)
    keep_checkpoints: int = 3
    sample_every: int = 500
    eval_every: int = 0
    eval_n: int = 2000
    log_every: int = 50
    grid_size: int = 64
    compile: bool = False
    channels_last: bool = True
    sync_bn: bool = False
    dist_timeout_min: float = 30.0
    log_to: list[str] = field(default_factory=lambda: ["jsonl"])
    model: ModelConfig = field(default_factory=ModelConfig)
    g_opt: OptimConfig = field(default_factory=OptimConfig)
    d_opt: OptimConfig = field(default_factory=OptimConfig)


CHOICES = {"precision": ("fp32", "bf16", "auto"), "device": ("auto", "cpu", "cuda"),
           "z_dist": ("normal", "uniform"), "ema_bn": ("standing", "averaged")}
POSITIVE = ("steps", "batch_size", "d_steps", "g_steps", "ckpt_every", "sample_every", "log_every",
            "grid_size", "keep_checkpoints", "z_dim", "eval_n")


# ---------------------------------------------------------------- presets

def preset_names() -> list[str]:
    files = resources.files("ganforge") / "presets"
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict:
    """The preset ``name`` as a dict (its ``description`` included)."""
    names = preset_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise GanforgeError(f"unknown preset {name!r} ({hint}`ganforge presets` lists all {len(names)})")
    text = (resources.files("ganforge") / "presets" / f"{name}.yaml").read_text()
    data = yaml.safe_load(text) or {}
    data["preset"] = name
    return data


def preset_description(name: str) -> str:
    return " ".join(str(load_preset(name).get("description", "")).split())


# ---------------------------------------------------------------- overrides

def parse_override(text: str) -> tuple[str, Any]:
    """``"g_opt.lr=1e-4"`` -> ``("g_opt.lr", 1e-4)``; the value is read as YAML (numbers, bools, lists)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise GanforgeError(f"override {text!r} is not KEY=VALUE (e.g. steps=3000)")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string; users mean the number
        try:
            value = float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            pass
    return key.strip(), value


def apply_overrides(data: dict, overrides: dict[str, Any]) -> dict:
    """Set dotted keys in a nested dict (copying it); unknown keys are caught when building dataclasses."""
    out = json.loads(json.dumps(data))
    for key, value in overrides.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise GanforgeError(f"config key {key!r}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


# ---------------------------------------------------------------- dict -> dataclasses

def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise GanforgeError(f"config {where} must be a section (mapping), got {value!r}")
        return from_dict(tp, value, where + ".")
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise GanforgeError(f"config {where} must be a list of {len(args)} numbers, got {value!r}")
        return tuple(_coerce(v, a, where) for v, a in zip(value, args))
    if origin is list:
        if isinstance(value, str):  # an override: "tensorboard" or "jsonl,tensorboard"
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise GanforgeError(f"config {where} must be a list, got {value!r}")
        return [_coerce(v, args[0], where) for v in value]
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise GanforgeError(f"config {where} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise GanforgeError(f"config {where} must be true or false, got {value!r}")
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise GanforgeError(f"config {where} must be {getattr(tp, '__name__', tp)}, got {value!r}")


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types are user errors."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise GanforgeError(f"unknown config key {where + key!r} (expected one of: {', '.join(names)})")
    kwargs = {k: _coerce(v, hints[k], f"{where}{k}") for k, v in data.items()}
    return cls(**kwargs)


def validate(cfg: RunConfig) -> RunConfig:
    """Check values that have a fixed set of choices or must be positive; ``log_to`` gains ``jsonl``."""
    for key, allowed in CHOICES.items():
        obj = cfg.model if key == "z_dist" else cfg
        if getattr(obj, key) not in allowed:
            raise GanforgeError(f"config {key}={getattr(obj, key)!r} is not one of: {', '.join(allowed)}")
    for key in POSITIVE:
        obj = cfg.model if key == "z_dim" else cfg
        if getattr(obj, key) <= 0:
            raise GanforgeError(f"config {key} must be a positive whole number, got {getattr(obj, key)}")
    if not 0.0 <= cfg.ema_decay < 1.0:
        raise GanforgeError(f"config ema_decay must be in [0, 1), got {cfg.ema_decay}")
    if not 0 < cfg.dist_timeout_min <= 1e6:  # also rejects nan and inf (a timedelta cannot hold them)
        raise GanforgeError(f"config dist_timeout_min must be a number of minutes in (0, 1e6], "
                            f"got {cfg.dist_timeout_min}")
    cfg.log_to = log_sinks(cfg.log_to)
    if "name" not in cfg.model.generator:
        raise GanforgeError("config model.generator needs a 'name' (a registered network)")
    _check_real_targets(cfg.model)
    _check_ranges(cfg)
    return cfg


def _check_real_targets(model: ModelConfig) -> None:
    """Label smoothing in [0, 1); a noisy-label range 0 <= low < high; not both (each sets the targets)."""
    if not 0.0 <= model.label_smoothing < 1.0:
        raise GanforgeError(f"config model.label_smoothing must be in [0, 1), got {model.label_smoothing}")
    low, high = model.noisy_labels_range
    if not (math.isfinite(high) and 0.0 <= low < high):
        raise GanforgeError(f"config model.noisy_labels_range must be [low, high] with 0 <= low < high, "
                            f"got {list(model.noisy_labels_range)}")
    if model.noisy_labels and model.label_smoothing > 0:
        raise GanforgeError("config model.label_smoothing and model.noisy_labels both set the real targets; "
                            "choose one")


def _check_ranges(cfg: RunConfig) -> None:
    """Values torch or the training loop would fail on or misread (``g_opt.lr=-1``), checked when the config
    is resolved, so ``--dry-run`` refuses them too."""
    model = cfg.model
    checks = {"image_size": (cfg.image_size is None or cfg.image_size > 0, "a positive number of pixels"),
              "eval_every": (cfg.eval_every >= 0, "at least 0 (0: off)"),
              "ckpt_every_min": (cfg.ckpt_every_min >= 0, "at least 0 (0: off)"),
              "max_minutes": (cfg.max_minutes >= 0, "at least 0 (0: no limit)"),
              "seed": (0 <= cfg.seed < 2**63, "a whole number in 0..2**63-1"),
              "model.instance_noise": (model.instance_noise >= 0, "at least 0"),
              "model.instance_noise_steps": (model.instance_noise_steps >= 0, "at least 0")}
    for name in ("g_opt", "d_opt"):
        opt = getattr(cfg, name)
        checks.update({f"{name}.lr": (opt.lr > 0, "positive"), f"{name}.lr_decay": (opt.lr_decay > 0, "positive"),
                       f"{name}.betas": (all(0 <= b < 1 for b in opt.betas), "two numbers in [0, 1)"),
                       f"{name}.lr_hold": (0 <= opt.lr_hold <= 1, "in [0, 1]"),
                       **{f"{name}.{k}": (getattr(opt, k) >= 0, "at least 0")
                          for k in ("eps", "weight_decay", "momentum", "lr_min")}})
    for key, (ok, expected) in checks.items():
        if not ok:
            raise GanforgeError(f"config {key} must be {expected}, got {functools.reduce(getattr, key.split('.'), cfg)}")


def resolve_config(preset: str, overrides: dict[str, Any] | None = None, base: dict | None = None) -> RunConfig:
    """Preset (or a saved run's config ``base``) + overrides -> validated :class:`RunConfig`."""
    data = base if base is not None else load_preset(preset)
    return validate(from_dict(RunConfig, apply_overrides(data, overrides or {})))


def reference_data(cfg: RunConfig | dict) -> str:
    """The training data a run's samples should resemble (a resolved config or its saved dict): ``data_target``
    for an unpaired image-to-image run (CycleGAN translates ``data`` into it), else ``data``."""
    if isinstance(cfg, dict):
        return cfg.get("data_target") or cfg["data"]
    return cfg.data_target or cfg.data


def to_dict(cfg: RunConfig) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))
