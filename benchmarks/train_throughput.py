"""Training throughput: ganforge's ``Trainer.train_step`` against a plain PyTorch tutorial loop.

For each preset and precision this times ``--steps`` training steps after ``--warmup`` untimed ones and
reports real images consumed per second, ``batch_size * d_steps * steps / seconds``, for

* ganforge: a :class:`~ganforge.training.loop.Trainer` built from the preset (EMA as in the preset; logging,
  sample grids and checkpoints pushed past the end of the run) in a temporary directory, calling
  ``trainer.train_step()`` directly. The one-time data load (and resize) is not timed; the per-step
  batch gather from the in-memory uint8 tensor is.
* baseline: the same generator and discriminator (built from ganforge's registries with the preset's
  options), batch size, optimiser and loss, trained the way pytorch/examples ``dcgan/main.py`` does it:
  a torchvision-style ``Dataset`` that turns each uint8 image into a PIL image and applies
  ``[Resize] + ToTensor() [+ Normalize(0.5, 0.5)]`` per item, ``DataLoader(shuffle=True,
  num_workers=--workers)`` (pytorch/examples' default is 2), ``nn.BCEWithLogitsLoss`` against label tensors
  (real = 1, fake = 0), a D step with separate ``backward`` calls on the real and on ``fake.detach()``,
  then a G step on the same ``fake``; bf16 runs wrap the forward passes in ``torch.autocast``.
  No EMA (tutorials do not keep one). Data loading is part of every timed step, as in such a loop.

    python benchmarks/train_throughput.py --steps 30 --presets quickstart,dcgan-fashion

The machine's other load shows up in the numbers; run on an idle machine for figures worth quoting.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ganforge.config import RunConfig, resolve_config
from ganforge.data import load_dataset
from ganforge.nets import DISCRIMINATORS, GENERATORS, NetShape, build_net
from ganforge.training.distributed import pick_device
from ganforge.training.loop import Trainer

NEVER = 10**9  # log_every / sample_every / ckpt_every beyond the end of the run
GOAL = 2.0


def run_config(preset: str, precision: str, total_steps: int, data: str | None) -> RunConfig:
    overrides = {"precision": precision, "steps": total_steps, "log_every": NEVER,
                 "sample_every": NEVER, "ckpt_every": NEVER}
    if data:
        overrides["data"] = data
    return resolve_config(preset, overrides)


def images_per_step(cfg: RunConfig) -> int:
    return cfg.batch_size * cfg.d_steps


# ---------------------------------------------------------------------------------------------- ganforge
def time_ganforge(cfg: RunConfig, steps: int, warmup: int) -> float:
    """Images/s of ``Trainer.train_step`` (set-up and data loading excluded)."""
    with tempfile.TemporaryDirectory(prefix="ganforge-bench-") as tmp:
        trainer = Trainer(cfg, Path(tmp) / "run")
        for _ in range(warmup):
            trainer.train_step()
            trainer.step += 1
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()  # returns Python floats: the step has finished when it returns
            trainer.step += 1
        seconds = time.perf_counter() - t0
    return images_per_step(cfg) * steps / seconds


# ---------------------------------------------------------------------------------------------- baseline
class TutorialImages(Dataset):
    """torchvision-style dataset (as ``torchvision.datasets.FashionMNIST``): uint8 -> PIL -> transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = self.images[i]  # (C, H, W) uint8
        if img.shape[0] == 1:
            pil = Image.fromarray(img[0].numpy(), mode="L")
        else:
            pil = Image.fromarray(img.permute(1, 2, 0).numpy(), mode="RGB")
        return self.transform(pil), int(self.labels[i])


def tutorial_transform(channels: int, size: int, resize: bool, out_range: str):
    from torchvision import transforms

    steps = [transforms.Resize(size)] if resize else []
    steps.append(transforms.ToTensor())  # float in [0, 1], (C, H, W)
    if out_range == "pm1":  # tanh generators: data in [-1, 1]
        steps.append(transforms.Normalize((0.5,) * channels, (0.5,) * channels))
    return transforms.Compose(steps)


def tutorial_optimizer(params, opt_cfg) -> torch.optim.Optimizer:
    if opt_cfg.name == "adam":
        return torch.optim.Adam(params, lr=opt_cfg.lr, betas=opt_cfg.betas)
    if opt_cfg.name == "sgd":
        return torch.optim.SGD(params, lr=opt_cfg.lr, momentum=opt_cfg.momentum)
    if opt_cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=opt_cfg.lr, momentum=opt_cfg.momentum)
    raise SystemExit(f"baseline: no tutorial optimiser for {opt_cfg.name!r}")


