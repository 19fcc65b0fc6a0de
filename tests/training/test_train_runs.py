"""Training runs on real MNIST that stand alone: mixed precision, Glow end to
end, Polyak averaging, divergence (apart from test_train.py's shared run, so
that two test processes share the work)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests.training.test_train import ONE_SCALE
from tests.training.test_train import SMALL
from tests.training.test_train import _history
from tests.training.test_train import _weights
from tfnvp import FlowModel
from tfnvp import data
from tfnvp import runs
from tfnvp.export import export as export_lib
from tfnvp.training import config as config_lib
from tfnvp.training import evaluate as evaluate_lib
from tfnvp.training import train as train_lib


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
      SMALL + ONE_SCALE + ["--model-dir", str(tmp_path), "--epochs", "1",
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



def test_a_run_with_polyak_averaging_checkpoints_and_uses_the_averages(
    data_dir, tmp_path, monkeypatch):
  """Checkpoints hold the average; load_run, evaluate, validation and export
  use it."""
  model_dir = str(tmp_path / "run")
  decay, steps = 0.9, 4
  assert train_lib.main([
      "--model-dir", model_dir, "--data-dir", data_dir, *SMALL, *ONE_SCALE,
      "--hidden-channels", "4", "--steps-per-epoch", str(steps),
      "--learning-rate", "3e-3", "--ema-decay", str(decay)]) == 0
  assert config_lib.load_config(model_dir).optimization.ema_decay == decay
  path = runs.checkpoint_paths(model_dir)[0]
  assert path.endswith(f"ckpt-{steps}")
  reader = tf.train.load_checkpoint(path)
  run, raw_run = runs.load_run(model_dir), runs.load_run(model_dir,
                                                         averaged=False)
  average = run.model.weight_average
  assert int(average.count.numpy()) == steps
  shadows = [reader.get_tensor(f"weight_average/shadow_{i}/.ATTRIBUTES/"
                               "VARIABLE_VALUE")
             for i in range(len(average.shadows))]
  assert len(shadows) == len(run.model.flow_layers.trainable_variables)
  moved = 0
  for shadow, restored, averaged, raw in zip(
      shadows, average.shadows, run.model.flow_layers.trainable_variables,
      raw_run.model.flow_layers.trainable_variables, strict=True):
    np.testing.assert_array_equal(restored, shadow)
    np.testing.assert_allclose(averaged, shadow / (1 - decay**steps),
                               rtol=1e-5, atol=1e-7)
    moved += not np.allclose(averaged, raw, rtol=1e-4, atol=1e-6)
  assert moved > 10, "the averages must differ from the raw weights"

  plain = FlowModel(tfnvp.FlowConfig.from_dict(run.config["model"]).make_flow())
  plain.compile()
  dataset = data.make_dataset("mnist", "test", 256, training=False,
                              data_dir=data_dir, num_examples=256,
                              drop_remainder=False)

  def plain_bits_per_dim(source):
    """Bits/dim of `plain`, a model without an average, on `source`'s flow
    weights."""
    for a, b in zip(source.flow_layers.weights, plain.flow_layers.weights,
                    strict=True):
      b.assign(a)
    return plain.evaluate(dataset, verbose=0,
                          return_dict=True)["bits_per_dim"]

  bpd, _ = evaluate_lib.evaluate(model_dir, data_dir=data_dir,
                                 num_examples=256)
  np.testing.assert_allclose(bpd, plain_bits_per_dim(run.model), rtol=1e-5)
  assert abs(bpd - plain_bits_per_dim(raw_run.model)) > 1e-3
  validated = float(_history(model_dir)[-1]["val_bits_per_dim"])
  np.testing.assert_allclose(validated, bpd, rtol=1e-4)

  exported = []
  monkeypatch.setattr(export_lib.serving, "export_saved_model",
                      lambda flow, output, **kwargs: exported.append(flow))
  export_lib.export_run(model_dir, str(tmp_path / "models" / "m" / "1"),
                        calibration_examples=0)
  for got, want in zip(exported[0].layers.trainable_variables,
                       run.model.flow_layers.trainable_variables, strict=True):
    np.testing.assert_array_equal(got, want)



# Slow: test_conditional_train.py trains and resumes a bfloat16 run in the
# default suite; this one resumes it in float32.
@pytest.mark.slow
def test_a_bfloat16_run_trains_and_resumes_in_float32(data_dir, tmp_path,
                                                     capsys):
  """`--mixed-precision` is recorded in config.json; the variables are
  float32 either way, so a run may resume in another precision."""
  model_dir = str(tmp_path / "run")
  args = ["--model-dir", model_dir, "--data-dir", data_dir, *SMALL,
          *ONE_SCALE, "--hidden-channels", "4", "--steps-per-epoch", "2"]
  assert train_lib.main([*args, "--mixed-precision", "bfloat16"]) == 0
  saved = config_lib.load_config(model_dir)
  assert saved.model.network_dtype == "bfloat16"
  assert runs.load_run(model_dir).flow.network_dtype == "bfloat16"
  exact = runs.load_run(model_dir, network_dtype="float32").flow
  assert exact.network_dtype == "float32"
  capsys.readouterr()
  assert train_lib.main([*args, "--epochs", "2"]) == 0
  assert "(step 2 of 4)" in capsys.readouterr().out
  assert config_lib.load_config(model_dir).model.network_dtype == "float32"
  assert float(_history(model_dir)[-1]["bits_per_dim"]) > 0



# Slow: the default suite trains, evaluates and exports Glow on real MNIST
# in test_conditional_train.py (class-conditional) and on mock data in
# test_datasets.py.
@pytest.mark.slow
def test_glow_trains_on_real_mnist_then_evaluates_and_exports(data_dir,
                                                              tmp_path,
                                                              capsys):
  """`--model glow` through the same command lines as Real NVP."""
  model_dir = str(tmp_path / "glow")
  # The recipe is given in full: Glow's defaults (config.RECIPES) are tuned
  # for long runs.
  assert train_lib.main([
      "--model", "glow", "--dataset", "mnist", "--hidden-channels", "16",
      "--depth", "2", "--batch-size", "16", "--num-train-examples", "512",
      "--num-eval-examples", "256", "--epochs", "2", "--steps-per-epoch",
      "12", "--checkpoint-every", "12", "--optimizer", "adam",
      "--learning-rate", "3e-3", "--warmup-steps", "0", "--lr-schedule",
      "constant", "--ema-decay", "0", "--data-dir", data_dir, "--model-dir",
      model_dir, "--verbose", "2"]) == 0
  history = _history(model_dir)
  first, last = (float(row["val_bits_per_dim"]) for row in history)
  # With the moving statistics re-estimated before each validation, the
  # first epoch's figure no longer carries their lag: it drops ~0.11 here.
  assert last < first - 0.05, history
  run = runs.load_run(model_dir)
  model, config = run.model, run.config
  recorded = tfnvp.FlowConfig.from_dict(config["model"])
  assert isinstance(recorded, tfnvp.GlowConfig) and recorded.depth == 2
  flags = [v for v in model.flow_layers.weights
           if v.path.endswith("initialized")]
  assert flags and all(float(v) == 1.0 for v in flags)
  capsys.readouterr()
  assert evaluate_lib.main(["--model-dir", model_dir, "--data-dir", data_dir,
                            "--num-examples", "256"]) == 0
  out = capsys.readouterr().out
  assert abs(float(out.split("test bits/dim:")[1]) - last) < 1e-3
  output = str(tmp_path / "models" / "glow" / "1")
  assert export_lib.main(["--model-dir", model_dir, "--output", output,
                          "--data-dir", data_dir, "--calibration-examples",
                          "200"]) == 0
  assert "signatures: serving_default, log_prob, sample, encode, decode, " \
      "interpolate, score" in capsys.readouterr().out
  loaded = tf.saved_model.load(output)
  images = tf.random.stateless_uniform([3, 28, 28, 1], [1, 2], 0.0, 256.0)
  np.testing.assert_allclose(
      loaded.signatures["log_prob"](images=images)["log_prob"],
      model.flow.log_prob(images), rtol=1e-5)

