"""Training step time: one process against two workers on 127.0.0.1.

Trains the same Real NVP on MNIST with the same global batch, by
`training.train.train`, in three set-ups:

* `default`: one process, TF's default strategy;
* `1 worker`: `MultiWorkerMirroredStrategy` over a cluster of one worker;
* `2 workers`: two worker processes on 127.0.0.1, half the batch each.

Each set-up runs in fresh subprocesses; a Keras callback on worker 0 times
every optimizer step (`on_train_batch_begin` to `on_train_batch_end`, which
waits for the step's result). The median step time after `--warmup` steps
(tracing, the input pipeline's start) and the images per second it implies
are printed as a Markdown table.

Usage (from the repository root; data from $TFNVP_RAW_DATA_DIR, as for
`tfnvp-train`):

  TFNVP_RAW_DATA_DIR=../shared/data PYTHONPATH=. python \\
      bench/multi_worker_step_time.py --steps 60
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

__all__ = ["SETUPS", "main"]

SETUPS = {"default": 1, "1 worker": 1, "2 workers": 2}


def _worker(args):
  """One process of a set-up: trains, writes worker 0's step times."""
  # pylint: disable=g-import-not-at-top
  from tfnvp.training import strategies
  strategy = strategies.make_strategy(
      "default" if args.setup == "default" else "multi_worker")
  import keras
  import tfnvp
  from tfnvp.training import config as config_lib
  from tfnvp.training import train as train_lib

  times = []

  class StepTimer(keras.callbacks.Callback):

    def on_train_batch_begin(self, batch, logs=None):
      self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
      times.append(time.perf_counter() - self.start)

  config = config_lib.TrainConfig(
      dataset="mnist", epochs=1, steps_per_epoch=args.steps,
      checkpoint_every=args.steps, num_train_examples=args.batch_size * 8,
      num_eval_examples=args.batch_size,
      model=tfnvp.RealNVPConfig(
          image_shape=(28, 28, 1), num_scales=2,
          hidden_channels=args.hidden_channels, num_res_blocks=2),
      optimization=tfnvp.OptimizationConfig(batch_size=args.batch_size))
  train_lib.train(config, args.model_dir, strategy=strategy,
                  data_dir=args.data_dir, verbose=0,
                  extra_callbacks=[StepTimer()])
  if strategies.is_chief(strategy):
    with open(args.out, "w", encoding="utf-8") as f:
      json.dump(times, f)


def _run_setup(setup, args, folder):
  """Runs `setup`'s processes; returns worker 0's step times."""
  workers = SETUPS[setup]
  addresses = [f"127.0.0.1:{args.port + index}" for index in range(workers)]
  out = os.path.join(folder, "times.json")
  processes = []
  for index in range(workers):
    env = dict(os.environ)
    if setup != "default":
      env["TF_CONFIG"] = json.dumps(
          {"cluster": {"worker": addresses},
           "task": {"type": "worker", "index": index}})
    processes.append(subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--role", "worker",
         "--setup", setup, "--model-dir", os.path.join(folder, "run"),
         "--out", out, "--steps", str(args.steps),
         "--batch-size", str(args.batch_size),
         "--hidden-channels", str(args.hidden_channels),
         *(["--data-dir", args.data_dir] if args.data_dir else [])],
        env=env))
  for process in processes:
    if process.wait() != 0:
      raise RuntimeError(f"{setup}: a worker failed ({process.returncode})")
  with open(out, encoding="utf-8") as f:
    return json.load(f)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=60)
  parser.add_argument("--warmup", type=int, default=10)
  parser.add_argument("--batch-size", type=int, default=64,
                      help="global batch")
  parser.add_argument("--hidden-channels", type=int, default=32)
  parser.add_argument("--data-dir", default=None, help="TFDS data folder")
  parser.add_argument("--port", type=int, default=23456,
                      help="worker i listens on 127.0.0.1:PORT+i")
  parser.add_argument("--role", default="main", choices=("main", "worker"))
  parser.add_argument("--setup", choices=sorted(SETUPS))
  parser.add_argument("--model-dir")
  parser.add_argument("--out")
  args = parser.parse_args(argv)
  if args.role == "worker":
    _worker(args)
    return
  print(f"Real NVP, 2 scales, {args.hidden_channels} channels, 2 residual "
        f"blocks; global batch {args.batch_size}; median of steps "
        f"{args.warmup + 1}-{args.steps}.\n")
  print("| set-up | processes | step (ms) | images/s |")
  print("|---|---:|---:|---:|")
  for setup, workers in SETUPS.items():
    with tempfile.TemporaryDirectory() as folder:
      seconds = statistics.median(_run_setup(setup, args, folder)[
          args.warmup:])
    print(f"| {setup} | {workers} | {1000 * seconds:.0f} | "
          f"{args.batch_size / seconds:.0f} |", flush=True)


if __name__ == "__main__":
  main()
