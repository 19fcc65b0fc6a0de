"""Class-conditional Real NVP and Glow against unconditional ones, at equal
parameters and equal training time: bits/dim, the Bayes classifier, and
the class agreement and an MNIST Frechet distance of guided samples.

One command, on one machine:

1. Rates. `recipe_benchmark`'s way: `bench/benchmark.py`'s worker measures
   each architecture's unconditional training images/s, and each budget of
   minutes becomes optimizer steps at that rate. Every variant of an
   architecture trains for the same steps: conditioning only the priors
   adds per-class tables (a few thousand parameters) and costs about the
   same per step; the measured minutes are in the table.
2. Runs, per dataset, in this order: Glow unconditional, Glow conditional
   with the classification weight (`--num-classes auto --label-dropout 0.1
   --classification-weight 0.01`, priors-only conditioning, Glow's hybrid
   loss), Real NVP the same two, then Glow conditional without the weight,
   Glow with conditioned couplings too (`--condition-couplings`, the
   weight 0.01), and Real NVP the same two.
   Each trains with `python -m tfnvp.training.train` by its architecture's
   default recipe and is evaluated on every test image
   (`training.evaluate.evaluate`): bits/dim, and for a conditional run
   `-log p(x|y)`, the marginal `-log p(x)` and the Bayes classifier's
   accuracy (`flow.classify`).
3. Samples. A small seeded CNN classifier is trained on the dataset's
   training split (its test accuracy is reported). For each conditional
   run, 100 samples per class for each guidance `w` in `--guidance` and
   each temperature (1.0, 0.7): the fraction the CNN assigns to the
   requested label, and the Frechet distance between the CNN's penultimate
   features of the samples and of the test images ("MNIST FID": the CNN's
   features, not Inception's). The same distance for 1,000 held-out test
   images (the floor at this sample size) and for an unconditional run's
   samples. A PNG grid (one row per class) at the `(w, T)` of the best
   class agreement goes to `bench/figures/conditional_<dataset>_<model>.png`.

After every run the JSON (`--json`) and the section (`--write`) are
rewritten, so an interrupted run still publishes what finished; with an
existing `--json` the runs already in it are not trained again.

Usage (from the repository root; raw data from $TFNVP_RAW_DATA_DIR,
prepared TFDS data in $TFDS_DATA_DIR):

  TFNVP_RAW_DATA_DIR=../shared/data TFDS_DATA_DIR=../bench_tfds \\
      PYTHONPATH=. python bench/conditional_benchmark.py \\
      --datasets mnist fashion_mnist --json /tmp/conditional.json \\
      --write BENCHMARKS.md
  PYTHONPATH=. python bench/conditional_benchmark.py --quick   # smoke run
"""

import argparse
import dataclasses
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top,wrong-import-position
import benchmark
import glow_benchmark
import plot_history
import recipe_benchmark
from glow_benchmark import Model

__all__ = ["VARIANTS", "Variant", "frechet_distance", "main"]

TEMPERATURES = recipe_benchmark.TEMPERATURES
CONDITIONAL = ("--num-classes", "auto", "--label-dropout", "0.1")


@dataclasses.dataclass(frozen=True)
class Variant:
  """How one run of an architecture is conditioned."""

  name: str
  flags: tuple

  @property
  def conditional(self):
    return bool(self.flags)


VARIANTS = (
    Variant("unconditional", ()),
    Variant("conditional, lambda 0.01",
            CONDITIONAL + ("--classification-weight", "0.01")),
    Variant("conditional, lambda 0", CONDITIONAL),
    Variant("conditional couplings, lambda 0.01",
            CONDITIONAL + ("--condition-couplings",
                           "--classification-weight", "0.01")),
)
# (architecture, variant index) in the order the runs are trained.
ORDER = (("glow", 0), ("glow", 1), ("realnvp", 0), ("realnvp", 1),
         ("glow", 2), ("glow", 3), ("realnvp", 2), ("realnvp", 3))


def frechet_distance(a, b):
  """Frechet distance of Gaussians fitted to feature rows `a` and `b`.

  `|m_a - m_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))`,
  the square roots from symmetric eigendecompositions.
  """
  import numpy as np
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  mean = np.sum((a.mean(0) - b.mean(0)) ** 2)
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  values, vectors = np.linalg.eigh(cov_a)
  root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
  cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
  return float(mean + np.trace(cov_a) + np.trace(cov_b)
               - 2 * np.sum(np.sqrt(np.clip(cross, 0, None))))


