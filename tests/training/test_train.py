"""The training command line on real MNIST: train, resume, evaluate, fail."""

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfnvp.training import checkpoints
from tfnvp.training import evaluate as evaluate_lib
from tfnvp.training import train as train_lib
from tfnvp import FlowModel
from tfnvp import ModelConfig
from tfnvp import runs

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--dataset", "mnist", "--hidden-channels", "8", "--num-res-blocks",
         "1", "--batch-size", "16", "--num-train-examples", "512",
         "--num-eval-examples", "256", "--verbose", "2"]


def _env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))


def _command(module, *args):
  return [sys.executable, "-m", module, *args]


def _run(module, *args, timeout=600):
  """Runs a command line to completion (killed after `timeout` seconds)."""
  result = subprocess.run(_command(module, *args), cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=timeout,
                          check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  return result.stdout


def _history(model_dir):
  with open(os.path.join(model_dir, "history.csv"), encoding="utf-8") as f:
    return list(csv.DictReader(f))


def _weights(model_dir):
  """The flow's variables in the newest checkpoint: `[(path, value)]`.

  Paths carry Keras's per-process layer counters; compare by position.
  """
  model = runs.load_run(model_dir).model
  return [(v.path, np.asarray(v)) for v in model.flow_layers.weights]


def _kill_after_checkpoint(args, model_dir, step, timeout=600):
  """Starts a run and SIGKILLs it once checkpoint `step` is the latest."""
  index = Path(model_dir) / "checkpoints" / "checkpoint"
  process = subprocess.Popen(_command("training.train", *args), cwd=REPO,
                             env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + timeout
  try:
    while time.monotonic() < deadline and process.poll() is None:
      if index.exists() and f"ckpt-{step}" in index.read_text():
        break
      time.sleep(0.02)
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
  assert index.exists(), "the run died before its first checkpoint"


def test_train_resume_after_kill_and_evaluate(data_dir, tmp_path):
  """A killed run resumes and ends with the weights of an uninterrupted one.

  Also: validation bits/dim drops, `training.evaluate` reproduces the last
  validation number, and the run writes its config, logs and sample grids.
  """
  common = SMALL + ["--data-dir", data_dir, "--epochs", "2",
                    "--steps-per-epoch", "8", "--checkpoint-every", "4"]
  whole, killed = str(tmp_path / "whole"), str(tmp_path / "killed")
  _run("training.train", *common, "--model-dir", whole)

  history = _history(whole)
  assert [row["epoch"] for row in history] == ["0", "1"]
  first, last = (float(row["val_bits_per_dim"]) for row in history)
  assert last < first - 0.2, history
  for name in ("config.json", "samples.png", "samples/epoch-0002.png"):
    assert os.path.exists(os.path.join(whole, name)), name
  assert any(Path(whole, "logs").rglob("events.out.tfevents.*"))
  grid = tf.io.decode_png(tf.io.read_file(os.path.join(whole, "samples.png")))
  assert grid.shape == (8 * 28, 8 * 28, 1)

  _kill_after_checkpoint(common + ["--model-dir", killed], killed, step=4)
  resumed_from = runs.checkpoint_paths(killed)[0]
  assert resumed_from.endswith(("ckpt-4", "ckpt-8")), resumed_from
  out = _run("training.train", *common, "--model-dir", killed)
  assert f"Resuming from {resumed_from}" in out

  final = runs.checkpoint_paths(whole)[0]
  assert final.endswith("ckpt-16")
  assert runs.checkpoint_paths(killed)[0].endswith("ckpt-16")
  want, got = _weights(whole), _weights(killed)
  assert len(want) == len(got) == 270
  for (name, value), (_, resumed) in zip(want, got):
    np.testing.assert_allclose(resumed, value, rtol=1e-5, atol=1e-6,
                               err_msg=name)

  out = _run("training.evaluate", "--model-dir", whole, "--data-dir",
             data_dir, "--num-examples", "256")
  line = [l for l in out.splitlines() if l.startswith("test bits/dim: ")]
  assert len(line) == 1, out
  np.testing.assert_allclose(float(line[0].split(": ")[1]), last, rtol=1e-4)


def test_a_resumed_stream_under_a_strategy_starts_at_the_next_global_step(
    mirrored_strategy):
  """`skip_steps` counts global steps: one per-replica batch per replica."""
  config = ModelConfig(image_shape=(8, 8, 1), hidden_channels=4,
                       num_res_blocks=1)
  batches = tf.random.stateless_uniform([6, 4, 8, 8, 1], [3, 4], 0.0, 256.0)
  with mirrored_strategy.scope():
    model = FlowModel(config.make_flow())
    model.compile(optimizer=keras.optimizers.SGD(0.0))
  dataset = train_lib.distributed_dataset(
      mirrored_strategy,
      lambda ctx: tf.data.Dataset.from_tensor_slices(batches).skip(2),
      skip_steps=1)
  history = model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
  single = FlowModel(config.make_flow())
  for a, b in zip(single.weights, model.weights):
    a.assign(b)
  want = -np.mean(single(tf.concat([batches[4], batches[5]], 0),
                         training=True))
  np.testing.assert_allclose(history.history["loss"][0], want, rtol=1e-5)


class _BlowUpWeightAfterStep(keras.callbacks.Callback):
  """Sets one weight-norm scale to 1e30 after a step: the next step diverges."""

  def __init__(self, step):
    super().__init__()
    self.step = step

  def on_train_batch_end(self, batch, logs=None):
    if int(self.model.optimizer.iterations) == self.step:
      variable = next(v for v in self.model.trainable_variables
                      if v.path.endswith("/g"))
      variable.assign(tf.fill(variable.shape, 1e30))


def test_a_diverging_step_stops_with_a_clear_error_and_intact_checkpoint(
    data_dir, tmp_path):
  args = train_lib.build_parser().parse_args(
      SMALL + ["--model-dir", str(tmp_path), "--epochs", "1",
               "--steps-per-epoch", "6", "--checkpoint-every", "2"])
  config = train_lib.config_from_args(args)
  with pytest.raises(train_lib.TrainingFailedError,
                     match=r"(?s)Training diverged.*step.*intact"):
    train_lib.train(config, str(tmp_path), data_dir=data_dir, verbose=0,
                    extra_callbacks=[_BlowUpWeightAfterStep(2)])
  latest = runs.checkpoint_paths(str(tmp_path))[0]
  assert latest.endswith("ckpt-2"), latest
  saved = _weights(str(tmp_path))
  assert all(np.all(np.isfinite(value)) for _, value in saved)
  assert max(np.abs(v).max() for k, v in saved
             if k.endswith("/g")) < 1e3, "the checkpoint predates the blow-up"


@pytest.mark.parametrize("flags, message", [
    (["--dataset", "mnist_typo"], r"Unknown dataset name='mnist_typo'"),
    (["--num-scales", "4"], r"`num_scales`=4 is too deep.*\(28, 28, 1\)"),
    (["--batch-size", "0"], r"`batch_size` must be a positive int; got 0"),
    (["--raw-data-dir", "/nonexistent/raw"], r"/nonexistent/raw.*does not exist"),
    (["--jit-compile", "--strategy", "mirrored"],
     r"`jit_compile` \(XLA\) is for strategy 'default'; got strategy='mirrored'"),
    (["--model", "glow", "--num-scales", "3"],
     r"`num_levels`=3 is too deep for `image_shape`=\(28, 28, 1\)"),
    (["--model", "glow", "--depth", "0"], r"`depth` must be an int >= 1; got 0"),
])
def test_bad_flags_exit_with_a_message_naming_the_value(flags, message,
                                                        tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    train_lib.main(["--model-dir", str(tmp_path / "run"), "--data-dir",
                    str(tmp_path / "tfds"), *flags])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert "error:" in err
  assert re.search(message, err), err


def test_evaluate_without_a_checkpoint_says_so(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    evaluate_lib.main(["--model-dir", str(tmp_path)])
  assert exit_info.value.code == 2
  assert "No training run in --model-dir" in capsys.readouterr().err


def test_glow_trains_on_real_mnist_then_evaluates_and_exports(data_dir,
                                                              tmp_path):
  """`--model glow` through the same command lines as Real NVP."""
  model_dir = str(tmp_path / "glow")
  _run("training.train", "--model", "glow", "--dataset", "mnist",
       "--hidden-channels", "16", "--depth", "2", "--batch-size", "16",
       "--num-train-examples", "512", "--num-eval-examples", "256",
       "--epochs", "2", "--steps-per-epoch", "12", "--checkpoint-every", "12",
       "--learning-rate", "3e-3", "--data-dir", data_dir,
       "--model-dir", model_dir, "--verbose", "2")
  history = _history(model_dir)
  first, last = (float(row["val_bits_per_dim"]) for row in history)
  assert last < first - 0.2, history
  run = runs.load_run(model_dir)
  model, config = run.model, run.config
  assert config["model"]["name"] == "glow" and config["model"]["depth"] == 2
  flags = [v for v in model.flow_layers.weights
           if v.path.endswith("initialized")]
  assert flags and all(float(v) == 1.0 for v in flags)
  out = _run("training.evaluate", "--model-dir", model_dir, "--data-dir",
             data_dir, "--num-examples", "256")
  assert abs(float(out.split("test bits/dim:")[1]) - last) < 1e-3
  out = _run("export.export", "--model-dir", model_dir, "--output",
             str(tmp_path / "models" / "glow" / "1"))
  loaded = tf.saved_model.load(str(tmp_path / "models" / "glow" / "1"))
  images = tf.random.stateless_uniform([3, 28, 28, 1], [1, 2], 0.0, 256.0)
  np.testing.assert_allclose(
      loaded.signatures["log_prob"](images=images)["log_prob"],
      model.flow.log_prob(images), rtol=1e-5)
