"""Two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy."""

import contextlib
import dataclasses
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfnvp import data
from tfnvp import FlowModel
from tfnvp import runs
import tfnvp
from tfnvp.training import checkpoints
from tfnvp.training import config as config_lib
from tfnvp.training import lock
from tfnvp.training import train as train_lib
from tfnvp.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]
_OPTIMIZATION = tfnvp.OptimizationConfig(batch_size=16)
_RUN = dict(
    dataset="mnist", epochs=1, steps_per_epoch=3, checkpoint_every=3,
    num_train_examples=512, num_eval_examples=64, strategy="multi_worker")
# Glow's actnorms initialize from the first (global) batch on every worker;
# its run is class-conditional with the hybrid loss (labels sharded with
# their images) and keeps a Polyak average of the weights too. Real NVP has
# one scale: its 4 couplings trace in less than half the time of two
# scales' 10.
CONFIGS = {
    "realnvp": TrainConfig(
        model=tfnvp.RealNVPConfig(image_shape=(28, 28, 1), num_scales=1,
                                  hidden_channels=8, num_res_blocks=1),
        optimization=_OPTIMIZATION, **_RUN),
    "glow": TrainConfig(
        model=tfnvp.GlowConfig(image_shape=(28, 28, 1), hidden_channels=8,
                               depth=1, num_classes=10),
        optimization=dataclasses.replace(_OPTIMIZATION, ema_decay=0.9,
                                         classification_weight=0.01),
        **_RUN),
}
TIMEOUT_SECONDS = 420
# `tfnvp-train` flags of a two-worker run to lose a worker in: CONFIGS's Real
# NVP, more steps than the test waits for.
LOST_WORKER_RUN = [
    "--dataset", "mnist", "--num-scales", "1", "--hidden-channels", "8",
    "--num-res-blocks", "1", "--batch-size", "16", "--num-train-examples",
    "512", "--num-eval-examples", "64", "--epochs", "1", "--steps-per-epoch",
    "100000", "--strategy", "multi_worker",
    "--verbose", "0"]
# The connection to a killed worker 0 is reset at once; a killed worker 1 is
# declared lost after 10 s without heartbeats, and the chief's exit then
# waits up to 10 s for it at TF's shutdown barrier.
LOST_WORKER_EXIT_SECONDS = 60


class FirstLoss(keras.callbacks.Callback):
  """Keeps the logged loss of the first step on `model.first_loss`."""

  def on_train_batch_end(self, batch, logs=None):
    if not hasattr(self.model, "first_loss"):
      self.model.first_loss = float(logs["loss"])


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


@contextlib.contextmanager
def _two_workers(tmp_path, command):
  """Runs `python -m <command(worker)>` as the two workers of a cluster on
  127.0.0.1, each with its TF_CONFIG and its output in
  `tmp_path/worker-<worker>.out` and `.err`; yields the processes and the
  workers' addresses and, on leaving, kills those still running (SIGKILL:
  in a multi-worker run TF's preemption notifier catches SIGTERM)."""
  addresses = [f"127.0.0.1:{port}" for port in _free_ports(2)]
  processes, files = [], []
  try:
    for worker in range(2):
      env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2",
                 TF_CONFIG=json.dumps(
                     {"cluster": {"worker": addresses},
                      "task": {"type": "worker", "index": worker}}))
      out, err = (open(tmp_path / f"worker-{worker}.{kind}", "w",  # pylint: disable=consider-using-with
                       encoding="utf-8") for kind in ("out", "err"))
      files += [out, err]
      processes.append(subprocess.Popen(
          [sys.executable, "-m", *command(worker)], cwd=REPO, env=env,
          stdout=out, stderr=err))
    yield processes, addresses
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
        process.wait()
    for file in files:
      file.close()


def _log(tmp_path, worker):
  return "".join((tmp_path / f"worker-{worker}.{kind}").read_text()
                 for kind in ("out", "err"))


def _logs(tmp_path):
  return [_log(tmp_path, worker) for worker in range(2)]


