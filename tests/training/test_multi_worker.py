"""Two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfnvp import data
from tfnvp import FlowModel
import tfnvp
from tfnvp.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]
_OPTIMIZATION = tfnvp.OptimizationConfig(batch_size=16)
_RUN = dict(
    dataset="mnist", epochs=1, steps_per_epoch=3, checkpoint_every=3,
    num_train_examples=512, num_eval_examples=64, strategy="multi_worker")
# Glow's actnorms initialize from the first (global) batch on every worker;
# its run keeps a Polyak average of the weights too. Real NVP has one scale:
# its 4 couplings trace in less than half the time of two scales' 10.
CONFIGS = {
    "realnvp": TrainConfig(
        model=tfnvp.RealNVPConfig(image_shape=(28, 28, 1), num_scales=1,
                                  hidden_channels=8, num_res_blocks=1),
        optimization=_OPTIMIZATION, **_RUN),
    "glow": TrainConfig(
        model=tfnvp.GlowConfig(image_shape=(28, 28, 1), hidden_channels=8,
                               depth=1),
        optimization=dataclasses.replace(_OPTIMIZATION, ema_decay=0.9),
        **_RUN),
}
TIMEOUT_SECONDS = 420


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


def _reference_first_loss(config, data_dir):
  """One device, the same initial weights and the same global batch."""
  keras.utils.set_random_seed(config.seed)
  model = FlowModel(config.model.make_flow(),
                    clip_norm=config.optimization.clip_norm,
                    ema_decay=config.optimization.ema_decay)
  halves = []
  for worker in range(2):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=worker,
        num_replicas_in_sync=2)
    dataset = data.make_dataset(
        config.dataset, "train", config.optimization.batch_size, training=True,
        data_dir=data_dir, seed=config.seed, input_context=context,
        num_examples=config.num_train_examples)
    # Under a strategy Keras's `fit` first iterates the dataset once to
    # build the model, then trains on a new iterator; a seeded stream with
    # per-iteration reshuffling makes that the dataset's second iteration.
    next(iter(dataset))
    halves.append(next(iter(dataset)))
  images = tf.concat(halves, axis=0)
  assert images.shape[0] == config.optimization.batch_size
  return float(-tf.reduce_mean(model(images, training=True))), len(
      model.weights)


@pytest.mark.parametrize("model", sorted(CONFIGS))
def test_two_workers_agree_with_each_other_and_with_one_device(
    model, data_dir, tmp_path):
  ports = _free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
  processes = []
  for index in range(2):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2",
               TF_CONFIG=json.dumps(
                   {"cluster": cluster,
                    "task": {"type": "worker", "index": index}}))
    log = open(tmp_path / f"worker-{index}.log", "w", encoding="utf-8")  # pylint: disable=consider-using-with
    processes.append((subprocess.Popen(
        [sys.executable, "-m", "tests.training.multi_worker_runner", model,
         str(tmp_path / "run"), data_dir, str(tmp_path / f"w{index}.npz")],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), log))
  try:
    for process, _ in processes:
      # A worker whose peer died waits forever and ignores SIGTERM.
      process.wait(timeout=TIMEOUT_SECONDS)
  finally:
    for process, log in processes:
      if process.poll() is None:
        process.kill()
        process.wait()
      log.close()
  logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(2)]
  for (process, _), text in zip(processes, logs):
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
