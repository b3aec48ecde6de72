"""``modnet-interpret``: what a ModNet must change in an image to flip a frozen classifier (Basart 2017,
"Analysis of Generative Adversarial Models", sections 2.5.2-2.5.3 and Fig. 2.6).

Each row trains the ``modnet-*-interpret`` preset of the dataset with a separate, pretrained and frozen
classifier, so that only that classifier's error signal teaches G which pixels decide its label:

- ``weak``: the ``shallow`` classifier (one convolution layer, ``ganforge.features.classifier``), the thesis'
  deliberately weak net whose decisions small, targeted changes flip;
- ``strong``: the ``small-cnn`` dataset classifier the metrics use, for the difference.

Then, on ``n`` test images each sent to a target label drawn uniformly among the other classes (``seed``),
it measures the fooling rate (share of modifications the frozen classifier labels as the target), the same
share under the *other* classifier (does a change that fools the weak net carry over to a strong one?), the
share still labelled as the source, and the size of the change: mean |delta| per pixel and mean L2 norm per
image, both on the [0, 1] pixel scale. It writes ``OUT/ROW.json`` per row (a finished row with the same
protocol is read, not recomputed; a killed row resumes its training run ``OUT/runs/ROW``), then
``OUT/modnet-interpret.json`` and ``.png``: originals with their labels above their modifications with the
target labels, per row.
"""
from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.figure import Figure

from ..data import load_dataset, test_split_of
from ..errors import GanforgeError
from ..features.classifier import load_classifier
from ..plots import save_figure
from ..training.feed import prepare
from ..training.trained import load
from . import EXPERIMENTS, ExperimentOptions
from ._common import write_outputs
from ._rows import chosen_rows, measured_row, row_config

NAME = "modnet-interpret"
ROWS = {"weak": "shallow", "strong": "small-cnn"}  # row -> the frozen classifier's network
PRESETS = {"cifar10": "modnet-cifar-interpret"}    # dataset -> preset; others: the Fashion-MNIST one
DEFAULT_PRESET = "modnet-fashion-interpret"
SHOWN = 8  # images per row of the figure


def row_protocol(row: str, options: ExperimentOptions, dataset: str) -> dict:
    """The resolved run config and the measurement settings that decide a row's numbers."""
    preset = PRESETS.get(dataset, DEFAULT_PRESET)
    cfg = row_config(NAME, preset, options, dataset, {"model.options.classifier_net": ROWS[row],
                                                      "model.options.classifier_init": f"dataset:{dataset}"})
    return {"experiment": NAME, "row": row, "preset": preset, "config": cfg, "n": options.n,
            "seed": options.seed, "images": f"{test_split_of(cfg['data'])}[:{options.n}]",
            "targets": "uniform over the classes other than the source's", "generator": "ema"
            if cfg["ema_decay"] else "raw", "scale": "pixels in [0, 1]"}


