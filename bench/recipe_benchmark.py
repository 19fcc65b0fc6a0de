"""Bits/dim per CPU minute: Real NVP and Glow at equal parameter count and
equal training-time budgets, trained by each architecture's default recipe.

One command, on one machine and in one run:

1. Rates. `bench/benchmark.py`'s worker measures the training images/s of
   each model (batch 64, no XLA, one fresh subprocess per model).
2. Budgets. For each `--budgets` entry (`DATASET:MINUTES[,MINUTES...]`)
   each model is trained with `python -m tfnvp.training.train` for the number of
   optimizer steps that its measured rate covers in that many minutes (so
   the figures do not depend on what else the machine runs meanwhile), by
   the recipe `training.train` picks for its architecture when no recipe
   flag is given. `--baseline [DATASET ...]` adds, in the same run, the
   recipe of tfnvp 0.2 (Adam 1e-3, constant, no averaging, no batch-norm
   recalibration) on those datasets (all if none is named).
3. Results. `python -m tfnvp.training.evaluate` on every test image (the
   paper's metric: bits/dim of uniformly dequantized pixels), the largest
   gap between validation and training-subset bits/dim at an epoch end, and
   how many of 1,000 samples at temperature 1.0 and 0.7 hold NaN or inf.
   Training curves go to `--curves-dir` as PNG.

Usage (from the repository root; data from $TFNVP_RAW_DATA_DIR, as for
`tfnvp-train`):

  TFNVP_RAW_DATA_DIR=../shared/data PYTHONPATH=. python \
      bench/recipe_benchmark.py --budgets mnist:10 fashion_mnist:10 \
      --write BENCHMARKS.md
  PYTHONPATH=. python bench/recipe_benchmark.py --quick     # smoke run
"""

import argparse
import dataclasses
import datetime
import functools
import json
import os
import shlex
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top,wrong-import-position
import benchmark
import glow_benchmark
import plot_history
from glow_benchmark import Model

__all__ = ["BASELINE_FLAGS", "count_nonfinite_samples", "main",
           "parse_budget", "train_and_evaluate"]

# tfnvp 0.2's recipe, for both architectures.
BASELINE_FLAGS = ("--optimizer", "adam", "--learning-rate", "1e-3",
                  "--warmup-steps", "0", "--lr-schedule", "constant",
                  "--ema-decay", "0", "--bn-recalibration-batches", "0")
TEMPERATURES = (1.0, 0.7)
# Validations per run at most: each costs about 15 s of a 2-core machine
# (2,000 validation and 2,000 training images, batch-norm recalibration,
# a sample grid, a checkpoint), a quarter of a 100-step Real NVP epoch.
MAX_EPOCHS = 20


def parse_budget(text):
  """`"mnist:10,60"` -> `("mnist", (10.0, 60.0))` (argparse type)."""
  dataset, _, minutes = text.partition(":")
  try:
    values = tuple(float(m) for m in minutes.split(","))
    if not dataset or not values or min(values) <= 0:
      raise ValueError
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"expected DATASET:MINUTES[,MINUTES...]; got {text!r}") from None
  return dataset, values


def count_nonfinite_samples(model_dir, num_samples, temperature, batch=100):
  """How many of `num_samples` samples of a run hold NaN or inf."""
  import numpy as np
  import tfnvp
  run = tfnvp.runs.load_run(model_dir)
  bad = 0
  for start in range(0, num_samples, batch):
    n = min(batch, num_samples - start)
    samples = tfnvp.sample_at_temperature(run.flow, n, temperature,
                                          seed=[7, start]).numpy()
    bad += int(np.sum(~np.isfinite(samples.reshape(n, -1)).all(axis=1)))
  return bad


