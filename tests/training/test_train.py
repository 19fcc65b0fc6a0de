"""The training command line on real MNIST: train, resume, evaluate, fail."""

import argparse
import concurrent.futures
import csv
import dataclasses
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tfnvp import FlowModel
from tfnvp import runs
from tfnvp.export import export as export_lib
from tests.cli import cli_error
from tests.training.summaries import summaries
from tfnvp.training import config as config_lib
from tfnvp.training import evaluate as evaluate_lib
from tfnvp.training import train as train_lib

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--dataset", "mnist", "--hidden-channels", "8", "--num-res-blocks",
         "1", "--batch-size", "16", "--num-train-examples", "512",
         "--num-eval-examples", "256", "--verbose", "2"]
# For runs whose assertions do not depend on the depth: one scale's 4
# couplings trace in less than half the time of two scales' 10.
ONE_SCALE = ["--num-scales", "1"]


SMALL_MODEL = tfnvp.RealNVPConfig(image_shape=(28, 28, 1), num_scales=2,
                                  hidden_channels=4, num_res_blocks=1)


# The run of `mnist_run` and of the killed run that resumes to it. A
# constant rate: 16 steps of a cosine decay barely move a tiny model.
RESUMABLE = SMALL + ["--epochs", "2", "--steps-per-epoch", "8",
                     "--checkpoint-every", "4", "--lr-schedule", "constant"]


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


def _newest_step(model_dir):
  """The step of the newest checkpoint in the index, or -1 for none."""
  paths = runs.checkpoint_paths(model_dir)
  return int(paths[0].rsplit("-", 1)[1]) if paths else -1


def _start_and_wait(args, model_dir, until, log, timeout):
  """Starts `tfnvp-train args` (output to `log`) and waits until
  `until(newest checkpoint step)` or its end; returns the process."""
  with open(log, "w", encoding="utf-8") as out:
    process = subprocess.Popen(_command("tfnvp.training.train", *args),
                               cwd=REPO, env=_env(), stdout=out,
                               stderr=subprocess.STDOUT)
  deadline = time.monotonic() + timeout
  while (time.monotonic() < deadline and process.poll() is None and
         not until(_newest_step(model_dir))):
    time.sleep(0.02)
  return process


def _interrupt_and_resume(args, model_dir, timeout=600):
  """Runs `tfnvp-train args` in subprocesses three times: SIGTERM once its
  first checkpoint (step 4) is written, after a random delay of under a
  second; SIGKILL once the rerun has saved a newer checkpoint than the one
  it resumed from; then to completion.

  Returns:
    A `dict`: `delay` (seconds), `status` and `output` of the run sent
    SIGTERM, `stopped_at` (its newest checkpoint when it had exited) and
    `stopped_iterations` (the optimizer step saved in it),
    `resumed` (the output of the rerun), `killed_at` (the newest checkpoint
    when it was killed) and `out` (the standard output of the last run).
  """
  result = dict(delay=random.uniform(0.0, 1.0))
  log = Path(model_dir).parent / "train.log"
  process = _start_and_wait(args, model_dir, lambda step: step >= 4, log,
                            timeout)
  try:
    time.sleep(result["delay"])
    process.send_signal(signal.SIGTERM)
    result["status"] = process.wait(timeout=timeout)
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()
  result["output"] = log.read_text()
  assert _newest_step(model_dir) >= 4, result["output"][-3000:]
  result["stopped_at"] = runs.checkpoint_paths(model_dir)[0]
  # Read now: the checkpoints after it replace it.
  result["stopped_iterations"] = tf.train.load_checkpoint(
      result["stopped_at"]).get_tensor(
          "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")
  stopped = _newest_step(model_dir)
  process = _start_and_wait(args, model_dir, lambda step: step > stopped, log,
                            timeout)
  process.send_signal(signal.SIGKILL)
  process.wait(timeout=60)
  result["resumed"] = log.read_text()
  result["killed_at"] = runs.checkpoint_paths(model_dir)[0]
  result["out"] = _run("tfnvp.training.train", *args, timeout=timeout)
  return result


def _copy_run(model_dir, tmp_path):
  """A copy of the run folder `model_dir`, for a test that changes it."""
  return shutil.copytree(model_dir, str(tmp_path / "run"))


