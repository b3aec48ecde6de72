"""Search spaces: ``(trial, base config) -> {dotted config key: value}``, registered by name (``--space``).

``lucic`` is the wide random-search space of Lucic et al. 2018 (*Are GANs Created Equal? A Large-Scale Study*,
the section on the large-scale experimental evaluation and its hyperparameter search: settings drawn at random
from wide ranges, one training run per draw, compared by FID): the Adam learning rate, log-uniform in
[1e-5, 1e-2], shared by G and D; Adam's beta1 and beta2, uniform in [0, 1); the number of discriminator updates per
generator update, 1 or 5; and for the losses with a gradient penalty (WGAN-GP, DRAGAN) its weight lambda,
log-uniform in [0.1, 100]. The same learning-rate, beta1, D-steps and lambda ranges are compare_gan's
``params.py`` ``wide`` ranges; that file keeps Adam's beta2 at 0.999 and also samples D's batch norm, WGAN's
clipping and BEGAN's lambda and gamma, which this space leaves at the preset's values.

The training budget is the preset's number of D updates, as in compare_gan: a draw of 5 D steps on a preset
with 1 trains a fifth of its generator steps. A space only samples what the model has: D's optimiser and
``d_steps`` when the family has a discriminator, lambda when the preset's loss has a penalty weight
(``gp_weight`` in its ``Args``). Values are proposed by the study's sampler through ``trial.suggest_*``
(Optuna), so a retried trial gets its original values back.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional

from ..config import RunConfig
from ..losses import LOSSES
from ..models import FAMILIES
from ..registry import Registry

#: a space: (optuna trial, the preset's config with the user's overrides) -> overrides to apply
Space = Callable[[Any, RunConfig], dict[str, Any]]
SPACES: Registry[Space] = Registry("search space")

#: the loss option holding a gradient penalty's weight lambda (ganforge.losses.wasserstein: wgan-gp, dragan)
PENALTY_WEIGHT = "gp_weight"
BETA_MAX = math.nextafter(1.0, 0.0)  # Adam needs beta < 1: the largest float below 1 closes [0, 1)


def has_discriminator(cfg: RunConfig) -> bool:
    """Whether the config's model family trains a discriminator (a VAE does not)."""
    return "discriminator" not in FAMILIES.get(cfg.model.family).unused_fields


def penalty_key(cfg: RunConfig) -> Optional[str]:
    """The ``model.loss_options`` key of the loss's gradient-penalty weight, or None when it has none."""
    if "loss" in FAMILIES.get(cfg.model.family).unused_fields:
        return None  # the family has its own objective (BEGAN, VAE): model.loss does not apply
    names = {f.name for f in dataclasses.fields(LOSSES.get(cfg.model.loss).Args)}
    return PENALTY_WEIGHT if PENALTY_WEIGHT in names else None


def model_label(cfg: RunConfig) -> str:
    """What Lucic et al. compare: the loss for GAN families that use one, else the family (began, vae)."""
    return cfg.model.family if "loss" in FAMILIES.get(cfg.model.family).unused_fields else cfg.model.loss


def same_d_updates(cfg: RunConfig, d_steps: int) -> int:
    """Generator steps that keep the config's number of D updates (``steps * d_steps``) with ``d_steps``:
    compare_gan trains for a number of epochs of D updates, whatever n_disc is."""
    return max(1, round(cfg.steps * cfg.d_steps / d_steps))


@SPACES.register("lucic")
def lucic_space(trial, cfg: RunConfig) -> dict[str, Any]:
    """Lucic et al. 2018's wide ranges (see the module docstring); keys as ``KEY=VALUE`` overrides."""
    lr = trial.suggest_float("lr", 1e-5, 1e-2, log=True)
    betas = [trial.suggest_float("beta1", 0.0, BETA_MAX), trial.suggest_float("beta2", 0.0, BETA_MAX)]
    out: dict[str, Any] = {"g_opt.lr": lr, "g_opt.betas": betas}
    if has_discriminator(cfg):
        d_steps = trial.suggest_categorical("d_steps", [1, 5])
        out.update({"d_opt.lr": lr, "d_opt.betas": betas, "d_steps": d_steps,
                    "steps": same_d_updates(cfg, d_steps)})
    key = penalty_key(cfg)
    if key is not None:
        out[f"model.loss_options.{key}"] = trial.suggest_float("lambda", 0.1, 100.0, log=True)
    return out
