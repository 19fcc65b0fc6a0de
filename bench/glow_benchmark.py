"""Glow vs Real NVP on MNIST, and `tfnvp.Glow` vs TFP's stock `tfb.Glow`.

Two parts, one command, on the same machine and in one run:

1. Speed. `bench/benchmark.py`'s worker (one fresh subprocess per row,
   interleaved timed rounds, a reference convolution timed alongside)
   measures training, `log_prob` and `sample` images/s of

   * `tfnvp.RealNVP` (`--realnvp` width and residual blocks, default h32-r2:
     395,027 parameters),
   * `tfnvp.Glow` (`--glow` width and depth per level, default h96-d8:
     404,536 parameters, within 2.5% of the Real NVP), and
   * TFP's stock `tfb.Glow` with the same architecture: 2 blocks of the same
     number of steps, `tfb.GlowDefaultNetwork` of the same width (3x3 conv,
     1x1 conv, 3x3 conv, as `tfnvp.Glow`'s network but without its two
     actnorms) and `tfb.GlowDefaultExitNetwork` at each split,

   with and without XLA (`--jit`).

2. Quality at equal training time. Each tfnvp model gets the same budget of
   training time (`--minutes`): its number of optimizer steps is the budget
   times its training rate measured in part 1 (batch 64, no XLA, the
   setting `training.train` uses by default). Both are trained with
   `python -m tfnvp.training.train` (Adam 1e-3, batch 64, the same seed and data
   order), one after the other, then `python -m tfnvp.training.evaluate` gives
   their test bits/dim on all 10,000 MNIST test images. The step counts are
   fixed before training, so the result does not depend on what else the
   machine does while the runs train; their measured wall times are
   reported beside the budget.

Usage (from the repository root; MNIST comes from $TFNVP_RAW_DATA_DIR, as
for `tfnvp-train`, else TFDS downloads it):

  TFNVP_RAW_DATA_DIR=../shared/data PYTHONPATH=. \
      python bench/glow_benchmark.py --write BENCHMARKS.md
  PYTHONPATH=. python bench/glow_benchmark.py --quick     # smoke run
"""

