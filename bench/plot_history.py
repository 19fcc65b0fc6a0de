r"""Plots training curves (bits/dim against optimizer steps) of training runs.

```
python bench/plot_history.py --out bench/curves.png \
    "MNIST=runs/mnist" "Fashion-MNIST=runs/fashion"
```

Each run folder's `history.csv` and `config.json` (written by
`training.train`) give one colour: validation bits/dim solid, training
bits/dim dashed (on a fixed training subset where the run logged
`train_eval_bits_per_dim`, else the epoch's running mean). Steps, not wall time: wall time depends
on what else the machine runs.
"""

import argparse
import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = ["main", "read_history"]


def read_history(model_dir):
  """The rows of `<model_dir>/history.csv`, numbers as floats."""
  with open(os.path.join(model_dir, "history.csv"), encoding="utf-8") as f:
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("runs", nargs="+", help="LABEL=MODEL_DIR")
  parser.add_argument("--out", required=True, help="PNG to write")
  args = parser.parse_args(argv)
  figure, axes = plt.subplots(figsize=(7, 4.5))
  for run in args.runs:
    label, _, model_dir = run.partition("=")
    if not model_dir:
      parser.error(f"expected LABEL=MODEL_DIR; got {run!r}")
    rows = read_history(model_dir)
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
      steps_per_epoch = json.load(f)["steps_per_epoch"]
    if not steps_per_epoch:
      parser.error(f"{model_dir} was trained without --steps-per-epoch")
    steps = [(row["epoch"] + 1) * steps_per_epoch for row in rows]
    line, = axes.plot(steps, [row["val_bits_per_dim"] for row in rows],
                      marker="o", markersize=3, label=f"{label} (validation)")
    # A fixed training subset evaluated like the validation set, where the
    # run logged it; else the epoch's running training mean.
    key = ("train_eval_bits_per_dim" if "train_eval_bits_per_dim" in rows[0]
           else "bits_per_dim")
    axes.plot(steps, [row[key] for row in rows], linestyle="--",
              color=line.get_color(), label=f"{label} (training)")
  axes.set_xlabel("optimizer steps (batch 64)")
  axes.set_ylabel("bits/dim")
  axes.grid(True, alpha=0.3)
  axes.legend()
  figure.tight_layout()
  figure.savefig(args.out, dpi=100)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
