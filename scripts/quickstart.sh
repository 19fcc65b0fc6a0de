#!/usr/bin/env bash
# The main job: trains a small Real NVP on MNIST, prints its test bits/dim,
# writes a sample grid and exports a SavedModel for TF Serving. Sets up the virtualenv first (see scripts/venv.sh).
#   bash scripts/quickstart.sh [MODEL_DIR] [extra tfnvp-train flags]
# MNIST comes from $TFNVP_RAW_DATA_DIR, set here to ../shared/data when that
# folder exists; else TFDS downloads it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
if [ -z "${TFNVP_RAW_DATA_DIR+set}" ] && [ -d ../shared/data ]; then
  export TFNVP_RAW_DATA_DIR="$PWD/../shared/data"
fi
model_dir="${1:-runs/quickstart}"
shift || true
"$venv/bin/tfnvp-train" --dataset mnist --model-dir "$model_dir" \
  --hidden-channels 32 --num-res-blocks 2 --batch-size 64 \
  --epochs 3 --steps-per-epoch 100 --num-eval-examples 1000 \
  --checkpoint-every 100 --verbose 2 "$@"
"$venv/bin/tfnvp-evaluate" --model-dir "$model_dir"
"$venv/bin/tfnvp-export" --model-dir "$model_dir" \
  --output "$model_dir/serving/mnist/1" --overwrite
echo "sample grid: $model_dir/samples.png"
