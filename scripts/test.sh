#!/usr/bin/env bash
# Sets up a virtualenv with the pinned dependencies, lints (ruff, the rules
# in ruff.toml), builds the documentation strictly (a broken link, anchor or
# API reference fails), and runs the test suite, then (with no arguments)
# the wheel test: the package built, installed into a fresh virtualenv and
# used from an empty folder (scripts/wheel_test.sh).
#   bash scripts/test.sh            lint + docs + fast suite + wheel test (CI)
#   bash scripts/test.sh -m slow    the long tests only; any pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
"$venv/bin/ruff" check .
"$venv/bin/mkdocs" build --strict --quiet --site-dir site
echo "docs: mkdocs build --strict passed (site/)"
if [ "$#" -gt 0 ]; then
  exec "$venv/bin/python" -m pytest "$@"
fi
# Two processes (pytest-xdist), a test file each: a file's shared run is
# trained once.
"$venv/bin/python" -m pytest -n "${TFNVP_TEST_WORKERS:-2}" --dist loadfile
bash scripts/wheel_test.sh
