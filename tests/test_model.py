"""FlowModel: fit lowers bits/dim; N replicas compute what one device does."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from tests import kit
import tfnvp
from tfnvp import FlowModel
from tfnvp.model import regularized_variables

# One scale: 4 couplings (with two scales, 10 take 2.6 times as long to
# trace, and nothing here depends on the depth).
CONFIG = tfnvp.RealNVPConfig(image_shape=(8, 8, 1), num_scales=1,
                             hidden_channels=8, num_res_blocks=1)


def _images(n=32, seed=0):
  ramp = tf.reshape(tf.linspace(0.0, 200.0, 64), [1, 8, 8, 1])
  noise = 20.0 * tf.random.stateless_normal([n, 8, 8, 1], [seed, 1])
  return tf.clip_by_value(ramp + noise, 0.0, 255.0)


def _model(seed=0, **kwargs):
  kwargs.setdefault("clip_norm", None)
  model = FlowModel(CONFIG.make_flow(), **kwargs)
  kit.randomize_weights(model.flow_layers, seed, stddev=0.05)
  return model


def test_regularized_variables_are_weight_norm_and_tanh_scales():
  model = _model()
  names = [v.path.rsplit("/", 1)[-1] for v in
           regularized_variables(model.flow_layers)]
  assert set(names) == {"g", "log_scale_factor"}
  # per coupling: 1 tanh scale + 4 weight-normalized convolutions
  assert len(names) == 4 * (1 + 4)


@pytest.fixture(scope="module")
def float_model():
  """A compiled model for the tests that fit float images in batches: they
  share its traced training step.

  `test_fit_lowers_bits_per_dim_and_evaluate_uses_moving_statistics` needs
  its initial weights, which the NaN test leaves unchanged (as it asserts).
  """
  model = _model()
  model.compile(optimizer=keras.optimizers.Adam(3e-3))
  return model


def test_fit_lowers_bits_per_dim_and_evaluate_uses_moving_statistics(
    float_model):
  model = float_model
  data = tf.data.Dataset.from_tensor_slices(_images(64)).batch(32)
  before = model.evaluate(data, verbose=0, return_dict=True)
  history = model.fit(data.repeat(), epochs=1, steps_per_epoch=20, verbose=0)
  after = model.evaluate(data, verbose=0, return_dict=True)
  assert "bits_per_dim" in history.history
  assert after["bits_per_dim"] < before["bits_per_dim"] - 0.1, (before, after)
  np.testing.assert_allclose(
      after["loss"], after["bits_per_dim"] * 64 * np.log(2.0), rtol=1e-5)
  log_prob = model.predict(data, verbose=0)
  np.testing.assert_allclose(
      -np.mean(log_prob) / (64 * np.log(2.0)), after["bits_per_dim"],
      rtol=1e-5)


def test_fit_trains_glow_and_initializes_its_actnorms_on_the_first_batch():
  config = tfnvp.GlowConfig(image_shape=(8, 8, 1), num_levels=2,
                            hidden_channels=8, depth=2)
  model = FlowModel(config.make_flow())
  assert not regularized_variables(model.flow_layers)   # Glow: no L2
  model.compile(optimizer=keras.optimizers.Adam(3e-3))
  data = tf.data.Dataset.from_tensor_slices(_images(64)).batch(32)
  before = model.evaluate(data, verbose=0, return_dict=True)
  flags = [v for v in model.weights if v.path.endswith("initialized")]
  assert len(flags) == 12 and not any(float(v) for v in flags)
  model.fit(data.repeat(), epochs=1, steps_per_epoch=20, verbose=0)
  assert all(float(v) == 1.0 for v in flags)
  after = model.evaluate(data, verbose=0, return_dict=True)
  assert after["bits_per_dim"] < before["bits_per_dim"] - 0.1, (before, after)


def test_a_nan_in_the_data_stops_training_with_a_clear_error(float_model):
  model = float_model
  images = _images(8).numpy()
  images[3, 2, 2, 0] = np.nan
  weights = [np.asarray(v) for v in model.weights]
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="training images contain NaN or inf"):
    model.fit(tf.data.Dataset.from_tensor_slices(images).batch(8), verbose=0)
  for old, variable in zip(weights, model.weights):
    np.testing.assert_array_equal(old, variable)


def test_two_replicas_take_the_same_step_as_one_device(mirrored_strategy):
  """Loss, then weights after one clipped SGD step, to 1e-5.

  Clipping by global norm is the part a Keras optimizer gets wrong under a
  strategy (it clips per replica); a norm of 1 makes it active here.

  SGD's update is linear in the gradients, so it shows they agree. (Adam's
  first step is `lr * g / (|g| + eps)`: for gradients near zero it turns
  float rounding differences into visible ones, which would test Adam.)
  """
  images = _images(16, seed=3)
  single = _model(seed=3, clip_norm=1.0)
  initial = [np.asarray(v) for v in single.weights]
  # The reference runs eagerly (faster); the replicas run a traced step, as
  # one device does in the other tests of `fit`.
  single.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
  one = single.fit(tf.data.Dataset.from_tensor_slices(images).batch(16),
                   verbose=0)
  with mirrored_strategy.scope():
    mirrored = FlowModel(CONFIG.make_flow(), clip_norm=1.0)
    mirrored.compile(optimizer=keras.optimizers.SGD(0.1))
  for variable, value in zip(mirrored.weights, initial):
    variable.assign(value)
  two = mirrored.fit(tf.data.Dataset.from_tensor_slices(images).batch(16),
                     verbose=0)
  np.testing.assert_allclose(two.history["loss"], one.history["loss"],
                             rtol=1e-5)
  moved = 0
  for got, want, start in zip(mirrored.weights, single.weights, initial):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    moved += not np.allclose(want, start)
  assert moved > len(initial) / 2, "the step must change most weights"


@pytest.mark.slow
def test_the_paper_sized_model_trains():
  """64 channels, 8 residual blocks, 2 scales on 28x28x1 (minutes: tracing)."""
  config = tfnvp.RealNVPConfig(image_shape=(28, 28, 1), num_scales=2,
                               hidden_channels=64, num_res_blocks=8)
  model = FlowModel(config.make_flow(), l2=5e-5, clip_norm=100.0)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  images = tf.random.stateless_uniform([32, 28, 28, 1], [5, 5], 0.0, 256.0)
  data = tf.data.Dataset.from_tensor_slices(images).batch(16).repeat()
  history = model.fit(data, epochs=2, steps_per_epoch=2, verbose=0)
  losses = history.history["bits_per_dim"]
  assert np.all(np.isfinite(losses)) and losses[1] < losses[0], losses


def test_fit_on_numpy_uint8_images_and_labelled_batches():
  """The README's use: the user's own 8-bit images, as numpy or (x, y)."""
  model = _model(seed=4)
  model.compile(optimizer=keras.optimizers.Adam(3e-3))
  pixels = np.asarray(_images(48), np.uint8)
  labels = np.arange(48) % 10
  before = model.evaluate(pixels, batch_size=16, verbose=0, return_dict=True)
  # Pixel centres in evaluation: the same as the float images k + 0.5.
  as_float = model.evaluate(pixels.astype(np.float32) + 0.5, batch_size=16,
                            verbose=0, return_dict=True)
  np.testing.assert_allclose(before["loss"], as_float["loss"], rtol=1e-6)
  model.fit(pixels, labels, batch_size=16, epochs=2, verbose=0)
  after = model.evaluate(
      tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(16),
      verbose=0, return_dict=True)
  assert after["bits_per_dim"] < before["bits_per_dim"] - 0.1, (before, after)
  log_prob = model.predict(pixels, batch_size=16, verbose=0)
  assert log_prob.shape == (48,)
  np.testing.assert_allclose(log_prob, model.flow.log_prob(
      pixels.astype(np.float32) + 0.5), rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(l2=-1.0), r"`l2` must be a finite number >= 0; got -1.0"),
    (dict(l2=float("nan")), r"`l2` .*got nan"),
    (dict(clip_norm=0.0), r"`clip_norm` must be a finite number > 0 or None"),
    (dict(clip_norm=float("inf")), r"`clip_norm` .*got inf"),
])
def test_bad_arguments_name_the_value(kwargs, message):
  with pytest.raises(ValueError, match=message):
    tfnvp.FlowModel(CONFIG.make_flow(), **kwargs)
  with pytest.raises(TypeError, match="must be a tfnvp.RealNVP or tfnvp.Glow"):
    tfnvp.FlowModel(CONFIG)


def test_integer_images_outside_8_bits_are_refused():
  model = _model()
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  images = np.asarray(_images(8), np.int32)
  images[0, 0, 0, 0] = 300
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"integer images must be 8-bit pixels in \[0, 255\]"):
    model.predict(images, verbose=0)
