"""Polyak averaging in FlowModel: the average, where it is used, saving."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tfnvp import FlowModel
from tfnvp import runs
from tfnvp.averaging import PolyakAverage


def _flow(name="realnvp"):
  if name == "glow":
    return tfnvp.Glow((4, 4, 1), num_levels=1, depth=1, hidden_channels=4)
  return tfnvp.RealNVP((4, 4, 1), num_scales=1, hidden_channels=4,
                       num_res_blocks=1)


def _pixels(n=16, seed=0):
  """8-bit images; in training the model adds random dequantization noise."""
  return np.random.default_rng(seed).integers(0, 256, [n, 4, 4, 1])


def _dequantized(n=16, seed=0):
  """Float images: no noise in training, so two runs take the same steps."""
  rng = np.random.default_rng(seed)
  return (_pixels(n, seed) + rng.uniform(size=[n, 4, 4, 1])).astype(
      np.float32)


def _values(variables):
  return [np.array(v) for v in variables]


def _copy(source, target):
  """Gives `target`'s flow the weights of `source`'s."""
  for a, b in zip(source.flow_layers.weights, target.flow_layers.weights,
                  strict=True):
    b.assign(a)


class _Trajectory(keras.callbacks.Callback):
  """The raw trainable weights and the averages after every step."""

  def __init__(self):
    super().__init__()
    self.weights, self.averages = [], []

  def on_train_batch_end(self, batch, logs=None):
    self.weights.append(_values(self.model.flow_layers.trainable_variables))
    self.averages.append(_values(self.model.weight_average.averages()))


@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_the_average_is_the_bias_corrected_moving_average_of_the_steps(name):
  decay = 0.8
  model = FlowModel(_flow(name), ema_decay=decay)
  initial = _values(model.flow_layers.trainable_variables)
  model.compile(optimizer=keras.optimizers.Adam(1e-2))
  trajectory = _Trajectory()
  model.fit(_pixels(16), batch_size=4, epochs=1, callbacks=[trajectory],
            verbose=0)
  assert int(model.weight_average.count) == len(trajectory.weights) == 4

  # After one step the average is the weights, Glow's data-initialized
  # actnorms included: neither the zeros it starts from nor the weights'
  # values before the first step leak in.
  for average, weights in zip(trajectory.averages[0],
                              trajectory.weights[0]):
    np.testing.assert_allclose(average, weights, rtol=1e-6, atol=1e-7)
  if name == "glow":
    actnorm = [i for i, v in enumerate(model.flow_layers.trainable_variables)
               if "actnorm" in v.path]
    assert actnorm and all(
        np.abs(trajectory.weights[0][i] - initial[i]).max() > 1e-2
        for i in actnorm)

  shadows = [np.zeros_like(w, np.float64) for w in initial]
  for step, weights in enumerate(trajectory.weights, start=1):
    shadows = [decay * m + (1 - decay) * w for m, w in zip(shadows, weights)]
    for got, m in zip(trajectory.averages[step - 1], shadows):
      np.testing.assert_allclose(got, m / (1 - decay**step), rtol=1e-5,
                                 atol=1e-6)
  for got, m in zip(model.weight_average.shadows, shadows, strict=True):
    np.testing.assert_allclose(got, m, rtol=1e-5, atol=1e-6)
  assert max(np.abs(a - w).max() for a, w in zip(
      trajectory.averages[-1], trajectory.weights[-1])) > 1e-3, (
          "the average must differ from the last weights")


def test_ema_decay_0_is_the_model_without_an_average():
  reference = FlowModel(_flow())                 # ema_decay=None
  model = FlowModel(_flow(), ema_decay=0)
  assert model.weight_average is reference.weight_average is None
  assert (model.get_config()["ema_decay"],
          reference.get_config()["ema_decay"]) == (0.0, None)
  assert len(model.weights) == len(reference.weights)
  _copy(reference, model)
  images = _dequantized(16)
  results = []
  for m in (reference, model):
    # Eager: what is compared is the same with a traced step, only slower.
    m.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
    m.fit(images, batch_size=8, epochs=1, shuffle=False, verbose=0)
    with m.averaged_weights():
      inside = _values(m.weights)
    m.assign_averaged_weights()
    results.append((_values(m.weights), inside,
                    m.evaluate(images, verbose=0, return_dict=True)))
  (want, want_inside, want_eval), (got, got_inside, got_eval) = results
  for values in zip(want, want_inside, got, got_inside, strict=True):
    for value in values[1:]:
      np.testing.assert_array_equal(value, values[0])
  assert got_eval == want_eval


def test_evaluate_predict_and_validation_use_the_averages_training_the_raw():
  images, pixels = _dequantized(16), _pixels(16, seed=1)
  model = FlowModel(_flow(), ema_decay=0.5)
  twin = FlowModel(_flow())            # the same steps, without an average
  _copy(twin, model)
  histories = []
  for m in (model, twin):
    # Eager, for speed: the traced step's average is checked above.
    m.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
    histories.append(m.fit(images, batch_size=8, epochs=2, shuffle=False,
                           validation_data=(pixels,), verbose=0).history)
  raw = _values(model.flow_layers.weights)
  for got, want in zip(raw, _values(twin.flow_layers.weights), strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)

  averaged = FlowModel(_flow())        # a plain model holding the averages
  _copy(model, averaged)
  for v, average in zip(averaged.flow_layers.trainable_variables,
                        model.weight_average.averages(), strict=True):
    v.assign(average)
  averaged.compile(run_eagerly=True)
  want = averaged.evaluate(pixels, verbose=0, return_dict=True)
  got = model.evaluate(pixels, verbose=0, return_dict=True)
  np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-6)
  raw_loss = twin.evaluate(pixels, verbose=0, return_dict=True)["loss"]
  assert abs(got["loss"] - raw_loss) > 1e-3, (got, raw_loss)
  # `fit`'s validation after the last epoch: the same weights.
  np.testing.assert_allclose(histories[0]["val_loss"][-1], got["loss"],
                             rtol=1e-6)
  np.testing.assert_allclose(histories[1]["val_loss"][-1], raw_loss,
                             rtol=1e-6)
  np.testing.assert_allclose(model.predict(pixels, verbose=0),
                             averaged.predict(pixels, verbose=0), rtol=1e-6)

  # The raw weights are back after evaluate, predict and an error.
  with pytest.raises(RuntimeError, match="inside"):
    with model.averaged_weights():
      np.testing.assert_array_equal(model.flow_layers.trainable_variables[0],
                                    averaged.flow_layers.trainable_variables[0])
      raise RuntimeError("inside")
  for value, variable in zip(raw, model.flow_layers.weights, strict=True):
    np.testing.assert_array_equal(value, variable)
  # Training goes on from the raw weights, as without an average.
  for m in (model, twin):
    m.fit(images, batch_size=8, epochs=1, shuffle=False, verbose=0)
  for got, want in zip(model.flow_layers.weights, twin.flow_layers.weights):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)

  model.assign_averaged_weights()
  for variable, average in zip(model.flow_layers.trainable_variables,
                               model.weight_average.averages()):
    np.testing.assert_array_equal(variable, average)


def test_save_load_model_and_checkpoints_keep_the_average(tmp_path):
  model = FlowModel(_flow("glow"), ema_decay=0.9)
  model.compile(optimizer=keras.optimizers.Adam(1e-2))
  model.fit(_pixels(16), batch_size=8, epochs=1, verbose=0)
  average = model.weight_average
  assert int(average.count) == 2
  path = str(tmp_path / "run.keras")
  model.save(path)
  restored = keras.models.load_model(path)
  assert restored.ema_decay == 0.9
  assert int(restored.weight_average.count) == 2
  for a, b in zip(average.weights, restored.weight_average.weights,
                  strict=True):
    np.testing.assert_array_equal(a, b)
  pixels = _pixels(8, seed=2)
  np.testing.assert_allclose(
      restored.evaluate(pixels, verbose=0, return_dict=True)["loss"],
      model.evaluate(pixels, verbose=0, return_dict=True)["loss"], rtol=1e-6)

  saved = runs.make_checkpoint(model).save(str(tmp_path / "ckpt"))
  names = [name for name, _ in tf.train.list_variables(saved)
           if name.startswith("weight_average/")]
  assert len(names) == len(average.weights) == 1 + len(
      model.flow_layers.trainable_variables)
  fresh = FlowModel(_flow("glow"), ema_decay=0.9)
  runs.make_checkpoint(fresh).restore(saved).assert_existing_objects_matched()
  for a, b in zip(average.weights, fresh.weight_average.weights, strict=True):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("value", [-0.1, 1.0, "x", True, float("nan")])
def test_a_bad_ema_decay_is_named(value):
  with pytest.raises(ValueError, match=r"`ema_decay` must be a finite number "
                     rf"in \[0, 1\) or None; got {re.escape(repr(value))}"):
    FlowModel(_flow(), ema_decay=value)


def test_the_average_checks_its_arguments():
  with pytest.raises(ValueError, match=r"`decay` must be .*got 1\.5"):
    PolyakAverage(1.5, [[2]])
  with pytest.raises(ValueError, match=r"`shapes` must be .*got \[\[2, -1\]\]"):
    PolyakAverage(0.5, [[2, -1]])
  average = PolyakAverage(0.5, [[2]])
  with pytest.raises(ValueError, match=r"shapes \(\(3,\),\) are not the "
                     r"averaged ones, \(\(2,\),\)"):
    average.update([keras.Variable(np.zeros(3, np.float32))])


def test_two_replicas_keep_the_average_one_device_keeps(mirrored_strategy):
  images = _dequantized(16, seed=3)
  single = FlowModel(_flow(), ema_decay=0.5)
  initial = _values(single.weights)
  # The reference runs eagerly (faster); the replicas run traced steps.
  single.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
  single.fit(images, batch_size=16, epochs=2, shuffle=False, verbose=0)
  with mirrored_strategy.scope():
    mirrored = FlowModel(_flow(), ema_decay=0.5)
    mirrored.compile(optimizer=keras.optimizers.SGD(0.1))
  for variable, value in zip(mirrored.weights, initial, strict=True):
    variable.assign(value)
  mirrored.fit(images, batch_size=16, epochs=2, shuffle=False, verbose=0)

  def copies(variables):
    return [[c.numpy() for c in v.value.values] for v in variables]

  assert [int(c) for c in copies([mirrored.weight_average.count])[0]] == [2, 2]
  for (first, second), want in zip(copies(mirrored.weight_average.shadows),
                                   single.weight_average.shadows,
                                   strict=True):
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-6)

  variables = mirrored.flow_layers.trainable_variables
  raw = copies(variables)
  # From Python, in cross-replica context: every replica's copy is swapped.
  with mirrored.averaged_weights():
    for pair, want in zip(copies(variables), single.weight_average.averages(),
                          strict=True):
      for copy in pair:
        np.testing.assert_allclose(copy, want, rtol=1e-5, atol=1e-6)
  for pair, before in zip(copies(variables), raw):
    for copy, value in zip(pair, before):
      np.testing.assert_array_equal(copy, value)
  np.testing.assert_allclose(
      mirrored.evaluate(images, batch_size=16, verbose=0,
                        return_dict=True)["loss"],
      single.evaluate(images, batch_size=16, verbose=0,
                      return_dict=True)["loss"], rtol=1e-5)