def time_baseline(cfg: RunConfig, steps: int, warmup: int, workers: int) -> float:
    """Images/s of a pytorch/examples-style DCGAN loop at the preset's architecture, batch and loss."""
    if cfg.model.family != "gan" or cfg.model.loss not in ("ns", "mm"):
        raise SystemExit(f"baseline: only family gan with loss ns/mm is supported, not "
                         f"{cfg.model.family}/{cfg.model.loss}")
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    data = load_dataset(cfg.data, cfg.data_root)
    size = cfg.image_size or data.image_size
    shape = NetShape(data.channels, size, cfg.model.z_dim, data.num_classes)
    g_opts = {k: v for k, v in cfg.model.generator.items() if k != "name"}
    d_opts = {k: v for k, v in cfg.model.discriminator.items() if k != "name"}
    netG = build_net(GENERATORS, cfg.model.generator["name"], shape, g_opts).to(device)
    netD = build_net(DISCRIMINATORS, cfg.model.discriminator["name"], shape, d_opts).to(device)
    dataset = TutorialImages(data.images, data.labels,
                             tutorial_transform(data.channels, size, size != data.image_size, netG.out_range))
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=workers, drop_last=True)
    criterion = nn.BCEWithLogitsLoss()
    optimizerD = tutorial_optimizer(netD.parameters(), cfg.d_opt)
    optimizerG = tutorial_optimizer(netG.parameters(), cfg.g_opt)
    autocast = ((lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if cfg.precision == "bf16"
                else (lambda: torch.autocast(device.type, enabled=False)))
    real_label, fake_label = 1.0, 0.0

    def noise(b: int) -> torch.Tensor:
        if cfg.model.z_dist == "uniform":
            return (torch.rand(b, cfg.model.z_dim, device=device) * 2 - 1) * cfg.model.z_scale
        return torch.randn(b, cfg.model.z_dim, device=device) * cfg.model.z_scale

    batches = iter(loader)

    def next_real() -> torch.Tensor:
        nonlocal batches
        try:
            real, _ = next(batches)
        except StopIteration:  # a new epoch
            batches = iter(loader)
            real, _ = next(batches)
        return real.to(device)

    def step() -> None:
        for _ in range(cfg.d_steps):
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real = next_real()
            b = real.size(0)
            label = torch.full((b,), real_label, dtype=torch.float, device=device)
            with autocast():
                output = netD(real).float()
            errD_real = criterion(output, label)
            errD_real.backward()
            with autocast():
                fake = netG(noise(b))
                output = netD(fake.detach()).float()
            label.fill_(fake_label)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            optimizerD.step()
        # (2) Update G network: maximize log(D(G(z))) (ns) or minimize log(1 - D(G(z))) (mm)
        netG.zero_grad()
        with autocast():
            output = netD(fake).float()
        if cfg.model.loss == "ns":
            label.fill_(real_label)
            errG = criterion(output, label)
        else:
            label.fill_(fake_label)
            errG = -criterion(output, label)
        errG.backward()
        optimizerG.step()
        errG.item()  # tutorials print losses; also makes the step complete before the clock is read

    for _ in range(warmup):  # includes starting the DataLoader workers
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - t0
    del batches  # stop the workers
    return images_per_step(cfg) * steps / seconds


# ---------------------------------------------------------------------------------------------- report
def format_table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="quickstart,lucic-ns,dcgan-fashion,dcgan64-fashion")
    parser.add_argument("--steps", type=int, default=60, help="timed training steps per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before the clock starts")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--workers", type=int, default=2,
                        help="baseline DataLoader num_workers (pytorch/examples dcgan default: 2)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure each side this many times (alternating order) and keep the best; "
                             "use 3 or more on a shared machine")
    parser.add_argument("--data", default=None,
                        help="override the presets' data, e.g. fashion-mnist:train[:10000] (faster set-up)")
    args = parser.parse_args(argv)
    presets = [p for p in args.presets.split(",") if p]
    precisions = [p for p in args.precisions.split(",") if p]

    print(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}, "
          f"{args.steps} timed steps after {args.warmup} warm-up steps, best of {args.repeats}")
    print(f"baseline: pytorch/examples-style loop, per-item PIL/ToTensor transforms, "
          f"DataLoader(shuffle=True, num_workers={args.workers}), BCEWithLogitsLoss, no EMA")
    print("images/s = batch_size * d_steps * steps / seconds (real images consumed)\n", flush=True)

    results: dict[tuple[str, str], tuple[float, float]] = {}
    rows = []
    for preset in presets:
        for precision in precisions:
            cfg = run_config(preset, precision, args.warmup + args.steps, args.data)
            ours, base = [], []
            for r in range(args.repeats):  # alternate the order so slow drifts in machine load even out
                order = [(time_ganforge, ours), (time_baseline, base)]
                for fn, out in (order if r % 2 == 0 else order[::-1]):
                    extra = (args.workers,) if fn is time_baseline else ()
                    out.append(fn(cfg, args.steps, args.warmup, *extra))
            ours_best, base_best = max(ours), max(base)
            results[preset, precision] = (ours_best, base_best)
            rows.append([preset, precision, f"{ours_best:.1f}", f"{base_best:.1f}", f"{ours_best / base_best:.2f}x"])
            print(f"  measured {preset} {precision}: ganforge {', '.join(f'{v:.1f}' for v in ours)} img/s, "
                  f"baseline {', '.join(f'{v:.1f}' for v in base)} img/s", flush=True)
    print()
    print(format_table(rows, ["preset", "precision", "ganforge img/s", "baseline img/s", "ratio"]))

    print(f"\ngoal: ganforge bf16 >= {GOAL:g}x baseline (the tutorial loop as written, fp32; "
          f"same-precision ratio in brackets)")
    for preset in presets:
        if (preset, "bf16") not in results:
            print(f"  {preset}: not measured (needs bf16 in --precisions)")
            continue
        ours = results[preset, "bf16"][0]
        ref_precision = "fp32" if (preset, "fp32") in results else "bf16"
        ratio = ours / results[preset, ref_precision][1]
        same = ours / results[preset, "bf16"][1]
        verdict = "meets" if ratio >= GOAL else "misses"
        print(f"  {preset}: {ratio:.2f}x baseline {ref_precision} [{same:.2f}x baseline bf16] -> {verdict} it")


if __name__ == "__main__":
    from ganforge.allocator import keep_freed_memory

    keep_freed_memory()  # the allocator setting the CLI uses
    main()
