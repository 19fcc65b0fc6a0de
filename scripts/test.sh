#!/usr/bin/env bash
# Sets up a virtualenv with the pinned dependencies and runs the test suite.
#   bash scripts/test.sh            fast suite (what CI runs)
#   bash scripts/test.sh -m slow    the long tests only; any pytest arguments
# The virtualenv lives in .venv (override with TFNVP_VENV).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TFNVP_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
stamp="$venv/.tfnvp-installed"
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ] || \
   [ requirements/constraints.txt -nt "$stamp" ]; then
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -c requirements/constraints.txt \
    -e ".[train,test,bench]"
  touch "$stamp"
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$venv/bin/python" -m pytest "$@"
