"""Mixed precision: float32 vs bfloat16 coupling networks, in one run.

1. Speed. `bench/benchmark.py`'s worker, once per (model, precision):
   training, `log_prob` and `sample` images/s of Real NVP h32-r2 and h64-r4
   and of the benchmarked Glow (h120-d8), with the networks in float32 and
   in `--precision` (bfloat16 by default), and the rate of the bare 3x3
   reference convolution (64 channels, forward + backward) in each
   precision, timed in the same rounds. The table gives the ratios and
   whether TF's oneDNN kernels were on.
2. Bits/dim after equal steps. `python -m tfnvp.training.train` on MNIST with
   Real NVP h32-r2 by its default recipe, for the steps that float32's
   measured rate covers in `--minutes`, in float32 and with
   `--mixed-precision`; `python -m tfnvp.training.evaluate` on every test image.
3. Bits/dim in equal time: the low precision for the steps its own rate
   covers in `--minutes` (the quality benchmark's budget).

Usage (from the repository root; data from $TFNVP_RAW_DATA_DIR):

  TFNVP_RAW_DATA_DIR=../shared/data PYTHONPATH=. python \
      bench/mixed_precision_benchmark.py --write BENCHMARKS.md
  PYTHONPATH=. python bench/mixed_precision_benchmark.py --quick   # smoke
"""

import argparse
import dataclasses
import datetime
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top,wrong-import-position
import benchmark
import recipe_benchmark
from glow_benchmark import Model

__all__ = ["MODELS", "main", "measure_speed"]

MODELS = (Model("realnvp", 32, 2), Model("realnvp", 64, 4),
          Model("glow", 120, 8))
CASES = ("train", "log_prob", "sample", "ref_fwd_bwd")


def measure_speed(models, precisions, settings, log=print):
  """Part 1: `{(label, precision): worker row}`."""
  rows = {}
  for model in models:
    for precision in precisions:
      spec = dict(model.worker_spec(), kind="measure", config=model.label,
                  jit=False, network_dtype=precision,
                  settings=dataclasses.asdict(settings))
      log(f"  speed: {model.name} {model.label} {precision} ...")
      rows[model.label, precision] = benchmark.run_worker(spec)
  return rows


def _rate(row, case):
  value = benchmark.case_value(row, case, "images_per_second")
  if value is None:    # the reference convolution: GFLOP/s
    value = benchmark.case_value(row, case, "gflops")
  return value


def format_report(models, precision, rows, quality, command, seconds):
  """The markdown section of BENCHMARKS.md."""
  low = precision
  lines = [
      f"## Mixed precision: coupling networks in {low}",
      "",
      f"`{command}` on {datetime.date.today().isoformat()}: "
      f"{os.cpu_count()} CPUs, {benchmark.cpu_model()}; {seconds / 60:.0f} "
      "min in all. Images/s at batch 64 (sampling: the worker's sample "
      "batch), medians of interleaved rounds; the reference is a bare 3x3 "
      "convolution, 64 channels, forward + backward, in each precision "
      "(GFLOP/s).",
      "",
      "| model | config | precision | oneDNN | train img/s | log_prob img/s "
      "| sample img/s | reference conv GFLOP/s |",
      "|---|---|---|---|---:|---:|---:|---:|",
  ]
  for model in models:
    base = rows[model.label, "float32"]
    for name in ("float32", low):
      row = rows[model.label, name]
      if "error" in row:
        lines.append(f"| {model.name} | {model.label} | {name} | - | "
                     f"{row['error']} | | | |")
        continue
      cells = []
      for case in CASES:
        value, ref = _rate(row, case), _rate(base, case)
        text, change = benchmark.fmt_number(value), benchmark.ratio(value, ref)
        if name != "float32" and change != "-":
          text += f" (**{change}**)"
        cells.append(text)
      lines.append(f"| {model.name} | {model.label} | {name} | "
                   f"{benchmark.on_off(row.get('onednn'))} | "
                   + " | ".join(cells) + " |")
  if quality:
    lines += [
        "",
        f"MNIST, {models[0].name} {models[0].label} by its default recipe, "
        "test bits/dim on all 10,000 test images (`training.evaluate`):",
        "",
        "| precision | steps | budget | measured min | test bits/dim |",
        "|---|---:|---|---:|---:|",
    ]
    for label, r in quality:
      lines.append(f"| {label} | {r['steps']:,} | {r['minutes']:g} min at "
                   f"{r['rate']:.0f} img/s | {r['wall_minutes']:.1f} | "
                   f"**{r['test_bits_per_dim']:.3f}** |")
  return "\n".join(lines) + "\n"


def main(argv=None):
  """Command-line entry point."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--precision", default="bfloat16",
                      choices=("bfloat16", "float16"),
                      help="the low precision (default: %(default)s)")
  parser.add_argument("--minutes", type=float, default=10.0,
                      help="budget of parts 2 and 3; 0 skips them")
  parser.add_argument("--runs-dir", default="/tmp/mixed_precision_benchmark",
                      help="folder of the training runs")
  parser.add_argument("--quick", action="store_true",
                      help="smoke run: tiny models, 0.2-minute budget")
  parser.add_argument("--write", metavar="PATH",
                      help="write the report into PATH's marked section")
  parser.add_argument("--json", metavar="PATH",
                      help="write the raw results to PATH")
  args = parser.parse_args(argv)
  log = functools.partial(print, file=sys.stderr, flush=True)
  started = time.time()
  models, settings = MODELS, benchmark.Settings()
  if args.quick:
    models = (Model("realnvp", 8, 1), Model("glow", 16, 2))
    settings, args.minutes = benchmark.QUICK, min(args.minutes, 0.2)
  precisions = ("float32", args.precision)
  rows = measure_speed(models, precisions, settings, log)
  quality = []
  if args.minutes > 0:
    model = models[0]
    rates = {p: benchmark.case_value(rows[model.label, p], "train",
                                     "images_per_second") for p in precisions}
    flags = ("--network-dtype", {"off": "float32"}.get(args.precision, args.precision))
    for label, rate, run_flags in (
        ("float32", rates["float32"], ()),
        (f"{args.precision}, float32's steps", rates["float32"], flags),
        (f"{args.precision}, equal time", rates[args.precision], flags)):
      run_dir = os.path.join(args.runs_dir, label.replace(", ", "-").replace(
          " ", "_").replace("'", ""))
      quality.append((label, recipe_benchmark.train_and_evaluate(
          model, "mnist", args.minutes, rate, run_dir, run_flags,
          num_samples=0, log=log)))
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump({"speed": {f"{k[0]} {k[1]}": v for k, v in rows.items()},
                 "quality": quality}, f, indent=1)
  command = benchmark.command_line(__file__, argv)
  report = format_report(models, args.precision, rows, quality, command,
                         time.time() - started)
  benchmark.publish(report, args.write, "bench/mixed_precision_benchmark.py",
                    log)


if __name__ == "__main__":
  main()
