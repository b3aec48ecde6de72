#!/usr/bin/env bash
# Set up .venv at the repository root with ganforge and its test dependencies, and install the
# Fashion-MNIST Debian package where apt is available. Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
    || echo "warning: could not apt-get install dataset-fashion-mnist; put the IDX files under \$GANFORGE_DATA"
fi

stamp=.venv/.ganforge-installed
want=$(sha1sum pyproject.toml | cut -c1-40)
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing ganforge into .venv (torch, torchvision, numpy, scipy, ...)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import ganforge, torch, torchvision" 
  echo "$want" > "$stamp"
fi
