#!/usr/bin/env bash
# The main job: set up .venv, train the quickstart preset (Lucic et al. small GAN, non-saturating loss,
# bf16, EMA generator) on Fashion-MNIST for 4,000 steps, then write a 64-image grid.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${1:-runs/quickstart}
if [ -d "$out/checkpoints" ]; then
  .venv/bin/ganforge train quickstart --out "$out" --resume
else
  .venv/bin/ganforge train quickstart --out "$out"
fi
.venv/bin/ganforge sample "$out" --n 64 --seed 0 --out "$out/grid.png"
echo "done: samples in $out/samples/, curves in $out/curves.png, grid in $out/grid.png"