def _reference_first_loss(config, data_dir):
  """One device, the same initial weights and the same global batch."""
  keras.utils.set_random_seed(config.seed)
  model = FlowModel(config.model.make_flow(),
                    **config.optimization.model_kwargs())
  labelled = config.model.num_classes is not None
  halves = []
  for worker in range(2):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=worker,
        num_replicas_in_sync=2)
    dataset = data.make_dataset(
        config.dataset, "train", config.optimization.batch_size, training=True,
        data_dir=data_dir, seed=config.seed, input_context=context,
        num_examples=config.num_train_examples, labels=labelled)
    # Under a strategy Keras's `fit` first iterates the dataset once to
    # build the model, then trains on a new iterator; a seeded stream with
    # per-iteration reshuffling makes that the dataset's second iteration.
    next(iter(dataset))
    halves.append(next(iter(dataset)))
  if not labelled:
    images = tf.concat(halves, axis=0)
    assert images.shape[0] == config.optimization.batch_size
    return float(-tf.reduce_mean(model(images, training=True))), len(
        model.weights)
  images, labels = (tf.concat(parts, axis=0) for parts in zip(*halves))
  assert images.shape[0] == config.optimization.batch_size
  # The hybrid loss of tfnvp.FlowModel, from the library's distributions.
  flow = model.flow.copy(training=True)
  classes = tf.gather(flow.classify(images), labels, batch_dims=1)
  loss = -flow.given(labels).log_prob(images) - (
      config.optimization.classification_weight * 28 * 28 * classes)
  return float(tf.reduce_mean(loss)), len(model.weights)


# Real NVP's run is slow: Glow's (class-conditional, Polyak-averaged) runs
# the same two-worker step in the default suite.
@pytest.mark.parametrize("model", [
    pytest.param("realnvp", marks=pytest.mark.slow), "glow"])
def test_two_workers_agree_with_each_other_and_with_one_device(
    model, data_dir, tmp_path):
  with _two_workers(tmp_path, lambda worker: [
      "tests.training.multi_worker_runner", model, str(tmp_path / "run"),
      data_dir, str(tmp_path / f"w{worker}.npz")]) as (processes, _):
    for process in processes:
      # A worker whose peer died waits forever and ignores SIGTERM.
      process.wait(timeout=TIMEOUT_SECONDS)
  for process, text in zip(processes, _logs(tmp_path)):
    assert process.returncode == 0, text[-3000:]

  results = [np.load(tmp_path / f"w{i}.npz") for i in range(2)]
  weights = [[r[f"arr_{k}"] for k in range(len(r.files) - 2)]
             for r in results]
  want, num_weights = _reference_first_loss(CONFIGS[model], data_dir)
  assert len(weights[0]) == len(weights[1]) == num_weights
  for a, b in zip(*weights):
    np.testing.assert_array_equal(a, b)
  # The average (Glow's run) took every step, the same on both workers.
  steps = CONFIGS[model].steps_per_epoch if CONFIGS[model].optimization.ema_decay else -1
  assert [int(r["ema_count"]) for r in results] == [steps, steps]

  # Float noise is ~1e-7 of the loss; Glow actnorms initialized from each
  # worker's own half of the batch instead of the global batch move it by
  # ~7e-6 (their mean-aggregated variables still agree across workers).
  for result in results:
    np.testing.assert_allclose(result["first_loss"], want, rtol=1e-6)
  # Only the chief (worker 0) keeps checkpoints, config and samples.
  run = tmp_path / "run"
  assert (run / "checkpoints" / "ckpt-3.index").exists()
  assert (run / "config.json").exists() and (run / "samples.png").exists()
  assert not list((run / "checkpoints").glob(".worker-*"))


