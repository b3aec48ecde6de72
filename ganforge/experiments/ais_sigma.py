"""``ais-sigma``: the AIS log-likelihood of one fixed generator as the observation noise sigma varies
(Basart 2017, "Analysis of Generative Adversarial Models", Fig. 3.5: "even for a fixed GAN the Annealed
Importance Sampling score can vary by an order of magnitude depending on the sigma used").

One GAN (the ``quickstart`` preset on the dataset, any ``KEY=VALUE`` overriding it) is trained or resumed as
the row ``gan`` (:mod:`ganforge.experiments._rows`); then for each sigma of a log grid, the AIS estimate
of log p(x) of the first ``n`` test images under N(x; G(z), sigma^2 I) on pixels in [0, 1] (Wu et al. 2017,
"On the Quantitative Analysis of Decoder-Based Generative Models"; :mod:`ganforge.metrics.ais`), with its
standard error over images and the BDMC gap on simulated images when ``ais.bdmc`` > 0. Each sigma is a cell
file ``OUT/cells/sigma-S.json`` kept when finished, so a killed grid resumes. Settings: ``ais.sigmas=[...]``,
``ais.steps``, ``ais.chains``, ``ais.leapfrog``, ``ais.bdmc``; every other ``KEY=VALUE`` overrides the preset.
Writes ``OUT/gan.json``, ``OUT/ais-sigma.json`` and ``.png`` (log p(x) and bits per dimension against sigma).
"""
from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from ..errors import GanforgeError
from ..evaluation.likelihood import MODEL_METRICS, LikelihoodOptions, reference_images
from ..fileio import write_json
from ..metrics.ais import AISConfig
from ..training.trained import load
from . import EXPERIMENTS, ExperimentOptions
from ._common import Curve, plot_panels, write_outputs
from ._rows import chosen_rows, measured_row, row_config

NAME = "ais-sigma"
PRESET = "quickstart"
DEFAULTS = {"sigmas": [0.01, 0.02, 0.05, 0.1, 0.2, 0.5], "steps": 200, "chains": 4, "leapfrog": 10, "bdmc": 0}


def ais_settings(overrides: dict) -> tuple[dict, dict]:
    """(the ``ais.*`` settings over their defaults, the remaining overrides for the GAN's preset)."""
    mine = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("ais.")}
    rest = {k: v for k, v in overrides.items() if not k.startswith("ais.")}
    unknown = sorted(set(mine) - set(DEFAULTS))
    if unknown:
        raise GanforgeError(f"{NAME}: unknown setting ais.{unknown[0]} (expected ais.{', ais.'.join(DEFAULTS)})")
    settings = {**DEFAULTS, **mine}
    sigmas = settings["sigmas"]
    if not isinstance(sigmas, list) or not sigmas or not all(isinstance(s, (int, float)) and s > 0 for s in sigmas):
        raise GanforgeError(f"{NAME}: ais.sigmas={sigmas!r}; expected a list of positive noise levels, e.g. [0.01,0.1]")
    for key in ("steps", "chains", "leapfrog", "bdmc"):
        if not isinstance(settings[key], int) or settings[key] < (0 if key == "bdmc" else 1):
            raise GanforgeError(f"{NAME}: ais.{key}={settings[key]!r}; expected a whole number")
    settings["sigmas"] = sorted(float(s) for s in sigmas)
    return settings, rest


def row_protocol(row: str, options: ExperimentOptions, dataset: str) -> dict:
    """The GAN's resolved config and the AIS settings that decide the row's numbers."""
    ais, rest = ais_settings(options.overrides)
    cfg = row_config(NAME, PRESET, replace(options, overrides=rest), dataset, {})
    return {"experiment": NAME, "row": row, "preset": PRESET, "config": cfg, "n": options.n, "seed": options.seed,
            "ais": ais, "test": f"the first {options.n} images of the test split"}


def sigma_cell(run: Path, cells: Path, sigma: float, settings: dict) -> dict:
    """AIS at one sigma, read from its cell if it was measured with these settings, else computed and kept.

    The cell's key leaves out the rest of the grid, so a grid extended by one sigma, or split over several
    processes sharing ``OUT`` (after the GAN is trained), reuses every sigma already measured."""
    path = cells / f"sigma-{sigma:g}.json"
    grid_free = {k: v for k, v in settings["ais"].items() if k != "sigmas"}
    key = {**grid_free, "sigma": sigma, "n": settings["n"], "seed": settings["seed"]}
    try:
        old = json.loads(path.read_text())
        if old.get("settings") == key:
            return old
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        pass
    ais = settings["ais"]
    opts = LikelihoodOptions(n=settings["n"], sigma=sigma, bdmc_n=ais["bdmc"], ais=AISConfig(
        steps=ais["steps"], chains=ais["chains"], leapfrog=ais["leapfrog"], seed=settings["seed"]))
    model = load(run)
    _, images = reference_images(model, None, opts.n)
    values, protocol = MODEL_METRICS.get("ais")(model, images.float() / 255.0, opts)
    cell = {"sigma": sigma, **values, "settings": key, "protocol": {**protocol, "ais": asdict(opts.ais)}}
    write_json(path, cell)
    return cell


def draw(cells: list[dict], path: Path) -> None:
    """log p(x) (nats per image, +- s.e. over images) and bits per dimension against sigma, log x axis."""
    x = [c["sigma"] for c in cells]
    panels = {"AIS log p(x) (nats per image)": [Curve("AIS", x, [c["ais"] for c in cells],
                                                      [c["ais_se"] for c in cells])],
              "bits per dimension": [Curve("AIS", x, [c["ais_bpd"] for c in cells])]}
    plot_panels(panels, path, "sigma of N(x; G(z), sigma^2 I), pixels in [0, 1]",
                "One fixed generator, AIS log-likelihood against sigma (Basart 2017, Fig. 3.5)", xscale="log")


@EXPERIMENTS.register(NAME)
def ais_sigma(options: ExperimentOptions) -> dict:
    """Train or resume the GAN, measure every sigma of the grid, write the record and the figure."""
    dataset, _ = chosen_rows(NAME, options, ("gan",), row_protocol)
    settings = row_protocol("gan", options, dataset)
    out = Path(options.out)

    def measure(run: Path) -> dict:
        cells = [sigma_cell(run, out / "cells", s, settings) for s in settings["ais"]["sigmas"]]
        return {"cells": [{k: v for k, v in c.items() if k not in ("settings", "protocol")} for c in cells],
                "ais_protocol": cells[0]["protocol"]}

    row = measured_row(NAME, out, settings, measure)
    values = [c["ais"] for c in row["cells"]]
    record = {"row": row, "spread_nats": max(values) - min(values),
              "best_sigma": row["cells"][values.index(max(values))]["sigma"]}
    return write_outputs(out, NAME, record, lambda path: draw(row["cells"], path))


ais_sigma.takes_rows = True  # ais.KEY=VALUE and KEY=VALUE overrides of the GAN's preset
ais_sigma.default_n = 20