@pytest.fixture(scope="module")
def resumed_run(data_dir, tmp_path_factory):
  """The run of `mnist_run`, stopped by SIGTERM, killed and resumed, by
  `tfnvp-train` subprocesses: `(model_dir, future)`, the future of
  `_interrupt_and_resume`'s result.

  They run in a thread from the start, so that they train while
  `mnist_run` trains in process if the test asks for this fixture first.
  """
  model_dir = str(tmp_path_factory.mktemp("interrupted") / "run")
  with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
    yield model_dir, executor.submit(
        _interrupt_and_resume,
        RESUMABLE + ["--data-dir", data_dir, "--model-dir", model_dir],
        model_dir)


@pytest.fixture(scope="module")
def mnist_run(data_dir, tmp_path_factory):
  """A finished 16-step run of `tfnvp-train` on real MNIST (in process), for
  the tests that read it; a test that trains on must use `_copy_run`."""
  model_dir = str(tmp_path_factory.mktemp("mnist") / "run")
  assert train_lib.main(RESUMABLE + ["--data-dir", data_dir, "--model-dir",
                                     model_dir]) == 0
  return model_dir


def _assert_same_weights(run_dir, reference_dir):
  want, got = _weights(reference_dir), _weights(run_dir)
  assert len(want) == len(got) == 270
  for (name, value), (_, resumed) in zip(want, got):
    np.testing.assert_allclose(resumed, value, rtol=1e-5, atol=1e-6,
                               err_msg=name)


def _assert_same_history(run_dir, reference_dir):
  """The same epochs, once each, with the same figures but the wall
  time."""
  want, got = _history(reference_dir), _history(run_dir)
  assert [row["epoch"] for row in got] == ["0", "1"], got
  assert list(got[0]) == list(want[0])
  for expected, row in zip(want, got):
    for column in row:
      if column != "elapsed_seconds":
        np.testing.assert_allclose(float(row[column]), float(expected[column]),
                                   rtol=1e-5, err_msg=column)


def test_a_stopped_and_killed_run_resumes_to_an_uninterrupted_one(
    resumed_run, mnist_run):
  """The same weights, and the same history: each epoch once, the epoch
  that was interrupted averaged over all its steps. (The first test of the
  file: `resumed_run`'s subprocesses train while `mnist_run` does.)"""
  killed, future = resumed_run
  result = future.result()
  killed_at = result["killed_at"]
  assert f"Resuming from {killed_at}" in result["out"]
  assert runs.checkpoint_paths(mnist_run)[0].endswith("ckpt-16")
  assert runs.checkpoint_paths(killed)[0].endswith("ckpt-16")
  _assert_same_weights(killed, mnist_run)
  _assert_same_history(killed, mnist_run)
  seconds = [float(row["elapsed_seconds"]) for row in _history(killed)]
  assert 0 < seconds[0] < seconds[1]


def test_sigterm_stops_after_a_step_with_its_checkpoint_and_status_143(
    resumed_run):
  """A random step after the first checkpoint; the rerun resumes from it."""
  _, future = resumed_run
  result = future.result()
  context = f"SIGTERM {result['delay']:.2f} s after ckpt-4: " + result[
      "output"][-3000:]
  assert result["status"] == 143, context
  lines = [line for line in result["output"].splitlines()
           if line.startswith("Stopped by")]
  assert len(lines) == 1, context
  match = re.fullmatch(r"Stopped by SIGTERM after step (\d+) of 16; "
                       r"checkpoint (\S+/ckpt-(\d+))\. Rerun the same "
                       r"command to resume\.", lines[0])
  assert match and match.group(1) == match.group(3), context
  step, path = int(match.group(1)), match.group(2)
  assert 4 < step < 16, context
  assert result["stopped_at"] == path, context
  assert result["stopped_iterations"] == step, context
  assert f"Resuming from {path} (step {step} of 16)." in result["resumed"]


def test_a_run_lowers_validation_bits_per_dim_and_writes_its_folder(
    mnist_run):
  """Validation bits/dim drops; the run writes its config, logs and sample
  grids."""
  history = _history(mnist_run)
  assert [row["epoch"] for row in history] == ["0", "1"]
  first, last = (float(row["val_bits_per_dim"]) for row in history)
  # With the moving statistics re-estimated before each validation, the
  # first epoch's figure no longer carries their lag: it drops ~0.11 here.
  assert last < first - 0.05, history
  for name in ("config.json", "samples.png", "samples/epoch-0002.png"):
    assert os.path.exists(os.path.join(mnist_run, name)), name
  assert any(Path(mnist_run, "logs").rglob("events.out.tfevents.*"))
  grid = tf.io.decode_png(tf.io.read_file(os.path.join(mnist_run,
                                                       "samples.png")))
  assert grid.shape == (8 * 28, 8 * 28, 1)


