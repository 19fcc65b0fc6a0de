"""Out-of-distribution detection by served flows, on real data, in one run.

For each trained run and outlier dataset: `tfnvp-export`'s default
calibration (the first 10,000 training images, false-positive rate 5%,
`is_outlier` on `ood_score`), the export loaded with `tf.saved_model.load`,
and its `score` signature called on every test image of the run's dataset
(negatives) and of the outlier dataset (positives). Reported per score
(`tfnvp.ood`): AUROC, the false-positive rate at 95% true positives, and
for the served `is_outlier` the fraction of held-out in-distribution test
images it flags (its false-positive rate, stated as 5%) and of outliers
(its true-positive rate).

Usage (from the repository root; data from $TFNVP_RAW_DATA_DIR):

  TFNVP_RAW_DATA_DIR=../shared/data PYTHONPATH=. python \
      bench/ood_benchmark.py --run "Real NVP h32-r2=runs/fashion:mnist" \
      [--run LABEL=MODEL_DIR:OOD_DATASET ...] --write BENCHMARKS.md
"""

import argparse
import datetime
import json
import os
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top,wrong-import-position
import benchmark
from tfnvp import data
from tfnvp import ood
from tfnvp import runs
from tfnvp.export import export as export_lib

__all__ = ["main", "measure"]

def _served_scores(signature, name, batch_size=500):
  """`{output: np.ndarray}` of `score` over every test image of `name`."""
  parts = [signature(images=batch) for batch in data.pixel_batches(
      name, None, batch_size)]
  return {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}


def measure(label, model_dir, ood_dataset, workdir, log=print):
  """One row group: the run's export scored on both test splits."""
  run = runs.load_run(model_dir)
  dataset = run.config["dataset"]
  log(f"  {label}: {dataset} vs {ood_dataset} ({model_dir})")
  start = time.time()
  output = os.path.join(workdir, label.replace(" ", "_"), "1")
  _, checkpoint, calibration = export_lib.export_run(model_dir, output)
  signature = tf.saved_model.load(output).signatures["score"]
  inside = _served_scores(signature, dataset)
  outside = _served_scores(signature, ood_dataset)
  scores = ood.detection_metrics(calibration, inside, outside)
  return {
      "label": label, "model_dir": model_dir, "checkpoint": checkpoint,
      "dataset": dataset, "ood_dataset": ood_dataset,
      "calibration": calibration.to_json(), "scores": scores,
      "served_flagged_in": float(np.mean(inside["is_outlier"])),
      "served_flagged_out": float(np.mean(outside["is_outlier"])),
      "num_in": int(inside["is_outlier"].size),
      "num_out": int(outside["is_outlier"].size),
      "test_bits_per_dim": float(np.mean(inside["bits_per_dim"])),
      "ood_bits_per_dim": float(np.mean(outside["bits_per_dim"])),
      "mean_complexity": (float(np.mean(inside["complexity_bits_per_dim"])),
                          float(np.mean(outside["complexity_bits_per_dim"]))),
      "seconds": time.time() - start}


def format_report(rows, command, seconds):
  """The markdown section of BENCHMARKS.md."""
  lines = [
      "## Out-of-distribution detection, served",
      "",
      f"`{command}` on {datetime.date.today().isoformat()}: "
      f"{os.cpu_count()} CPUs, {benchmark.cpu_model()}; {seconds / 60:.0f} "
      "min in all. Each run exported by `tfnvp-export` with its default "
      "calibration (first 10,000 training images, 5% false-positive rate, "
      "`is_outlier = ood_score > threshold`), then its `score` signature "
      "(`tf.saved_model.load`) on all test images of both datasets (bits/dim "
      "of the 8-bit images from 4 noise patterns). AUROC with outliers "
      "positive (below 0.5: the score ranks outliers as *more* typical); FPR at 95% TPR; `flagged` = "
      "fraction above the score's calibrated threshold, on held-out "
      "in-distribution test images (target 5%) and on outliers.",
      "",
      "| model | trained on | outliers | mean bits/dim in / out | PNG "
      "bits/dim in / out | score | AUROC | FPR@95%TPR | flagged in | "
      "flagged out |",
      "|---|---|---|---|---|---|---:|---:|---:|---:|",
  ]
  for row in rows:
    first = True
    for name, r in row["scores"].items():
      lead = (f"| {row['label']} | {row['dataset']} | {row['ood_dataset']} "
              f"| {row['test_bits_per_dim']:.3f} / "
              f"{row['ood_bits_per_dim']:.3f} | "
              f"{row['mean_complexity'][0]:.3f} / "
              f"{row['mean_complexity'][1]:.3f} |") if first else (
                  "| | | | | |")
      first = False
      bold = "**" if name == "ood_score" else ""
      lines.append(f"{lead} {name} | {bold}{r['auroc']:.4f}{bold} | "
                   f"{r['fpr_at_tpr']:.4f} | {r['flagged_in']:.4f} | "
                   f"{r['flagged_out']:.4f} |")
  lines += [
      "",
      "Served `is_outlier` (the SavedModel's own decision): "
      + "; ".join(f"{row['label']} on {row['dataset']}: "
                  f"{100 * row['served_flagged_in']:.2f}% of "
                  f"{row['num_in']:,} held-out test images flagged, "
                  f"{100 * row['served_flagged_out']:.2f}% of "
                  f"{row['num_out']:,} {row['ood_dataset']} images"
                  for row in rows) + ".",
  ]
  return "\n".join(lines) + "\n"


def _parse_run(text):
  try:
    label, rest = text.split("=", 1)
    model_dir, ood_dataset = rest.rsplit(":", 1)
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"must be LABEL=MODEL_DIR:OOD_DATASET; got {text!r}") from None
  return label, model_dir, ood_dataset


def main(argv=None):
  """Command-line entry point."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--run", action="append", type=_parse_run,
                      required=True, metavar="LABEL=MODEL_DIR:OOD_DATASET",
                      help="a trained run and its outlier dataset; repeat")
  parser.add_argument("--write", metavar="PATH",
                      help="write the report into PATH's marked section")
  parser.add_argument("--json", metavar="PATH",
                      help="write the raw results to PATH")
  args = parser.parse_args(argv)
  started = time.time()
  with tempfile.TemporaryDirectory() as workdir:
    rows = [measure(*run, workdir,
                    log=lambda *a: print(*a, file=sys.stderr, flush=True))
            for run in args.run]
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump(rows, f, indent=1)
  report = format_report(rows, benchmark.command_line(__file__, argv),
                         time.time() - started)
  benchmark.publish(report, args.write, "bench/ood_benchmark.py")


if __name__ == "__main__":
  main()