def modified_test_images(run: Path, protocol: dict, first: int | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(sources uint8, source labels, target labels, modifications in [0, 1]) of the row's trained G, for the
    protocol's ``n`` test images or only the ``first`` of them (the same targets either way)."""
    model = load(run)
    cfg = model.config
    test = prepare(load_dataset(test_split_of(cfg.data), cfg.data_root), cfg.image_size)
    if len(test) < protocol["n"]:
        raise GanforgeError(f"{NAME}: --n {protocol['n']} but {test.name} has {len(test)} images")
    x, y = test.images[:protocol["n"]], test.labels[:protocol["n"]]
    k = model.family.shape.num_classes
    gen = torch.Generator().manual_seed(protocol["seed"])
    targets = (y + torch.randint(1, k, y.shape, generator=gen)) % k
    x, y, targets = x[:first], y[:first], targets[:first]
    result, _ = model.modify(x, targets)
    return x, y, targets, (result + 1) / 2


@torch.no_grad()
def predict(model: torch.nn.Module, images01: torch.Tensor) -> torch.Tensor:
    """A classifier's labels for images in [0, 1] (N, C, H, W)."""
    return torch.cat([model(images01[i:i + 500])[0].argmax(1) for i in range(0, len(images01), 500)])


def classifiers(dataset: str, data_root: str | None) -> dict[str, torch.nn.Module]:
    """Each row's frozen classifier network, loaded (or trained on first use) once."""
    return {net: load_classifier(dataset, data_root, progress=False, net=net)[0] for net in ROWS.values()}


def measure(x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor, out01: torch.Tensor,
            nets: dict[str, torch.nn.Module]) -> dict:
    """Fooling rates under both classifiers, source kept, clean accuracy, and the size of the change."""
    src01 = x.float() / 255
    delta = out01 - src01
    values: dict = {"l1_per_pixel": float(delta.abs().mean()),
                    "l2_per_image": float(delta.flatten(1).norm(dim=1).mean()),
                    "fooling_rate": {}, "source_kept": {}, "clean_accuracy": {}}
    for net, model in nets.items():
        on_modified = predict(model, out01)
        values["fooling_rate"][net] = float((on_modified == targets).float().mean())
        values["source_kept"][net] = float((on_modified == y).float().mean())
        values["clean_accuracy"][net] = float((predict(model, src01) == y).float().mean())
    return values


def measure_row(row: str, options: ExperimentOptions, dataset: str) -> dict:
    """Train (or resume) the row's ModNet, modify the test images, write ``OUT/ROW.json``."""
    settings = row_protocol(row, options, dataset)

    def values(run: Path) -> dict:
        x, y, targets, out01 = modified_test_images(run, settings)
        return {"classifier": ROWS[row], **measure(x, y, targets, out01, classifiers(dataset, options.data_root))}

    return measured_row(NAME, options.out, settings, values)


def draw(rows: dict[str, dict], pictures: dict[str, tuple], path: Path) -> None:
    """Per row: SHOWN originals (true label) over their modifications (target label; red where not fooled)."""
    fig = Figure(figsize=(1.1 * SHOWN, 2.5 * len(pictures)))
    axes = fig.subplots(2 * len(pictures), SHOWN, squeeze=False)
    for r, (row, (x, y, targets, out01, fooled)) in enumerate(pictures.items()):
        for i in range(SHOWN):
            for j, (img, text, colour) in enumerate(((x[i].float() / 255, f"{int(y[i])}", "black"),
                                                     (out01[i], f"-> {int(targets[i])}",
                                                      "black" if fooled[i] else "tab:red"))):
                ax = axes[2 * r + j, i]
                ax.imshow(img.permute(1, 2, 0).squeeze(-1).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
                ax.set_title(text, fontsize=8, color=colour)
                ax.axis("off")
        rate = rows[row]["fooling_rate"][ROWS[row]]
        axes[2 * r, 0].text(-0.6, 0.5, f"{row} ({ROWS[row]})\nfooled {rate:.0%}", fontsize=8, ha="right",
                            va="center", transform=axes[2 * r, 0].transAxes)
    fig.suptitle("ModNet against a frozen classifier: originals (label) over modifications (target)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


@EXPERIMENTS.register(NAME)
def modnet_interpret(options: ExperimentOptions) -> dict:
    """Measure the chosen rows (``--rows weak,strong``), then write the summary JSON and the figure."""
    dataset, chosen = chosen_rows(NAME, options, ROWS, row_protocol)
    rows, pictures = {}, {}
    for row in chosen:
        rows[row] = measure_row(row, options, dataset)
        x, y, targets, out01 = modified_test_images(Path(rows[row]["run"]), rows[row]["protocol"]["settings"], SHOWN)
        net = load_classifier(dataset, options.data_root, progress=False, net=ROWS[row])[0]
        pictures[row] = (x, y, targets, out01, (predict(net, out01) == targets).numpy())
    return write_outputs(Path(options.out), NAME, {"rows": rows}, lambda path: draw(rows, pictures, path))


modnet_interpret.takes_rows = True  # --rows weak,strong and KEY=VALUE overrides of the preset
modnet_interpret.default_n = 1000