def _load_split(dataset, split):
  """`(images uint8 [N, H, W, C], labels int [N])` of a prepared split."""
  import tensorflow_datasets as tfds
  from tfnvp import data
  builder = data.prepare(dataset)
  data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
  return data["image"], data["label"]


def train_classifier(dataset, path, epochs, log):
  """A seeded CNN on the training split, saved at `path` (reused if there).

  Returns `(model, features, test accuracy)`: `features` maps uint8 images
  to the penultimate layer's activations.
  """
  import keras
  import numpy as np
  test_images, test_labels = _load_split(dataset, "test")
  if os.path.exists(path):
    model = keras.models.load_model(path)
  else:
    log(f"  CNN classifier on {dataset}, {epochs} epochs ...")
    keras.utils.set_random_seed(0)
    images, labels = _load_split(dataset, "train")
    model = keras.Sequential([
        keras.Input(test_images.shape[1:]),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.25),
        keras.layers.Dense(128, activation="relu", name="features"),
        keras.layers.Dropout(0.25),
        keras.layers.Dense(int(labels.max()) + 1),
    ])
    model.compile(keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    model.fit(images, labels, batch_size=128, epochs=epochs, verbose=2)
    model.save(path)
  features = keras.Model(model.inputs, model.get_layer("features").output)
  logits = model.predict(test_images, batch_size=500, verbose=0)
  accuracy = float(np.mean(np.argmax(logits, -1) == test_labels))
  return model, features, accuracy


class SampleJudge:
  """Class agreement and Frechet distance of samples, by one CNN.

  The reference features are those of the test images after the first
  `num_held_out`; those first images are the held-out floor.
  """

  def __init__(self, dataset, cnn_path, epochs, num_held_out, log):
    import numpy as np
    self.cnn, self.features, self.cnn_accuracy = train_classifier(
        dataset, cnn_path, epochs, log)
    images, labels = _load_split(dataset, "test")
    self.reference = self._features(images[num_held_out:])
    held_out = self.judge(images[:num_held_out], labels[:num_held_out])
    self.floor = dict(held_out, num_images=num_held_out)
    self.num_classes = int(np.max(labels)) + 1

  def _features(self, images):
    return self.features.predict(images, batch_size=500, verbose=0)

  def judge(self, images, labels=None):
    """`{"agreement", "fid"}` of uint8 `images` (agreement given labels)."""
    import numpy as np
    result = {"fid": frechet_distance(self._features(images), self.reference)}
    if labels is not None:
      logits = self.cnn.predict(images, batch_size=500, verbose=0)
      result["agreement"] = float(np.mean(np.argmax(logits, -1) == labels))
    return result


def _draw(distribution_fn, count, temperature, seed, batch=100):
  """`count` samples (uint8, non-finite ones black) and how many were bad.

  `distribution_fn(start, n)` gives `(distribution, sample_shape)` of the
  samples `start .. start + n`.
  """
  import numpy as np
  import tensorflow as tf
  import tfnvp
  chunks, bad = [], 0
  for start in range(0, count, batch):
    n = min(batch, count - start)
    distribution, shape = distribution_fn(start, n)
    samples = tfnvp.sample_at_temperature(distribution, shape, temperature,
                                          seed=[seed, start])
    finite = tf.reduce_all(tf.math.is_finite(samples), axis=[1, 2, 3])
    bad += int(np.sum(~finite.numpy()))
    samples = tf.where(finite[:, None, None, None], samples, 0.0)
    chunks.append(tfnvp.to_uint8(samples).numpy())
  return np.concatenate(chunks), bad


def sample_quality(model_dir, judge, guidance, per_class, grid_path, log):
  """Rows `{temperature, guidance, agreement, fid, nonfinite}` of a run."""
  import numpy as np
  import tensorflow as tf
  import tfnvp
  from tfnvp.training import callbacks
  flow = tfnvp.runs.load_run(model_dir).flow
  rows, best = [], None
  if flow.num_classes is None:
    count = per_class * judge.num_classes
    for temperature in TEMPERATURES:
      images, bad = _draw(lambda start, n: (flow, n), count, temperature, 7)
      rows.append(dict(judge.judge(images), temperature=temperature,
                       guidance=None, nonfinite=bad, num_samples=count))
    return rows
  labels = np.repeat(np.arange(flow.num_classes), per_class)
  for temperature in TEMPERATURES:
    for w in guidance:
      log(f"    samples: T={temperature:g}, w={w:g} ...")
      try:
        images, bad = _draw(
            lambda start, n, w=w: (flow.given(labels[start:start + n],
                                              guidance=w), ()),
            len(labels), temperature, 7)
      except tf.errors.InvalidArgumentError as error:
        rows.append(dict(temperature=temperature, guidance=w,
                         refused=error.message.splitlines()[0][:300]))
        continue
      row = dict(judge.judge(images, labels), temperature=temperature,
                 guidance=w, nonfinite=bad, num_samples=len(labels))
      rows.append(row)
      if best is None or row["agreement"] > best[0]["agreement"]:
        best = (row, images)
  if best is not None:
    row, images = best
    columns = min(per_class, 10)
    grid = images.reshape(flow.num_classes, per_class,
                          *images.shape[1:])[:, :columns]
    callbacks.write_png(grid_path, callbacks.image_grid(
        grid.reshape(-1, *images.shape[1:]), columns))
    row["grid"] = os.path.relpath(grid_path)
  return rows


def _fmt(value, digits=3):
  return "-" if value is None else f"{value:.{digits}f}"


def format_report(state):
  """The markdown section of BENCHMARKS.md."""
  lines = [
      "## Class-conditional flows: bits/dim, classifier, guided samples",
      "",
      " then ".join(f"`{c}`" for c in state["commands"])
      + f" on {state['date']} (commit {state['commit']}): "
      f"{os.cpu_count()} CPUs, {benchmark.cpu_model()}; "
      f"{state['seconds'] / 60:.0f} min in all. Each architecture's budget "
      "is turned into optimizer steps (batch 64) by its unconditional "
      "training rate measured at the start; all its variants train for "
      "those steps, by its default recipe. Conditional runs condition the "
      "priors only (label dropout 0.1); lambda is the classification weight "
      "(Glow's hybrid loss `bits_x + lambda bits_y`).",
      "",
      "### Density and the Bayes classifier (every test image)",
      "",
      "| dataset | model | config | variant | params | steps | measured "
      "min | test bits/dim | -log p(x\\|y) | marginal -log p(x) | marginal - "
      "uncond. | Bayes accuracy |",
      "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ]
  runs = state["runs"]
  uncond = {(r["dataset"], r["model"]): r for r in runs
            if not r["conditional"]}
  for r in runs:
    base = uncond.get((r["dataset"], r["model"]))
    if r["conditional"]:
      delta = (f"{r['marginal_bits_per_dim'] - base['test_bits_per_dim']:+.3f}"
               if base else "-")
      cells = ["-", f"**{r['conditional_bits_per_dim']:.3f}**",
               f"{r['marginal_bits_per_dim']:.3f}", delta,
               f"**{r['accuracy']:.2%}**"]
    else:
      cells = [f"**{r['test_bits_per_dim']:.3f}**", "-", "-", "-", "-"]
    lines.append(
        f"| {r['dataset']} | {r['model']} | {r['config']} | {r['variant']} | "
        f"{r['params']:,} | {r['steps']:,} | {r['wall_minutes']:.1f} | "
        + " | ".join(cells) + " |")
  lines += [
      "",
      "### Samples judged by a CNN",
      "",
      "The CNN (two convolutions, a 128-unit penultimate layer, seeded) "
      "reaches "
      + ", ".join(f"**{a:.2%}** test accuracy on {d}"
                  for d, a in state["cnn_accuracy"].items())
      + ". \"agreement\": the fraction of samples it assigns to the "
      "requested class (100 per class). \"MNIST FID\": the Frechet distance "
      "between Gaussians fitted to its penultimate features of the samples "
      "and of the test images after the first 1,000 (a Frechet distance in "
      "this CNN's feature space, not Inception's FID: not comparable with "
      "published FIDs). The floor is the first 1,000 test images against the "
      "rest.",
      "",
      "| dataset | model | variant | T | guidance w | agreement | MNIST FID "
      "| non-finite |",
      "|---|---|---|---:|---:|---:|---:|---:|",
  ]
  for dataset, floor in state["floor"].items():
    lines.append(f"| {dataset} | test images (floor) | - | - | - | "
                 f"{floor['agreement']:.2%} | {floor['fid']:.2f} | - |")
  for r in runs:
    for s in r.get("samples", []):
      w = "n/a" if s["guidance"] is None else f"{s['guidance']:g}"
      if "refused" in s:
        cells = [f"refused: {s['refused']}", "-", "-"]
      else:
        agreement = ("-" if "agreement" not in s
                     else f"{s['agreement']:.2%}")
        if s.get("grid"):
          agreement = f"**{agreement}**"
        cells = [agreement, f"{s['fid']:.2f}",
                 f"{s['nonfinite']} of {s['num_samples']:,}"]
      lines.append(f"| {r['dataset']} | {r['model']} {r['config']} | "
                   f"{r['variant']} | {s['temperature']:g} | {w} | "
                   + " | ".join(cells) + " |")
  lines += ["", "### Aims of issue #23", "",
            "| aim | run | measured | met |", "|---|---|---|---|"]
  lines += [f"| {a['aim']} | {a['run']} | {a['measured']} | "
            f"{a['met']} |".replace("x|y", "x\\|y") for a in aims(state)]
  grids = [(r, s["grid"]) for r in runs for s in r.get("samples", [])
           if s.get("grid")]
  if grids:
    lines += ["", "Samples at the best agreement of each conditional run "
              "(one row per class, in the bold row's `w` and `T`):", ""]
    lines += [f"![{r['dataset']} {r['model']} {r['variant']}]({path})"
              for r, path in grids]
  if state.get("curves"):
    lines += ["", "Validation (solid) and training-subset (dashed) bits/dim "
              "of every run (the conditional runs': `-log p(x|y)`), and the "
              "Bayes classifier's validation accuracy at each epoch end:",
              ""]
    lines += [f"![{name}]({path})" for name, path in state["curves"]]
  missing = state.get("not_run")
  if missing:
    lines += ["", "Not run in this session (time): " + "; ".join(missing)
              + ". The same command with `--json` of this run trains only "
              "what is missing."]
  if state.get("notes"):
    lines += ["", state["notes"].rstrip()]
  return "\n".join(lines) + "\n"


def aims(state):
  """The issue's aims, against the measured runs."""
  out = []
  runs = state["runs"]
  uncond = {(r["dataset"], r["model"]): r for r in runs
            if not r["conditional"]}
  for r in runs:
    if not r["conditional"]:
      continue
    name = f"{r['dataset']} {r['model']} {r['variant']}"
    base = uncond.get((r["dataset"], r["model"]))
    if base:
      b = base["test_bits_per_dim"]
      out.append(dict(aim="-log p(x|y) <= unconditional bits/dim", run=name,
                      measured=f"{r['conditional_bits_per_dim']:.3f} vs "
                      f"{b:.3f}",
                      met=_met(r["conditional_bits_per_dim"] <= b)))
      gap = r["marginal_bits_per_dim"] - b
      out.append(dict(aim="marginal within 0.01 of unconditional", run=name,
                      measured=f"{gap:+.3f}",
                      met=_met(abs(gap) <= 0.01) + (
                          " (lower: better)" if gap < -0.01 else "")))
    if r["dataset"] == "mnist" and "lambda 0.01" in r["variant"]:
      out.append(dict(aim="Bayes accuracy >= 97% (MNIST, with lambda)",
                      run=name, measured=f"{r['accuracy']:.2%}",
                      met=_met(r["accuracy"] >= 0.97)))
    judged = [s for s in r.get("samples", []) if "agreement" in s]
    if judged:
      top = max(judged, key=lambda s: s["agreement"])
      out.append(dict(
          aim="class agreement >= 95% at some w", run=name,
          measured=f"{top['agreement']:.2%} (w={top['guidance']:g}, "
          f"T={top['temperature']:g}, MNIST FID {top['fid']:.2f})",
          met=_met(top["agreement"] >= 0.95)))
  return out


def _met(flag):
  return "yes" if flag else "**no**"


def _git_commit():
  import subprocess
  return subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                        cwd=glow_benchmark.REPO, capture_output=True,
                        text=True, check=False).stdout.strip() or "unknown"


def main(argv=None):
  """Command-line entry point."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--datasets", nargs="+", default=["mnist"])
  parser.add_argument("--minutes", type=float, default=10.0,
                      help="training budget per run (default 10)")
  parser.add_argument("--guidance", type=float, nargs="+",
                      default=[0.0, 1.0, 2.0, 4.0])
  parser.add_argument("--max-runs", type=int,
                      help="stop after this many new runs (in the order of "
                      "the module docstring)")
  parser.add_argument("--runs-dir", default="/tmp/conditional_benchmark",
                      help="folder of the training runs and the CNN")
  parser.add_argument("--figures-dir", default="bench/figures")
  parser.add_argument("--cnn-epochs", type=int, default=6)
  parser.add_argument("--notes", metavar="PATH",
                      help="markdown appended to the section")
  parser.add_argument("--report-only", action="store_true",
                      help="rewrite the section from --json, train nothing")
  parser.add_argument("--quick", action="store_true",
                      help="smoke run: tiny models, 0.2-min budgets, "
                      "10 samples per class, a 1-epoch CNN")
  parser.add_argument("--write", metavar="PATH",
                      help="write the report into PATH's marked section")
  parser.add_argument("--json", metavar="PATH",
                      help="raw results, rewritten after each run; runs "
                      "already in it are not trained again")
  args = parser.parse_args(argv)
  models = {"realnvp": Model("realnvp", 32, 2), "glow": Model("glow", 120, 8)}
  settings, per_class = benchmark.Settings(), 100
  if args.quick:
    models = {"realnvp": Model("realnvp", 8, 1), "glow": Model("glow", 16, 2)}
    settings, per_class, args.minutes, args.cnn_epochs = (
        benchmark.QUICK, 10, 0.2, 1)
    args.figures_dir = os.path.join(args.runs_dir, "figures")
  log = functools.partial(print, file=sys.stderr, flush=True)
  state = {"rates": {}, "runs": [], "cnn_accuracy": {}, "floor": {},
           "seconds": 0.0}
  if args.json and os.path.exists(args.json):
    with open(args.json, encoding="utf-8") as f:
      state = json.load(f)
  if args.notes:
    with open(args.notes, encoding="utf-8") as f:
      state["notes"] = f.read()
  if not args.report_only:
    state.setdefault("commands", []).append(
        benchmark.command_line(__file__, argv))
  started, seconds_before = time.time(), state["seconds"]

  def publish():
    if not args.report_only:
      state.update(seconds=seconds_before + time.time() - started,
                   date=time.strftime("%Y-%m-%d"), commit=_git_commit())
    state["not_run"] = [f"{d} {m} {VARIANTS[v].name}"
                        for d in args.datasets for m, v in ORDER
                        if not _done(state, d, m, VARIANTS[v])]
    state["curves"] = _curves(state, args.figures_dir)
    if args.json:
      with open(args.json, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    if args.write or args.report_only:
      benchmark.publish(format_report(state), args.write,
                        "bench/conditional_benchmark.py", log)

  if args.report_only:
    publish()
    return
  os.makedirs(args.runs_dir, exist_ok=True)
  new_runs = 0
  for dataset in args.datasets:
    judge = None
    for kind, index in ORDER:
      variant, model = VARIANTS[index], models[kind]
      if _done(state, dataset, kind, variant):
        continue
      if args.max_runs is not None and new_runs >= args.max_runs:
        break
      if model.label not in state["rates"]:
        spec = dict(model.worker_spec(), kind="measure", config=model.label,
                    jit=False, settings=dataclasses.asdict(settings))
        log(f"  rate: {model.name} {model.label} ...")
        row = benchmark.run_worker(spec)
        state["rates"][model.label] = benchmark.case_value(
            row, "train", "images_per_second")
      if judge is None:
        judge = SampleJudge(dataset, os.path.join(
            args.runs_dir, f"cnn-{dataset}-{args.cnn_epochs}.keras"),
                            args.cnn_epochs, 1000, log)
        state["cnn_accuracy"][dataset] = judge.cnn_accuracy
        state["floor"][dataset] = judge.floor
      state["runs"].append(run_variant(
          model, variant, dataset, args.minutes, state["rates"][model.label],
          args, judge, per_class, log))
      new_runs += 1
      publish()
  publish()


def _done(state, dataset, kind, variant):
  return any(r["dataset"] == dataset and r["kind"] == kind
             and r["variant"] == variant.name for r in state["runs"])


def _curves(state, figures_dir):
  """One PNG of training curves per dataset, of the runs that finished."""
  curves = []
  os.makedirs(figures_dir, exist_ok=True)
  for dataset in dict.fromkeys(r["dataset"] for r in state["runs"]):
    labelled = [f"{r['kind']} {r['variant']}={r['model_dir']}"
                for r in state["runs"] if r["dataset"] == dataset
                and os.path.exists(os.path.join(r["model_dir"],
                                                "history.csv"))]
    if labelled:
      png = os.path.join(figures_dir, f"conditional_{dataset}_curves.png")
      plot_history.main([*labelled, "--out", png])
      curves.append((f"{dataset} bits/dim", os.path.relpath(png)))
    conditional = [r for r in state["runs"] if r["dataset"] == dataset
                   and r["conditional"]]
    if conditional:
      png = os.path.join(figures_dir, f"conditional_{dataset}_accuracy.png")
      _plot_accuracy(conditional, png)
      curves.append((f"{dataset} Bayes accuracy", os.path.relpath(png)))
  return curves


def _plot_accuracy(runs, png):
  """Validation accuracy of the Bayes classifier against steps."""
  import matplotlib.pyplot as plt
  figure, axes = plt.subplots(figsize=(7, 4.5))
  for r in runs:
    rows = plot_history.read_history(r["model_dir"])
    steps = r["steps"] / len(rows)
    axes.plot([(row["epoch"] + 1) * steps for row in rows],
              [row["val_accuracy"] for row in rows], marker="o",
              markersize=3, label=f"{r['kind']} {r['variant']}")
  axes.axhline(0.97, color="grey", linestyle=":", label="aim, 97%")
  axes.set_xlabel("optimizer steps (batch 64)")
  axes.set_ylabel("Bayes classifier accuracy (2,000 validation images)")
  axes.grid(True, alpha=0.3)
  axes.legend()
  figure.tight_layout()
  figure.savefig(png, dpi=100)
  plt.close(figure)


def run_variant(model, variant, dataset, minutes, rate, args, judge,
                per_class, log):
  """Trains, evaluates and samples one run; returns its results."""
  import math
  import tfnvp
  from tfnvp.training import evaluate
  tag = variant.name.replace(", ", "-").replace(" ", "")
  run_dir = os.path.join(args.runs_dir, f"{dataset}-{model.label}-{tag}")
  # Samples are drawn below, by label; the recipe benchmark's own count of
  # non-finite unconditional samples is skipped (num_samples=0).
  result = recipe_benchmark.train_and_evaluate(
      model, dataset, minutes, rate, run_dir, variant.flags, 0, log)
  for key in ("nonfinite", "num_samples"):
    result.pop(key)
  run = tfnvp.runs.load_run(run_dir)
  result.update(kind=model.kind, variant=variant.name,
                conditional=variant.conditional,
                params=int(sum(math.prod(v.shape)
                               for v in run.flow.trainable_variables)))
  if variant.conditional:
    metrics, _ = evaluate.evaluate(run_dir, run=run, return_dict=True)
    result.update(conditional_bits_per_dim=float(metrics["bits_per_dim"]),
                  marginal_bits_per_dim=float(
                      metrics["marginal_bits_per_dim"]),
                  bits_y=float(metrics["bits_y"]),
                  accuracy=float(metrics["accuracy"]))
  suffix = {"conditional, lambda 0": "_lambda0",
            "conditional couplings, lambda 0.01": "_couplings"}.get(
                variant.name, "")
  result["samples"] = sample_quality(
      run_dir, judge, args.guidance, per_class,
      os.path.join(args.figures_dir,
                   f"conditional_{dataset}_{model.kind}{suffix}.png"), log)
  return result


if __name__ == "__main__":
  main()