def test_evaluate_in_a_subprocess_reproduces_the_last_validation(mnist_run,
                                                                 data_dir):
  """`python -m tfnvp.training.evaluate` (the other command-line tests call
  `main` in process)."""
  last = float(_history(mnist_run)[-1]["val_bits_per_dim"])
  out = _run("tfnvp.training.evaluate", "--model-dir", mnist_run,
             "--data-dir", data_dir, "--num-examples", "256")
  line = [text for text in out.splitlines()
          if text.startswith("test bits/dim: ")]
  assert len(line) == 1, out
  np.testing.assert_allclose(float(line[0].split(": ")[1]), last, rtol=1e-4)


def test_a_resumed_stream_under_a_strategy_starts_at_the_next_global_step(
    mirrored_strategy):
  """`skip_steps` counts global steps: one per-replica batch per replica."""
  config = tfnvp.RealNVPConfig(image_shape=(8, 8, 1), num_scales=1,
                               hidden_channels=4, num_res_blocks=1)
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


@pytest.mark.parametrize("flags, message", [
    (["--dataset", "mnist_typo"], r"Unknown dataset name='mnist_typo'"),
    (["--num-scales", "4"], r"--num-scales=4 is too deep.*\(28, 28, 1\)"),
    (["--batch-size", "0"], r"--batch-size must be an int >= 1; got 0"),
    (["--raw-data-dir", "/nonexistent/raw"], r"/nonexistent/raw.*does not exist"),
    (["--jit-compile", "--strategy", "mirrored"],
     r"--jit-compile \(XLA\) is for strategy 'default'; got strategy='mirrored'"),
    (["--model", "glow", "--num-scales", "3"],
     r"--num-levels=3 is too deep for `image_shape`=\(28, 28, 1\)"),
    (["--model", "glow", "--num-levels", "3"],
     r"--num-levels=3 is too deep for `image_shape`=\(28, 28, 1\)"),
    (["--model", "glow", "--depth", "0"], r"--depth must be an int >= 1; got 0"),
    (["--model", "glow", "--num-res-blocks", "2"],
     r"--num-res-blocks is a field of RealNVP, not of Glow \(--model\)"),
    (["--preset", "glow-cifar10", "--model", "realnvp"],
     r"--model='realnvp' differs from the model of the preset "
     r"'glow-cifar10', 'glow'"),
    (["--conv1x1", "plain", "--lu-decomposed", "--model", "glow"],
     r"--conv1x1 plain contradicts --lu-decomposed True"),
    (["--conv1x1", "diagonal", "--model", "glow"],
     r"--conv1x1 must be one of \('lu', 'plain'\); got 'diagonal'"),
    (["--steps-per-epoch", "0"], r"--steps-per-epoch must be an int >= 1 or None; got 0"),
    (["--steps-per-epoch", "-3"], r"--steps-per-epoch .*got -3"),
    (["--epochs", "1.5"], r"--epochs: must be an int; got '1.5'"),
    (["--learning-rate", "inf"], r"--learning-rate must be a finite number > 0; got inf"),
    (["--learning-rate", "nan"], r"--learning-rate .*got nan"),
    (["--learning-rate", "0"], r"--learning-rate .*got 0.0"),
    (["--learning-rate=-1e-3"], r"--learning-rate .*got -0.001"),
    (["--sample-temperature", "0"], r"--sample-temperature .*> 0; got 0.0"),
    (["--sample-temperature", "inf"], r"--sample-temperature .*got inf"),
    (["--l2", "nan"], r"--l2 must be a finite number >= 0; got nan"),
    (["--clip-norm", "-1"], r"--clip-norm .*got -1.0"),
    (["--warmup-steps", "-5"], r"--warmup-steps must be an int >= 0; got -5"),
    (["--lr-schedule", "linear"], r"--lr-schedule: invalid choice: 'linear'"),
    (["--lr-final-fraction", "0"],
     r"--lr-final-fraction must be a finite number in \(0, 1\]; got 0.0"),
    (["--lr-final-fraction", "1.5"],
     r"--lr-final-fraction must be a finite number in \(0, 1\]; got 1.5"),
    (["--ema-decay", "1"],
     r"--ema-decay must be a finite number in \[0, 1\) or None; got 1.0"),
    (["--ema-decay", "-0.5"],
     r"--ema-decay must be a finite number in \[0, 1\) or None; got -0.5"),
    (["--ema-decay", "x"], r"--ema-decay: .*got 'x'"),
    (["--checkpoint-every", "0"], r"--checkpoint-every .*got 0"),
    (["--mixed-precision", "half"],
     r"--mixed-precision must be one of \('off', 'bfloat16', 'float16'\); "
     r"got 'half'"),
    (["--network-dtype", "half"], r"--network-dtype: invalid choice: 'half'"),
    (["--num-train-examples", "0"], r"--num-train-examples .*got 0"),
    (["--preset", "realnvp-mnist"], r"--preset: invalid choice: 'realnvp-mnist'"),
    (["--preset", "realnvp-celeba", "--num-scales", "7"],
     r"--num-scales=7 is too deep for `image_shape`=\(64, 64, 3\)"),
    (["--num-classes", "5"], r"--num-classes=5 differs from the 10 classes "
     r"of mnist's labels \(--num-classes auto takes them from the dataset\)"),
    (["--num-classes", "auto", "--dataset", "celeb_a", "--model", "glow"],
     r"celeb_a/.* has no class label \(no label feature; its features: "
     r"image, landmarks, attributes, identity\)"),
    (["--num-classes", "1"], r"--num-classes must be an int >= 2 or None; "
     r"got 1"),
    (["--num-classes", "ten"],
     r"--num-classes: must be an int or auto or none; got 'ten'"),
    (["--label-dropout", "0.5"],
     r"--label-dropout needs --num-classes; got label_dropout=0.5"),
    (["--num-classes", "10", "--label-dropout", "1"],
     r"--label-dropout must be a finite number in \[0, 1\); got 1"),
    (["--classification-weight", "0.1"],
     r"--classification-weight needs a class-conditional model "
     r"\(--num-classes\); got classification_weight=0.1"),
    (["--num-classes", "10", "--classification-weight", "-1"],
     r"--classification-weight must be a finite number >= 0; got -1.0"),
])
def test_bad_flags_exit_with_one_line_naming_the_value_and_write_nothing(
    flags, message, tmp_path, capsys):
  model_dir = tmp_path / "run"
  with pytest.raises(SystemExit) as exit_info:
    train_lib.main(["--model-dir", str(model_dir), "--data-dir",
                    str(tmp_path / "tfds"), *flags])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("tfnvp-train: error:") and err.count("\n") == 1, err
  assert "Traceback" not in err
  assert re.search(message, err), err
  assert not model_dir.exists() and not (tmp_path / "tfds").exists()


