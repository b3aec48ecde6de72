"""Random search whose draws depend only on (seed, trial number, parameter name).

Lucic et al. 2018 sample their hyperparameters at random; Optuna's ``RandomSampler`` would do, except that
every worker of a many-machine study holds its own copy of the sampler's random stream, so two workers
started with the same seed would propose the same settings. Here each value is drawn from a generator
seeded with ``(seed, trial.number, crc32(name))``: trial numbers are unique in the study's storage, so the
workers never repeat each other, and a study run again with the same seed proposes the same settings.
Optuna's ``BaseSampler`` interface (no relative sampling, independent draws only) is all it implements.
"""
from __future__ import annotations

import math
import zlib

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution


def _float(rng: np.random.Generator, d: FloatDistribution) -> float:
    if d.log:
        return float(min(d.high, math.exp(rng.uniform(math.log(d.low), math.log(d.high)))))
    value = float(rng.uniform(d.low, d.high))  # [low, high): a bound given as nextafter(1, 0) stays below 1
    if d.step is not None:
        value = d.low + d.step * round((value - d.low) / d.step)
    return float(min(max(value, d.low), d.high))


def _int(rng: np.random.Generator, d: IntDistribution) -> int:
    if d.log:
        return int(min(d.high, math.floor(math.exp(rng.uniform(math.log(d.low), math.log(d.high + 1))))))
    return int(rng.choice(np.arange(d.low, d.high + 1, d.step)))


def _categorical(rng: np.random.Generator, d: CategoricalDistribution):
    return d.choices[int(rng.integers(len(d.choices)))]


DRAWS = {FloatDistribution: _float, IntDistribution: _int, CategoricalDistribution: _categorical}


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Independent random draws, reproducible per (seed, trial number, parameter name)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def infer_relative_search_space(self, study, trial) -> dict:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict:
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        rng = np.random.default_rng([self.seed, trial.number, zlib.crc32(param_name.encode())])
        return DRAWS[type(param_distribution)](rng, param_distribution)