def train_and_evaluate(model, dataset, minutes, rate, run_dir, flags=(),
                       num_samples=1000, log=print):
  """Trains `model` for `minutes` at `rate` images/s; returns its results."""
  epochs, steps_per_epoch = glow_benchmark.equal_time_steps(
      rate, minutes, max_epochs=MAX_EPOCHS)
  log(f"  {dataset} {minutes:g} min: {model.name} {model.label} "
      f"{shlex.join(flags) or '(default recipe)'}, {epochs} x "
      f"{steps_per_epoch} steps ...")
  glow_benchmark._run([  # pylint: disable=protected-access
      "-m", "tfnvp.training.train", "--dataset", dataset, "--model-dir", run_dir,
      *model.train_flags(), "--batch-size", str(glow_benchmark.TRAIN_BATCH),
      "--epochs", str(epochs), "--steps-per-epoch", str(steps_per_epoch),
      "--num-eval-examples", "2000", "--checkpoint-every",
      str(steps_per_epoch), "--verbose", "2", *flags], log)
  text = glow_benchmark._run(  # pylint: disable=protected-access
      ["-m", "tfnvp.training.evaluate", "--model-dir", run_dir], log)
  rows = plot_history.read_history(run_dir)
  gaps = [abs(r["val_bits_per_dim"] - r["train_eval_bits_per_dim"])
          for r in rows if "train_eval_bits_per_dim" in r]
  with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
    config = json.load(f)
  recipe = {k: config.get(k) for k in ("optimizer", "learning_rate",
                                       "warmup_steps", "lr_schedule",
                                       "ema_decay",
                                       "bn_recalibration_batches")}
  return {
      "dataset": dataset, "minutes": minutes, "model": model.name,
      "config": model.label, "recipe": recipe, "flags": list(flags),
      "steps": epochs * steps_per_epoch, "rate": rate,
      "wall_minutes": rows[-1]["elapsed_seconds"] / 60,
      "val_bits_per_dim": rows[-1]["val_bits_per_dim"],
      "test_bits_per_dim": float(text.split("test bits/dim:")[1].split()[0]),
      "max_val_train_gap": max(gaps) if gaps else None,
      "nonfinite": {str(t): count_nonfinite_samples(run_dir, num_samples, t)
                    for t in TEMPERATURES},
      "num_samples": num_samples, "model_dir": run_dir,
  }


def _recipe_text(recipe):
  parts = [f"{recipe['optimizer']} {recipe['learning_rate']:g}"]
  if recipe.get("warmup_steps"):
    parts.append(f"warm-up {recipe['warmup_steps']}")
  parts.append(recipe.get("lr_schedule") or "constant")
  if recipe.get("ema_decay"):
    parts.append(f"EMA {recipe['ema_decay']:g}")
  if recipe.get("bn_recalibration_batches"):
    parts.append(f"BN recal. {recipe['bn_recalibration_batches']}")
  return ", ".join(parts)


def format_report(results, params, command, seconds, curves):
  """The markdown section of BENCHMARKS.md."""
  lines = [
      "## Bits/dim per CPU minute: the training recipe",
      "",
      f"`{command}` on {datetime.date.today().isoformat()}: "
      f"{os.cpu_count()} CPUs, {benchmark.cpu_model()}; {seconds / 60:.0f} "
      "min in all. Each budget is turned into optimizer steps (batch 64) by "
      "the model's training rate measured at the start of the run.",
      "",
      "| dataset | budget, min | model | config | params | recipe | steps | "
      "measured min | val bits/dim (2,000) | test bits/dim (all) | max "
      "val-train gap | non-finite samples T=1.0 / 0.7 |",
      "|---|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
  ]
  for r in results:
    gap = ("-" if r["max_val_train_gap"] is None
           else f"{r['max_val_train_gap']:.3f}")
    bad = " / ".join(f"{r['nonfinite'][str(t)]:,}" for t in TEMPERATURES)
    lines.append(
        f"| {r['dataset']} | {r['minutes']:g} | {r['model']} | {r['config']} "
        f"| {params[r['config']]:,} | {_recipe_text(r['recipe'])} | "
        f"{r['steps']:,} | {r['wall_minutes']:.1f} | "
        f"{r['val_bits_per_dim']:.3f} | **{r['test_bits_per_dim']:.3f}** | "
        f"{gap} | {bad} of {r['num_samples']:,} |")
  lines += [
      "",
      "\"max val-train gap\": the largest difference, over the epoch ends, "
      "between validation bits/dim and bits/dim on a fixed subset of the "
      "training images of the same size, both with the weights used for "
      "evaluation. Curves (validation solid, training-subset dashed):",
      "",
  ]
  lines += [f"![{name}]({path})" for name, path in curves]
  return "\n".join(lines) + "\n"