def _config(*flags):
  return train_lib.config_from_args(train_lib.build_parser().parse_args(
      ["--model-dir", "x", *flags]))


def test_a_preset_sets_the_run_and_flags_beside_it_override_it():
  config = _config("--preset", "glow-cifar10", "--depth", "2",
                   "--hidden-channels", "8", "--learning-rate", "3e-4")
  preset = tfnvp.presets.get_preset("glow-cifar10")
  assert config.preset == "glow-cifar10" and config.dataset == "cifar10"
  assert isinstance(config.model, tfnvp.GlowConfig)
  assert config.model == dataclasses.replace(preset.model, depth=2,
                                             hidden_channels=8)
  assert config.optimization == dataclasses.replace(preset.optimization,
                                                    learning_rate=3e-4)
  plain = _config("--model", "glow", "--no-lu-decomposed")
  assert plain.model.lu_decomposed is False and plain.preset is None
  for field, value in config_lib.RECIPES["glow"].items():
    record = (plain.model if hasattr(plain.model, field) else
              plain.optimization if hasattr(plain.optimization, field)
              else plain)
    assert getattr(record, field) == value, field


def test_0_3_spellings_still_work_and_warn(capsys):
  old = _config("--model", "glow", "--conv1x1", "plain", "--prior",
                "standard", "--num-scales", "1", "--mixed-precision",
                "bfloat16")
  new = _config("--model", "glow", "--no-lu-decomposed", "--no-learn-prior",
                "--num-levels", "1", "--network-dtype", "bfloat16")
  assert old == new
  assert (new.model.lu_decomposed, new.model.learn_prior,
          new.model.num_levels, new.model.network_dtype) == (
              False, False, 1, "bfloat16")
  err = capsys.readouterr().err.splitlines()
  assert err == [
      "warning: --conv1x1 is deprecated; use "
      "--lu-decomposed/--no-lu-decomposed.",
      "warning: --prior is deprecated; use --learn-prior/--no-learn-prior.",
      "warning: --mixed-precision is deprecated; use --network-dtype.",
      "warning: --num-scales is deprecated; use --num-levels for Glow."], err
  # For Real NVP, --num-scales is its own field.
  assert _config("--num-scales", "1").model.num_scales == 1
  assert capsys.readouterr().err == ""
  assert _config("--mixed-precision", "off").model.network_dtype == "float32"


