#!/usr/bin/env bash
# Sets up a virtualenv with the pinned dependencies and runs the test suite.
#   bash scripts/test.sh            fast suite (what CI runs)
#   bash scripts/test.sh -m slow    the long tests only; any pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
exec "$venv/bin/python" -m pytest "$@"
