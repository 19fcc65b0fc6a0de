"""`log_prob` through the exported SavedModel vs the in-process flow.

Builds the quickstart's model (28x28x1, 2 scales, 32 channels, 2 residual
blocks; a checkpoint of a training run with `--model-dir`), exports it with
`export.serving.export_saved_model`, loads it back with `tf.saved_model.load`
and times, side by side in interleaved rounds (median per round, after a
warm-up call), `log_prob` images/s at batch 1 and 256 of

* `exported`: the `log_prob` signature of the loaded SavedModel (what TF
  Serving runs, request checks included);
* `in-process`: `flow.log_prob` in a `tf.function` with the same input
  signature, the fastest way to call the library;
* `eager`: `flow.log_prob` called eagerly, for scale.

Usage (from the repository root):

  PYTHONPATH=. python bench/export_benchmark.py
  PYTHONPATH=. python bench/export_benchmark.py --write BENCHMARKS.md
"""

import argparse
import datetime
import tempfile

import benchmark
import tensorflow as tf

import tfnvp
from tfnvp.export import serving
from tfnvp import runs

__all__ = ["main", "run"]

BATCHES = (1, 256)
MARK = "bench/export_benchmark.py"


def _flow(model_dir):
  """The flow to export and where its weights come from."""
  if model_dir:
    run_ = runs.load_run(model_dir)
    return run_.flow, run_.checkpoint
  return tfnvp.RealNVP((28, 28, 1), num_scales=2, hidden_channels=32,
                       num_res_blocks=2), "fresh weights"


def run(settings, model_dir=None, log=print):
  """Returns `({batch: {case: timing}}, rounds, source)`."""
  flow, source = _flow(model_dir)
  spec = tf.TensorSpec([None, *flow.image_shape], tf.float32)
  in_process = tf.function(flow.log_prob, input_signature=[spec])
  with tempfile.TemporaryDirectory() as tmp:
    path = serving.export_saved_model(flow, f"{tmp}/flow/1")
    signature = tf.saved_model.load(path).signatures["log_prob"]
    results, rounds = {}, {}
    for batch in BATCHES:
      images = tf.random.stateless_uniform(
          [batch, *flow.image_shape], seed=[batch, 0], maxval=256.0)
      cases = {
          "exported": (lambda x: signature(images=x)["log_prob"],
                       lambda x=images: (x,), batch, None),
          "in-process": (in_process, lambda x=images: (x,), batch, None),
          "eager": (flow.log_prob, lambda x=images: (x,), batch, None),
      }
      results[batch], rounds[batch] = benchmark.time_interleaved(
          cases, settings)
      log(f"batch {batch}: " + ", ".join(
          f"{name} {entry['images_per_second']:.1f} img/s"
          for name, entry in results[batch].items()))
  return results, rounds, source


def format_report(results, rounds, source, command):
  """The markdown section of `--write`."""
  low, high = min(rounds.values()), max(rounds.values())
  counts = str(low) if low == high else f"{low} to {high}"
  lines = [
      "## Export: `log_prob` through the SavedModel vs in-process",
      "",
      f"`{command}` on {datetime.date.today().isoformat()}, "
      f"{benchmark.cpu_model()}; model: 28x28x1, 2 scales, 32 channels, "
      f"2 residual blocks ({source}). Images/s, median of {counts} "
      "interleaved rounds per batch size.",
      "",
      "| batch | exported | in-process `tf.function` | eager | "
      "exported / in-process | exported / eager |",
      "|---:|---:|---:|---:|---:|---:|",
  ]
  for batch, cases in results.items():
    ips = {name: entry["images_per_second"] for name, entry in cases.items()}
    lines.append(
        f"| {batch} | {ips['exported']:.1f} | {ips['in-process']:.1f} | "
        f"{ips['eager']:.1f} | {ips['exported'] / ips['in-process']:.2f}x | "
        f"{ips['exported'] / ips['eager']:.2f}x |")
  lines += [
      "",
      "The exported signature also checks every request (shape, finite "
      "pixels in [0, 256)); the in-process function does not.",
  ]
  return "\n".join(lines) + "\n"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model-dir", default=None,
                      help="a training run to export (default: a fresh "
                           "model of the quickstart's size)")
  parser.add_argument("--write", metavar="PATH",
                      help="write the report into PATH between this "
                           "benchmark's markers")
  args = parser.parse_args(argv)
  settings = benchmark.Settings(reps=9, min_reps=5, round_budget_seconds=60)
  results, rounds, source = run(settings, args.model_dir)
  command = benchmark.command_line(__file__, argv)
  report = format_report(results, rounds, source, command)
  benchmark.publish(report, args.write, MARK)


if __name__ == "__main__":
  main()