def test_the_flags_are_the_records_fields():
  """One flag per field of the records, named as the field; nothing else
  but the command's own."""
  parser = train_lib.build_parser()
  dests = {a.dest for a in parser._actions  # pylint: disable=protected-access
           if a.option_strings and a.help != argparse.SUPPRESS}
  fields = set()
  for record in (tfnvp.RealNVPConfig, tfnvp.GlowConfig,
                 tfnvp.OptimizationConfig, config_lib.TrainConfig):
    fields |= {f.name for f in dataclasses.fields(record)
               if f.metadata["flag"]}
  assert dests == fields | {"help", "model_dir", "preset", "model",
                            "raw_data_dir", "data_dir", "verbose"}
  for action in parser._actions:  # pylint: disable=protected-access
    if action.dest in fields:
      assert action.option_strings[0] == "--" + action.dest.replace(
          "_", "-")


def test_every_model_has_a_recipe_of_valid_overridable_fields():
  assert set(config_lib.RECIPES) == set(tfnvp.FlowConfig.models())
  for name, recipe in config_lib.RECIPES.items():
    for field in recipe:
      assert config_lib.field_owner(field), field
    config = config_lib.from_values(recipe, (28, 28, 1), model=name)
    assert isinstance(config.model, tfnvp.FlowConfig.get(name))


def test_the_recipe_fills_in_what_neither_flags_nor_the_preset_set(
    monkeypatch):
  recipe = dict(optimizer="adam", learning_rate=7e-4, warmup_steps=5,
                lr_schedule="cosine", lr_final_fraction=0.5, ema_decay=0.9,
                clip_norm=3.0)
  monkeypatch.setitem(config_lib.RECIPES, "glow", recipe)
  glow = _config("--model", "glow")
  for field, value in recipe.items():
    assert getattr(glow.optimization, field) == value, field
  realnvp = _config()
  assert realnvp.bn_recalibration_batches == 50
  assert (realnvp.model.hidden_channels, realnvp.model.num_res_blocks) == (
      32, 2)
  flags = _config("--model", "glow", "--lr-schedule", "exponential",
                  "--ema-decay", "0", "--warmup-steps", "0", "--clip-norm",
                  "none")
  o = flags.optimization
  assert (o.lr_schedule, o.ema_decay, o.warmup_steps, o.clip_norm,
          o.learning_rate) == ("exponential", None, 0, None, 7e-4)
  preset = _config("--preset", "glow-cifar10")
  assert preset.optimization == tfnvp.presets.get_preset(
      "glow-cifar10").optimization
  # `--help` shows each model's value.
  text = " ".join(train_lib.build_parser().format_help().split())
  assert "(default: 0.9 for glow, None for realnvp)" in text, text


def _fake_run(model_dir, steps=(3, 6)):
  """A run folder with config.json and checkpoints, no training."""
  model = FlowModel(SMALL_MODEL.make_flow())
  config_lib.save_config(
      config_lib.TrainConfig(dataset="mnist", model=SMALL_MODEL), model_dir)
  manager = tf.train.CheckpointManager(
      runs.make_checkpoint(model),
      os.path.join(model_dir, runs.CHECKPOINT_SUBDIR), max_to_keep=5)
  for step in steps:
    manager.save(checkpoint_number=step)
  return model