@pytest.mark.slow
def test_sigterm_to_one_worker_stops_both_after_the_same_step(data_dir,
                                                             tmp_path):
  """Worker 1 (not the chief) gets SIGTERM a random time after the first
  checkpoint: both workers stop after the same step, the chief writing its
  one checkpoint, and exit with 143."""
  run = tmp_path / "run"
  index = run / "checkpoints" / "checkpoint"
  flags = ["--dataset", "mnist", "--num-scales", "1", "--hidden-channels",
           "8", "--num-res-blocks", "1", "--batch-size", "16",
           "--num-train-examples", "512", "--num-eval-examples", "64",
           "--epochs", "1", "--steps-per-epoch", "40", "--checkpoint-every",
           "4", "--bn-recalibration-batches", "2", "--strategy",
           "multi_worker", "--verbose", "0", "--data-dir", data_dir,
           "--model-dir", str(run)]
  delay = random.uniform(0.0, 1.0)
  with _two_workers(tmp_path, lambda worker: [
      "tfnvp.training.train", *flags]) as (processes, _):
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while (time.monotonic() < deadline and
           all(process.poll() is None for process in processes) and
           not (index.exists() and "ckpt-4" in index.read_text())):
      time.sleep(0.02)
    time.sleep(delay)
    processes[1].send_signal(signal.SIGTERM)
    for process in processes:
      process.wait(timeout=TIMEOUT_SECONDS)
  logs = _logs(tmp_path)
  context = f"SIGTERM {delay:.2f} s after ckpt-4:\n" + "\n".join(
      text[-2000:] for text in logs)
  assert [process.returncode for process in processes] == [143, 143], (
      context)
  lines = [[line for line in text.splitlines() if line.startswith("Stopped")]
           for text in logs]
  steps = [re.fullmatch(r"Stopped by SIGTERM( to another worker)? after step "
                        r"(\d+) of 40; checkpoint (\S+)\. Rerun the same "
                        r"command to resume\.", found[0]) if len(found) == 1
           else None for found in lines]
  assert all(steps), context
  assert [bool(m.group(1)) for m in steps] == [True, False], context
  step = int(steps[0].group(2))
  assert int(steps[1].group(2)) == step and 4 < step < 40, context
  path = str(run / "checkpoints" / f"ckpt-{step}")
  assert steps[0].group(3) == steps[1].group(3) == path, context
  assert runs.checkpoint_paths(str(run))[0] == path
  runs.verify_checkpoint(path)
  assert tf.train.load_checkpoint(path).get_tensor(
      "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == step
  assert not list((run / "checkpoints").glob(".worker-*"))


def _seed_run(model_dir, argv):
  """A run folder of `tfnvp-train argv` holding its step-0 checkpoint."""
  config = train_lib.config_from_args(train_lib.build_parser().parse_args(
      [*argv, "--model-dir", model_dir]))
  model = FlowModel(config.model.make_flow(),
                    **config.optimization.model_kwargs())
  model.compile(optimizer=config.optimization.make_optimizer(1))
  model.optimizer.build(model.trainable_variables)
  config_lib.save_config(dataclasses.replace(config, model=model.flow_config),
                         model_dir)
  return checkpoints.Checkpointer(model, model_dir).save()


def test_a_lost_worker_stops_the_other_in_one_line_naming_it_and_the_checkpoint(  # pylint: disable=line-too-long
    data_dir, tmp_path):
  """The chief dies as a resumed run starts training; worker 1 stops."""
  run = tmp_path / "run"
  argv = [*LOST_WORKER_RUN, "--data-dir", data_dir]
  newest = _seed_run(str(run), argv)
  with _two_workers(tmp_path, lambda worker: [
      "tfnvp.training.train", *argv, "--model-dir", str(run)]) as (
          processes, addresses):
    chief, survivor = processes
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while "Resuming from" not in (tmp_path / "worker-0.out").read_text():
      assert chief.poll() is None and survivor.poll() is None, _log(
          tmp_path, 0) + _log(tmp_path, 1)
      assert time.monotonic() < deadline
      time.sleep(0.02)
    # Only the chief holds the run folder.
    assert json.loads((run / "run.lock").read_text())["pid"] == chief.pid
    chief.kill()
    killed = time.monotonic()
    survivor.wait(timeout=LOST_WORKER_EXIT_SECONDS)
    print(f"worker 1 exited {time.monotonic() - killed:.1f} s after the kill")
  err = (tmp_path / "worker-1.err").read_text()
  assert survivor.returncode == 1, err
  assert "Traceback" not in err, err
  line = (f"error: Lost worker 0 ({addresses[0]}) of the cluster in TF_CONFIG "
          "(crashed, killed or unreachable). The newest checkpoint is "
          f"{newest}: rerun every worker with the same command to resume "
          "from it.")
  # TF's own log lines (TF_CPP_MIN_LOG_LEVEL) come before it.
  lines = err.splitlines()
  assert lines[-1] == line, err
  assert [text for text in lines if text.startswith("error")] == [line], err
  # The killed chief's lock file stays, for the next run to take over.
  assert json.loads((run / "run.lock").read_text())["pid"] == chief.pid


def test_a_held_folder_refuses_every_worker_in_one_line(data_dir, tmp_path):
  run = tmp_path / "run"
  with lock.RunLock(str(run)):
    with _two_workers(tmp_path, lambda worker: [
        "tfnvp.training.train", *LOST_WORKER_RUN, "--data-dir", data_dir,
        "--model-dir", str(run)]) as (processes, _):
      for process in processes:
        process.wait(timeout=TIMEOUT_SECONDS)
    assert [p.name for p in run.iterdir()] == [lock.LOCK_FILE]
  prefix = f"tfnvp-train: error: --model-dir='{run}' is in use by another run"
  for index, why in enumerate([f": PID {os.getpid()} on host ",
                               ": the chief was refused its lock"]):
    err = (tmp_path / f"worker-{index}.err").read_text()
    assert processes[index].returncode == 2, err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert [line for line in lines if line.startswith("tfnvp-train:")] == [
        lines[-1]], err
    assert lines[-1].startswith(prefix + why), err
