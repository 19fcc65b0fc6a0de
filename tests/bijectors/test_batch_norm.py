"""BatchNorm: both modes, moving statistics, replicas, the kit, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import bijectors
from tfnvp import networks


def _moments(dtype=tf.float32, channels=2, seed=0, momentum=0.9):
  moments = networks.MovingMoments(channels, momentum=momentum,
                                   dtype=dtype.name)
  kit.randomize_weights(moments, seed)
  return moments


def _batch(dtype=tf.float32, shape=(6, 4, 4, 2), seed=0):
  x = tf.random.stateless_normal(shape, [seed, 3], dtype=dtype)
  return 3.0 * x + tf.constant([1.0, -2.0], dtype)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_numerical_kit_in_inference_mode(dtype):
  norm = bijectors.BatchNorm(_moments(dtype))
  x = _batch(dtype)
  kit.check_bijector(norm, x, _batch(dtype, seed=1))


def test_inference_uses_moving_statistics_and_documented_log_det():
  moments = _moments(tf.float64)
  norm = bijectors.BatchNorm(moments)
  x = _batch(tf.float64)
  mean = np.asarray(moments.moving_mean)
  var = np.asarray(moments.moving_variance)
  np.testing.assert_allclose(
      norm.forward(x), (np.asarray(x) - mean) / np.sqrt(var + 1e-4),
      rtol=1e-12)
  np.testing.assert_allclose(
      norm.forward_log_det_jacobian(x, event_ndims=3),
      -0.5 * 16 * np.sum(np.log(var + 1e-4)), rtol=1e-12)
  before = [np.asarray(v) for v in moments.weights]
  norm.forward(tf.identity(x))
  for old, variable in zip(before, moments.weights):
    np.testing.assert_array_equal(old, variable)


def test_training_uses_batch_statistics_and_updates_moving_averages():
  moments = _moments(tf.float64, momentum=0.9)
  old_mean = np.asarray(moments.moving_mean)
  old_var = np.asarray(moments.moving_variance)
  norm = bijectors.BatchNorm(moments, training=True)
  x = _batch(tf.float64)
  y = norm.forward(x)
  fldj = norm.forward_log_det_jacobian(x, event_ndims=3)
  batch_mean = np.mean(np.asarray(x), axis=(0, 1, 2))
  batch_var = np.var(np.asarray(x), axis=(0, 1, 2))
  np.testing.assert_allclose(np.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-12)
  np.testing.assert_allclose(np.var(y, axis=(0, 1, 2)),
                             batch_var / (batch_var + 1e-4), rtol=1e-12)
  np.testing.assert_allclose(fldj, -8.0 * np.sum(np.log(batch_var + 1e-4)),
                             rtol=1e-12)
  np.testing.assert_allclose(moments.moving_mean,
                             0.9 * old_mean + 0.1 * batch_mean, rtol=1e-12)
  np.testing.assert_allclose(moments.moving_variance,
                             0.9 * old_var + 0.1 * batch_var, rtol=1e-12)
  # The cache maps the output back exactly (and the update ran once);
  # a fresh tensor is inverted with the moving statistics.
  np.testing.assert_allclose(norm.inverse(y), x, rtol=1e-12)
  np.testing.assert_allclose(moments.moving_mean,
                             0.9 * old_mean + 0.1 * batch_mean, rtol=1e-12)
  np.testing.assert_allclose(
      norm.inverse(tf.identity(y)),
      bijectors.BatchNorm(moments).inverse(tf.identity(y)), rtol=1e-12)


def test_gradients_flow_through_batch_statistics():
  norm = bijectors.BatchNorm(_moments(), training=True)
  x = _batch()
  with tf.GradientTape() as tape:
    tape.watch(x)
    loss = tf.reduce_sum(norm.forward(x)) + tf.reduce_sum(
        norm.forward_log_det_jacobian(x, event_ndims=3))
  grad = tape.gradient(loss, x)
  # sum(normalized x) is constant in x, so only the log-det contributes and
  # it moves each input away from the batch mean.
  assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 1e-3


def test_finite_for_a_constant_channel_in_training():
  norm = bijectors.BatchNorm(_moments(), training=True)
  x = tf.concat([tf.fill([4, 4, 4, 1], 7.0), _batch(shape=(4, 4, 4, 2))[..., :1]],
                axis=-1)
  for value in (norm.forward(x), norm.forward_log_det_jacobian(
      x, event_ndims=3)):
    assert np.all(np.isfinite(value))


def test_two_replicas_equal_one_device_on_the_same_global_batch(
    mirrored_strategy):
  x = _batch(tf.float32, shape=(8, 4, 4, 2))
  single = _moments(tf.float32)
  initial = [np.asarray(v) for v in single.weights]
  expected_y = bijectors.BatchNorm(single, training=True).forward(x)
  expected_fldj = bijectors.BatchNorm(single, training=True)\
      .forward_log_det_jacobian(tf.identity(x), event_ndims=3)

  strategy = mirrored_strategy
  with strategy.scope():
    mirrored = networks.MovingMoments(2, momentum=0.9)
  for variable, value in zip(mirrored.weights, initial):
    variable.assign(value)
  norm = bijectors.BatchNorm(mirrored, training=True)

  @tf.function
  def step(local_x):
    return norm.forward(local_x), norm.forward_log_det_jacobian(
        local_x, event_ndims=3)

  halves = strategy.experimental_distribute_values_from_function(
      lambda ctx: x[ctx.replica_id_in_sync_group * 4:][:4])
  y, fldj = strategy.run(step, args=(halves,))
  y = tf.concat(strategy.experimental_local_results(y), axis=0)
  np.testing.assert_allclose(y, expected_y, rtol=1e-5, atol=1e-5)
  for local_fldj in strategy.experimental_local_results(fldj):
    np.testing.assert_allclose(local_fldj, expected_fldj, rtol=1e-5)
  for got, want in zip(mirrored.weights, single.weights):
    for replica_value in strategy.experimental_local_results(got):
      np.testing.assert_allclose(replica_value, want, rtol=1e-5, atol=1e-6)


def test_errors():
  with pytest.raises(TypeError, match="MovingMoments"):
    bijectors.BatchNorm(object())
  norm = bijectors.BatchNorm(_moments(channels=2))
  with pytest.raises(ValueError, match="channels=3.*have 2"):
    norm.forward(tf.zeros([1, 4, 4, 3]))
  with pytest.raises(ValueError, match="rank >= 3"):
    norm.forward(tf.zeros([4, 2]))
  with pytest.raises(ValueError, match="momentum.*1.5"):
    networks.MovingMoments(2, momentum=1.5)
  with pytest.raises(ValueError, match="channels.*0"):
    networks.MovingMoments(0)