import argparse
import csv
import dataclasses
import datetime
import functools
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchmark  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = ["Model", "equal_time_steps", "format_report", "main",
           "run_quality", "run_speed"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_BATCH = 64
STEPS_PER_EPOCH = 100


@dataclasses.dataclass(frozen=True)
class Model:
  """One tfnvp model of the comparison.

  Attributes:
    kind: `"realnvp"` or `"glow"` (`training.train --model`).
    hidden_channels: width of the coupling networks.
    size: residual blocks (Real NVP) or steps per level (Glow).
  """

  kind: str
  hidden_channels: int
  size: int

  @property
  def label(self):
    return (f"h{self.hidden_channels}-r{self.size}" if self.kind == "realnvp"
            else f"h{self.hidden_channels}-d{self.size}")

  @property
  def name(self):
    return "tfnvp.RealNVP" if self.kind == "realnvp" else benchmark.TFNVP_GLOW

  def worker_spec(self):
    """The model part of a `benchmark.measure` spec."""
    if self.kind == "realnvp":
      return {"model": benchmark.TFNVP, "hidden_channels":
              self.hidden_channels, "num_res_blocks": self.size}
    return {"model": benchmark.TFNVP_GLOW,
            "hidden_channels": self.hidden_channels, "depth": self.size}

  def train_flags(self):
    """`training.train` flags of this architecture."""
    flags = ["--model", self.kind, "--num-scales", str(benchmark.NUM_SCALES),
             "--hidden-channels", str(self.hidden_channels)]
    if self.kind == "realnvp":
      return flags + ["--num-res-blocks", str(self.size)]
    return flags + ["--depth", str(self.size)]


def _parse_model(kind, text):
  """`Model` from `"h96-d8"` / `"h32-r2"` (argparse type)."""
  try:
    width, size = text.split("-")
    if not (width[0] == "h" and size[0] in "rd"):
      raise ValueError
    return Model(kind, int(width[1:]), int(size[1:]))
  except (ValueError, IndexError):
    raise argparse.ArgumentTypeError(
        f"expected hN-rM (Real NVP) or hN-dM (Glow); got {text!r}") from None


def run_speed(realnvp, glow, jit_modes, settings, log=print):
  """Part 1: one worker per (model, XLA setting); returns their rows."""
  stock = {"model": benchmark.GLOW, "hidden_channels": glow.hidden_channels,
           "glow_steps": glow.size}
  rows = []
  for jit in jit_modes:
    for label, spec in ((realnvp.label, realnvp.worker_spec()),
                        (glow.label, glow.worker_spec()),
                        (glow.label, stock)):
      spec = dict(spec, kind="measure", config=label, jit=jit,
                  settings=dataclasses.asdict(settings))
      log(f"  speed: {spec['model']} {label} jit={benchmark.on_off(jit)} ...")
      start = time.time()
      row = benchmark.run_worker(spec)
      row.update(model=spec["model"], config=label, jit=jit,
                 wall_seconds=time.time() - start)
      rows.append(row)
  return rows


def equal_time_steps(images_per_second, minutes, batch=TRAIN_BATCH,
                     max_epochs=None):
  """`(epochs, steps_per_epoch)` for `minutes` of training at a rate.

  About `STEPS_PER_EPOCH` steps per epoch (one validation each), but at
  most `max_epochs` epochs; the total `epochs * steps_per_epoch` is within
  `epochs / 2` steps of the exact count
  `minutes * 60 * images_per_second / batch`.
  """
  steps = max(1, round(minutes * 60 * images_per_second / batch))
  epochs = max(1, round(steps / STEPS_PER_EPOCH))
  if max_epochs is not None:
    epochs = min(epochs, max_epochs)
  return epochs, max(1, round(steps / epochs))


def _run(args, log):
  log("    $ " + shlex.join(args))
  result = subprocess.run([sys.executable, *args], cwd=REPO, check=False,
                          capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=REPO))
  if result.returncode:
    raise RuntimeError(f"{shlex.join(args)} failed:\n"
                       f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
  return result.stdout


def _last_history_row(model_dir):
  with open(os.path.join(model_dir, "history.csv"), encoding="utf-8") as f:
    return list(csv.DictReader(f))[-1]


def run_quality(models, rates, minutes, runs_dir, data_dir=None,
                num_eval_examples=2000, log=print):
  """Part 2: trains each model for `minutes` at its `rates` (images/s).

  Returns one dict per model: steps, planned and measured minutes, final
  validation and test bits/dim.
  """
  out = []
  for model in models:
    epochs, steps_per_epoch = equal_time_steps(rates[model.label], minutes)
    model_dir = os.path.join(runs_dir, model.label)
    common = ["--data-dir", data_dir] if data_dir else []
    log(f"  quality: {model.name} {model.label}, {epochs} x "
        f"{steps_per_epoch} steps ...")
    _run(["-m", "tfnvp.training.train", "--dataset", "mnist",
          "--model-dir", model_dir, *model.train_flags(),
          "--batch-size", str(TRAIN_BATCH), "--epochs", str(epochs),
          "--steps-per-epoch", str(steps_per_epoch),
          "--num-eval-examples", str(num_eval_examples),
          "--checkpoint-every", str(steps_per_epoch), "--verbose", "2",
          *common], log)
    text = _run(["-m", "tfnvp.training.evaluate", "--model-dir", model_dir,
                 *common], log)
    test = float(text.split("test bits/dim:")[1].split()[0])
    last = _last_history_row(model_dir)
    steps = epochs * steps_per_epoch
    out.append({"model": model.name, "config": model.label, "steps": steps,
                "planned_minutes": steps * TRAIN_BATCH / rates[model.label]
                / 60,
                "wall_minutes": float(last["elapsed_seconds"]) / 60,
                "val_bits_per_dim": float(last["val_bits_per_dim"]),
                "test_bits_per_dim": test, "model_dir": model_dir})
  return out


def _speed_table(rows):
  """Markdown: one line per worker, then the ratios of each XLA setting."""
  lines = ["| XLA | model | config | params | train img/s | log_prob img/s "
           "| sample img/s | peak RSS MiB | fwd MFLOP/img | of ref conv | "
           "trace+compile s |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
  fmt = benchmark.fmt_number
  keys = ("params", "train", "log_prob", "sample", "rss", "mflop")
  for jit in dict.fromkeys(r["jit"] for r in rows):
    group = [r for r in rows if r["jit"] == jit]
    summaries = {r["model"]: benchmark.summarize(r) for r in group}
    for row in group:
      s = summaries[row["model"]]
      if "error" in s:
        lines.append(f"| {benchmark.on_off(jit)} | {row['model']} | "
                     f"{row['config']} | failed: {s['error']} |")
        continue
      fraction = s.get("fraction")
      lines.append("| " + " | ".join([
          benchmark.on_off(jit), row["model"], row["config"],
          *(fmt(s.get(k)) for k in keys),
          f"{100 * fraction:.0f}%" if isinstance(fraction, float) else "-",
          fmt(s.get("setup"))]) + " |")
    for a, b in ((benchmark.TFNVP_GLOW, benchmark.GLOW),
                 (benchmark.TFNVP_GLOW, benchmark.TFNVP)):
      if a in summaries and b in summaries:
        lines.append("| " + " | ".join([
            benchmark.on_off(jit), f"ratio {a} / {b}", "-",
            *(benchmark.ratio(summaries[a].get(k), summaries[b].get(k))
              for k in keys), "-", "-"]) + " |")
  return "\n".join(lines)


def _quality_table(results, minutes):
  lines = [f"| model | config | params | train img/s (part 1) | steps "
           f"(batch {TRAIN_BATCH}) | steps at that rate, min | measured min "
           "| val bits/dim (2,000) | test bits/dim (10,000) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
  for r in results:
    lines.append(
        f"| {r['model']} | {r['config']} | {r['params']:,} | "
        f"{benchmark.fmt_number(r['rate'])} | {r['steps']:,} | "
        f"{r['planned_minutes']:.1f} | "
        f"{r['wall_minutes']:.1f} | {r['val_bits_per_dim']:.3f} | "
        f"{r['test_bits_per_dim']:.3f} |")
  return "\n".join(lines)


def format_report(speed_rows, quality, minutes, command, seconds, load):
  """The markdown section of BENCHMARKS.md."""
  onednn = sorted({benchmark.on_off(r["onednn"]) for r in speed_rows
                   if "onednn" in r})
  env = sorted({str(r.get("onednn_env")) for r in speed_rows
                if "onednn" in r})
  lines = [
      "## Glow vs Real NVP, and `tfnvp.Glow` vs stock `tfb.Glow`",
      "",
      f"`{command}` on {datetime.date.today().isoformat()}: "
      f"{os.cpu_count()} CPUs, {benchmark.cpu_model()}, oneDNN "
      f"{'/'.join(onednn) or '-'} (`TF_ENABLE_ONEDNN_OPTS`: "
      f"{'/'.join(env).replace('None', 'unset')}); {seconds / 60:.0f} "
      f"min in all; load average (1 min) {load[0]:.2f} before, "
      f"{load[1]:.2f} after. MNIST-shaped 28x28x1 input, 2 levels, float32.",
      "",
      "### Speed (batches: training 64, `log_prob` 256, `sample` 64)",
      "",
      _speed_table(speed_rows),
      "",
      "Columns as in the first table (`bench/benchmark.py`). "
      "`tfb.Glow` has the architecture of `tfnvp.Glow` at the same width "
      "and depth: its `tfb.GlowDefaultNetwork` lacks the two actnorms of "
      "`tfnvp.networks.GlowCouplingNetwork`, and its exit networks replace "
      "the learned prior.",
      "",
  ]
  if quality:
    lines += [
        f"### Quality at equal parameter count and equal training time "
        f"({minutes:g} min)",
        "",
        _quality_table(quality, minutes),
        "",
        f"Budget: {minutes:g} min of training for each, turned into "
        "optimizer steps by the training rate of part 1 (no XLA); "
        "\"measured min\" is "
        "the wall time of `training.train`'s epochs (with validation on "
        "2,000 images and a sample grid per epoch). Test bits/dim: "
        "`python -m tfnvp.training.evaluate` on all 10,000 MNIST test images "
        "(pixel space, the paper's metric).",
        "",
    ]
  return "\n".join(lines)


def main(argv=None):
  """Command-line entry point."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--realnvp", default=Model("realnvp", 32, 2),
                      type=functools.partial(_parse_model, "realnvp"),
                      help="Real NVP width and residual blocks (hN-rM)")
  parser.add_argument("--glow", default=Model("glow", 96, 8),
                      type=functools.partial(_parse_model, "glow"),
                      help="Glow width and steps per level (hN-dM)")
  parser.add_argument("--jit", choices=("both", "off", "on"),
                      help="XLA settings of part 1 (default: both; --quick: "
                           "off)")
  parser.add_argument("--minutes", type=float, default=10.0,
                      help="training budget per model in part 2 (0: skip "
                           "part 2)")
  parser.add_argument("--runs-dir", help="folder of part 2's training runs "
                      "(default: a temporary folder)")
  parser.add_argument("--data-dir", help="TFDS data folder")
  parser.add_argument("--quick", action="store_true",
                      help="smoke run: small batches, few rounds, 0.2-min "
                           "budgets; numbers are not meaningful")
  parser.add_argument("--write", metavar="PATH",
                      help="write the report into PATH's marked section")
  parser.add_argument("--json", metavar="PATH",
                      help="write the raw results to PATH (after each part)")
  args = parser.parse_args(argv)
  if args.quick:
    args.realnvp = Model("realnvp", 8, 1)
    args.glow = Model("glow", 16, 2)
  settings = benchmark.QUICK if args.quick else benchmark.Settings()
  jit = args.jit or ("off" if args.quick else "both")
  jit_modes = {"both": (False, True), "off": (False,), "on": (True,)}[jit]
  minutes = 0.2 if args.quick else args.minutes
  log = functools.partial(print, file=sys.stderr, flush=True)
  started, load_before = time.time(), os.getloadavg()

  def dump(results):
    if args.json:
      with open(args.json, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)

  rows = run_speed(args.realnvp, args.glow, jit_modes, settings, log=log)
  dump({"speed": rows})
  quality = []
  if minutes > 0:
    no_jit = {r["model"]: r for r in rows if not r["jit"]}
    rates, params = {}, {}
    for model in (args.realnvp, args.glow):
      row = no_jit[model.worker_spec()["model"]]
      rate = benchmark.case_value(row, "train", "images_per_second")
      if not isinstance(rate, float):
        raise RuntimeError(f"no training rate for {model.label}: {row}")
      rates[model.label], params[model.label] = rate, row["params"]
    with tempfile.TemporaryDirectory() as scratch:
      quality = run_quality((args.realnvp, args.glow), rates, minutes,
                            args.runs_dir or scratch, data_dir=args.data_dir,
                            log=log)
    for result in quality:
      result.update(rate=rates[result["config"]],
                    params=params[result["config"]])
    dump({"speed": rows, "quality": quality})
  command = benchmark.command_line(__file__, argv)
  report = format_report(rows, quality, minutes, command,
                         time.time() - started,
                         [load_before[0], os.getloadavg()[0]])
  benchmark.publish(report, args.write, "bench/glow_benchmark.py", log)


if __name__ == "__main__":
  main()