def main(argv=None):
  """Command-line entry point."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--realnvp", default=Model("realnvp", 32, 2),
                      type=functools.partial(glow_benchmark._parse_model,  # pylint: disable=protected-access
                                             "realnvp"),
                      help="Real NVP width and residual blocks (hN-rM)")
  parser.add_argument("--glow", default=Model("glow", 120, 8),
                      type=functools.partial(glow_benchmark._parse_model,  # pylint: disable=protected-access
                                             "glow"),
                      help="Glow width and steps per level (hN-dM)")
  parser.add_argument("--budgets", nargs="+", type=parse_budget,
                      default=[("mnist", (10.0,))],
                      help="DATASET:MINUTES[,MINUTES...] (default mnist:10)")
  parser.add_argument("--baseline", nargs="*", metavar="DATASET",
                      help="also train with tfnvp 0.2's recipe, on these "
                      "datasets (all of --budgets' if none is named)")
  parser.add_argument("--runs-dir", default="/tmp/recipe_benchmark",
                      help="folder of the training runs")
  parser.add_argument("--curves-dir", default="bench/figures",
                      help="folder of the curves' PNG files")
  parser.add_argument("--quick", action="store_true",
                      help="smoke run: tiny models, 0.2-min budgets")
  parser.add_argument("--write", metavar="PATH",
                      help="write the report into PATH's marked section")
  parser.add_argument("--json", metavar="PATH",
                      help="write the raw results to PATH (after each run)")
  args = parser.parse_args(argv)
  if args.baseline is not None:
    unknown = set(args.baseline) - {d for d, _ in args.budgets}
    if unknown:
      parser.error(f"--baseline names datasets not in --budgets: "
                   f"{', '.join(sorted(unknown))}")
  settings = benchmark.Settings()
  num_samples = 1000
  if args.quick:
    args.realnvp, args.glow = Model("realnvp", 8, 1), Model("glow", 16, 2)
    args.budgets = [(d, (0.2,)) for d, _ in args.budgets]
    settings, num_samples = benchmark.QUICK, 20
  log = functools.partial(print, file=sys.stderr, flush=True)
  started = time.time()
  models = (args.realnvp, args.glow)
  rates, params = {}, {}
  for model in models:
    spec = dict(model.worker_spec(), kind="measure", config=model.label,
                jit=False, settings=dataclasses.asdict(settings))
    log(f"  rate: {model.name} {model.label} ...")
    row = benchmark.run_worker(spec)
    rates[model.label] = benchmark.case_value(row, "train",
                                              "images_per_second")
    params[model.label] = row["params"]
  results, curves = [], []
  os.makedirs(args.curves_dir, exist_ok=True)
  for dataset, budgets in args.budgets:
    for minutes in budgets:
      labelled = []
      baseline = args.baseline is not None and (
          not args.baseline or dataset in args.baseline)
      for flags in [()] + ([BASELINE_FLAGS] if baseline else []):
        tag = "baseline" if flags else "default"
        for model in models:
          run_dir = os.path.join(args.runs_dir,
                                 f"{dataset}-{minutes:g}min-{model.label}-{tag}")
          results.append(train_and_evaluate(
              model, dataset, minutes, rates[model.label], run_dir, flags,
              num_samples, log))
          labelled.append(f"{model.kind} {model.label} {tag}={run_dir}")
          if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
              json.dump({"rates": rates, "params": params,
                         "results": results}, f, indent=1)
      png = os.path.join(args.curves_dir,
                         f"recipe_{dataset}_{minutes:g}min.png")
      plot_history.main([*labelled, "--out", png])
      curves.append((f"{dataset}, {minutes:g} min", os.path.relpath(png)))
  command = benchmark.command_line(__file__, argv)
  report = format_report(results, params, command, time.time() - started,
                         curves)
  benchmark.publish(report, args.write, "bench/recipe_benchmark.py", log)


if __name__ == "__main__":
  main()
