#!/usr/bin/env bash
# The package as a user installs it: builds the wheel, installs it with the
# pinned versions into a fresh virtualenv and, from an empty folder, runs the
# console scripts. First with the `serving` extra alone (no TFDS): export of
# a committed run folder without calibration, and a one-line refusal of
# calibration; then with the `train` extra added: --help, a tiny training run
# on MNIST, evaluate, export with calibration. `import training` / `import
# export` must fail there (no generic top-level packages in site-packages).
#   bash scripts/wheel_test.sh [RAW_DATA_DIR]    (default: ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
source scripts/venv.sh
raw="${1:-${TFNVP_RAW_DATA_DIR:-$repo/../shared/data}}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
"$venv/bin/pip" wheel --quiet --no-deps -w "$work/dist" . 2>&1 | \
  grep -v "^WARNING: Location" || true
wheel="$(ls "$work"/dist/tfnvp-*.whl)"
echo "built $(basename "$wheel")"
unzip -Z1 "$wheel" | cut -d/ -f1-2 | sort -u | grep -v dist-info | \
  sed 's/^/  wheel holds: /'
python3 -m venv "$work/venv"
install() {
  "$work/venv/bin/pip" install --quiet -c "$repo/requirements/constraints.txt" \
    "$wheel[$1]" 2>&1 | grep -v "^WARNING: Location" || true
  echo "installed tfnvp[$1] into a fresh virtualenv ($((SECONDS - start)) s)"
}
install serving
bin="$work/venv/bin"
mkdir "$work/empty" && cd "$work/empty"
if "$bin/python" -c "import tensorflow_datasets" 2> /dev/null; then
  echo "FAIL: the serving extra installed tensorflow_datasets" >&2
  exit 1
fi
"$bin/tfnvp-export" --model-dir "$repo/tests/fixtures/v0_3/realnvp_run" \
  --output served/mnist/1 --calibration-examples 0
"$bin/python" -c "import tfnvp.export.grpc_client" 2> import.txt || {
  cat import.txt >&2; exit 1; }
echo "ok: tfnvp[serving] exports without TFDS and imports the gRPC client"
status=0
"$bin/tfnvp-export" --model-dir "$repo/tests/fixtures/v0_3/realnvp_run" \
  --output served/mnist/2 2> refusal.txt || status=$?
if [ "$status" != 2 ] || [ "$(wc -l < refusal.txt)" != 1 ] || \
   ! grep -q 'tfnvp\[data\]' refusal.txt || [ -e served/mnist/2 ]; then
  echo "FAIL: calibration without TFDS (exit $status): $(cat refusal.txt)" >&2
  exit 1
fi
echo "ok: calibration without TFDS is refused in one line: $(cat refusal.txt)"
install train
for cmd in tfnvp-train tfnvp-evaluate tfnvp-export; do
  "$bin/$cmd" --help > /dev/null
  echo "ok: $cmd --help"
done
"$bin/python" -m tfnvp.training.train --help > /dev/null
echo "ok: python -m tfnvp.training.train --help"
for module in training export; do
  if "$bin/python" -c "import $module" 2> /dev/null; then
    echo "FAIL: 'import $module' works outside a checkout" >&2
    exit 1
  fi
  echo "ok: 'import $module' fails outside a checkout"
done
"$bin/tfnvp-train" --dataset mnist --model-dir run --raw-data-dir "$raw" \
  --data-dir tfds --hidden-channels 4 --num-res-blocks 1 --batch-size 16 \
  --epochs 1 --steps-per-epoch 3 --num-eval-examples 64 --verbose 0 | tail -1
"$bin/tfnvp-evaluate" --model-dir run --data-dir tfds --raw-data-dir "$raw" \
  --num-examples 256
"$bin/tfnvp-export" --model-dir run --output models/mnist/1 --data-dir tfds \
  --raw-data-dir "$raw" --calibration-examples 1000
"$bin/python" - <<'PY'
import numpy as np
import tensorflow as tf
from tfnvp.export.client import RestClient  # the README's client import
loaded = tf.saved_model.load("models/mnist/1")
out = loaded.signatures["serving_default"](
    images=tf.zeros([2, 28, 28, 1], tf.uint8))
assert np.all(np.isfinite(out["bits_per_dim"])), out
print("ok: the exported SavedModel serves bits/dim",
      np.round(out["bits_per_dim"].numpy(), 3))
score = loaded.signatures["score"](images=tf.zeros([2, 28, 28, 1], tf.uint8))
assert score["is_outlier"].dtype == tf.bool, score
print("ok: and outlier scores, ood_score",
      np.round(score["ood_score"].numpy(), 3))
PY
echo "wheel test passed in $((SECONDS - start)) s"
