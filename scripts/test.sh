#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh) and run the whole test-suite, one pytest worker per core (pytest-xdist; a test
# file stays on one worker, so its module fixtures are built once). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -n "${GANFORGE_TEST_WORKERS:-2}" --dist loadfile tests "$@"