def _snapshot(folder):
  return {p: p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


@pytest.mark.parametrize("app", ["evaluate", "export", "train"])
def test_a_corrupted_config_is_named_and_nothing_changes(app, tmp_path,
                                                         capsys):
  model_dir = tmp_path / "run"
  _fake_run(str(model_dir))
  (model_dir / "config.json").write_text('{"dataset": "mnist", "mod')
  before = _snapshot(model_dir)
  argv = {"evaluate": ["--model-dir", str(model_dir)],
          "export": ["--model-dir", str(model_dir), "--output",
                     str(tmp_path / "models" / "m" / "1")],
          "train": ["--model-dir", str(model_dir), *SMALL[:6]]}[app]
  main = {"evaluate": evaluate_lib.main, "export": export_lib.main,
          "train": train_lib.main}[app]
  err = cli_error(main, argv, capsys)
  assert f"{model_dir}/config.json is not valid JSON" in err, err
  assert _snapshot(model_dir) == before
  assert not (tmp_path / "models").exists()


def test_evaluate_and_export_without_a_run_say_so(tmp_path, capsys):
  err = cli_error(evaluate_lib.main, ["--model-dir", str(tmp_path)], capsys)
  assert "No training run in --model-dir" in err
  err = cli_error(export_lib.main, ["--model-dir", str(tmp_path),
                                     "--output", str(tmp_path / "m" / "1")],
                   capsys)
  assert "No training run in --model-dir" in err


def test_a_history_without_a_checkpoint_is_refused_and_nothing_changes(
    tmp_path, capsys):
  """Not restarted from step 0 behind the user's back: that would append a
  second run's epochs to the first's."""
  model_dir = tmp_path / "run"
  _fake_run(str(model_dir), steps=())
  (model_dir / "history.csv").write_text(
      "epoch,bits_per_dim,elapsed_seconds\n0,5.1,30.0\n1,4.9,60.0\n")
  before = _snapshot(model_dir)
  err = cli_error(train_lib.main, ["--model-dir", str(model_dir), *SMALL[:6]],
                  capsys)
  assert err.startswith("tfnvp-train: error: --model-dir=") and (
      "holds the history of a run (2 epoch(s) in history.csv) but no "
      "checkpoint to resume it from (checkpoints/ is missing or empty). To "
      "start over, delete the folder or move it aside, or use another "
      "--model-dir.") in err, err
  assert _snapshot(model_dir) == before


@pytest.mark.parametrize("app", ["evaluate", "export"])
def test_a_missing_or_corrupted_checkpoint_is_named(app, tmp_path, capsys):
  model_dir = tmp_path / "run"
  _fake_run(str(model_dir))
  main = evaluate_lib.main if app == "evaluate" else export_lib.main
  extra = [] if app == "evaluate" else ["--output",
                                        str(tmp_path / "m" / "1")]
  missing = str(model_dir / "checkpoints" / "ckpt-99")
  err = cli_error(main, ["--model-dir", str(model_dir), "--checkpoint",
                          missing, *extra], capsys)
  assert f"--checkpoint='{missing}' does not exist" in err, err
  data = next((model_dir / "checkpoints").glob("ckpt-6.data-*"))
  data.write_bytes(data.read_bytes()[:100])        # truncated
  before = _snapshot(model_dir)
  err = cli_error(main, ["--model-dir", str(model_dir), *extra], capsys)
  assert re.search(r"checkpoint \S*ckpt-6 is missing, truncated or "
                   r"corrupted", err), err
  assert _snapshot(model_dir) == before
  assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("app", ["evaluate", "export"])
def test_a_checkpoint_of_other_shapes_is_named(app, tmp_path, capsys):
  """E.g. a run of tfnvp 0.2, whose channel couplings saw every channel."""
  model_dir = tmp_path / "run"
  _fake_run(str(model_dir))
  other = dataclasses.replace(SMALL_MODEL, hidden_channels=6)
  config_lib.save_config(
      config_lib.TrainConfig(dataset="mnist", model=other), str(model_dir))
  main = evaluate_lib.main if app == "evaluate" else export_lib.main
  extra = [] if app == "evaluate" else ["--output",
                                        str(tmp_path / "m" / "1")]
  before = _snapshot(model_dir)
  err = cli_error(main, ["--model-dir", str(model_dir), *extra], capsys)
  assert re.search(r"checkpoint \S*ckpt-6 does not match the architecture "
                   r"in \S*config.json \(a run of another tfnvp version\?\)",
                   err), err
  assert _snapshot(model_dir) == before
  assert not (tmp_path / "m").exists()


def test_training_resumes_from_the_newest_intact_checkpoint(mnist_run,
                                                            data_dir,
                                                            tmp_path,
                                                            capsys):
  """A truncated newest checkpoint is set aside (renamed, not deleted). What
  the run logged after the checkpoint it resumes from is dropped and logged
  again: the history is an uninterrupted run's, its wall time continues
  from the checkpoint's."""
  model_dir = _copy_run(mnist_run, tmp_path)
  data = next((Path(model_dir) / "checkpoints").glob("ckpt-16.data-*"))
  damaged = data.read_bytes()[:-7]
  data.write_bytes(damaged)
  checkpoint = str(Path(model_dir) / "checkpoints" / "ckpt-12")
  seconds = tf.train.load_checkpoint(checkpoint).get_tensor(
      "training_state/elapsed_seconds/.ATTRIBUTES/VARIABLE_VALUE")
  # Neither the kept row's time nor the lost row's may be the new start.
  rows = _history(model_dir)
  rows[0]["elapsed_seconds"], rows[1]["elapsed_seconds"] = -1e6, 1e6
  with open(Path(model_dir, "history.csv"), "w", encoding="utf-8") as f:
    writer = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
  capsys.readouterr()
  start = time.monotonic()
  assert train_lib.main(RESUMABLE + ["--data-dir", data_dir, "--model-dir",
                                     model_dir]) == 0
  wall = time.monotonic() - start
  out = capsys.readouterr().out
  assert re.search(r"warning: checkpoint \S*ckpt-16 is missing, truncated or "
                   r"corrupted.*resumes from \S*ckpt-12", out), out
  assert "Resuming from" in out and "(step 12 of 16)" in out, out
  assert Path(f"{data}.corrupted").read_bytes() == damaged
  assert runs.checkpoint_paths(model_dir)[0].endswith("ckpt-16")
  runs.verify_checkpoint(runs.checkpoint_paths(model_dir)[0])

  assert re.search(r"Dropped what the run logged after step 12, the epochs "
                   r"it trains again: 1 row\(s\) of history.csv, \d+ "
                   r"TensorBoard summaries, 1 sample grid\(s\)\.", out), out
  _assert_same_weights(model_dir, mnist_run)
  _assert_same_history(model_dir, mnist_run)
  assert seconds < float(_history(model_dir)[1]["elapsed_seconds"]) < (
      seconds + wall)
  found = summaries(model_dir)
  assert found == summaries(mnist_run)
  assert found[("train", "epoch_loss")] == [0, 1]
  assert found[("validation", "evaluation_loss_vs_iterations")] == [8, 16]
  assert found[("logs", "samples/temperature_1")] == [0, 1]



def test_recalibration_sets_the_checkpoints_statistics_not_the_weights(
    mnist_run, data_dir, tmp_path):
  """`mnist_run` (50 batches) again with --bn-recalibration-batches 0: the
  same weights, other moving statistics, and validation equals evaluation
  (for `mnist_run` in the test of `tfnvp.training.evaluate` above)."""
  model_dir = str(tmp_path / "recal0")
  assert train_lib.main(RESUMABLE + [
      "--data-dir", data_dir, "--model-dir", model_dir,
      "--bn-recalibration-batches", "0"]) == 0
  results = {}
  for batches, run_dir in ((0, model_dir), (50, mnist_run)):
    assert config_lib.load_config(run_dir).bn_recalibration_batches == (
        batches)
    assert np.isfinite(float(_history(run_dir)[-1][
        "train_eval_bits_per_dim"]))
    results[batches] = runs.load_run(run_dir).model
  bpd, _ = evaluate_lib.evaluate(model_dir, data_dir=data_dir,
                                 num_examples=256)
  np.testing.assert_allclose(
      float(_history(model_dir)[-1]["val_bits_per_dim"]), bpd, rtol=1e-4)
  for a, b in zip(results[0].trainable_variables,
                  results[50].trainable_variables, strict=True):
    np.testing.assert_array_equal(a, b)
  moved = [not np.allclose(a, b, rtol=1e-3)
           for (a, _), (b, _) in zip(results[0].moving_statistics(),
                                     results[50].moving_statistics())]
  assert sum(moved) > len(moved) / 2
