"""ActNorm: the kit, the documented map, data-dependent initialization once,
across replicas and through a checkpoint, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import bijectors
from tfnvp import networks


def _layer(dtype=tf.float32, channels=2, seed=0):
  layer = networks.ActNormParameters(channels, dtype=dtype.name)
  kit.randomize_weights(layer, seed)
  return layer


def _batch(dtype=tf.float32, shape=(6, 4, 4, 2), seed=0):
  x = tf.random.stateless_normal(shape, [seed, 5], dtype=dtype)
  return 3.0 * x + tf.constant([1.0, -2.0], dtype)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_numerical_kit(dtype):
  norm = bijectors.ActNorm(2, layer=_layer(dtype))
  kit.check_bijector(norm, _batch(dtype), _batch(dtype, seed=1))


def test_forward_and_log_det_are_the_documented_formulas():
  layer = _layer(tf.float64)
  norm = bijectors.ActNorm(2, layer=layer)
  x = _batch(tf.float64)
  bias, log_scale = np.asarray(layer.bias), np.asarray(layer.log_scale)
  assert np.abs(log_scale).min() > 0.01     # not the identity
  np.testing.assert_allclose(norm.forward(x),
                             (np.asarray(x) + bias) * np.exp(log_scale),
                             rtol=1e-12)
  np.testing.assert_allclose(norm.forward_log_det_jacobian(x, event_ndims=3),
                             16 * np.sum(log_scale), rtol=1e-12)
  assert float(layer.initialized) == 0.0    # inference never initializes


def test_the_first_training_batch_initializes_once():
  layer = _layer(tf.float64)
  norm = bijectors.ActNorm(2, layer=layer, training=True)
  x = _batch(tf.float64)
  y = norm.forward(x)
  np.testing.assert_allclose(np.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-12)
  np.testing.assert_allclose(np.var(y, axis=(0, 1, 2)), 1.0, rtol=1e-5)
  np.testing.assert_allclose(
      norm.forward_log_det_jacobian(x, event_ndims=3),
      16 * np.sum(np.asarray(layer.log_scale)), rtol=1e-12)
  assert float(layer.initialized) == 1.0
  values = [np.asarray(v) for v in layer.weights]
  again = norm.forward(_batch(tf.float64, seed=7) * 5.0)
  assert np.abs(np.var(again, axis=(0, 1, 2)) - 1.0).max() > 1.0
  for old, variable in zip(values, layer.weights):
    np.testing.assert_array_equal(old, variable)


def test_initialization_in_a_tf_function_and_gradients_reach_the_weights():
  layer = networks.ActNormParameters(2)
  norm = bijectors.ActNorm(2, layer=layer, training=True)

  @tf.function
  def loss(x):
    with tf.GradientTape() as tape:
      value = tf.reduce_sum(tf.square(norm.forward(x))) - tf.reduce_sum(
          norm.forward_log_det_jacobian(x, event_ndims=3))
    return tape.gradient(value, layer.trainable_variables)

  grads = loss(_batch())
  assert float(layer.initialized) == 1.0
  y = bijectors.ActNorm(2, layer=layer).forward(_batch())
  np.testing.assert_allclose(np.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-5)
  assert len(grads) == 2 and all(np.all(np.isfinite(g)) for g in grads)
  assert max(np.abs(g).max() for g in grads) > 1e-3
  values = [np.asarray(v) for v in layer.weights]
  loss(_batch(seed=3) * 2.0)
  for old, variable in zip(values, layer.weights):
    np.testing.assert_array_equal(old, variable)


def test_two_replicas_initialize_as_one_device_on_the_global_batch(
    mirrored_strategy):
  x = _batch(tf.float32, shape=(8, 4, 4, 2))
  single = networks.ActNormParameters(2)
  expected_y = bijectors.ActNorm(2, layer=single, training=True).forward(x)

  strategy = mirrored_strategy
  with strategy.scope():
    mirrored = networks.ActNormParameters(2)
  norm = bijectors.ActNorm(2, layer=mirrored, training=True)

  @tf.function
  def step(local_x):
    return norm.forward(local_x)

  halves = strategy.experimental_distribute_values_from_function(
      lambda ctx: x[ctx.replica_id_in_sync_group * 4:][:4])
  y = strategy.run(step, args=(halves,))
  y = tf.concat(strategy.experimental_local_results(y), axis=0)
  np.testing.assert_allclose(y, expected_y, rtol=1e-5, atol=1e-5)
  for got, want in zip(mirrored.weights, single.weights):
    for replica_value in strategy.experimental_local_results(got):
      np.testing.assert_allclose(replica_value, want, rtol=1e-5, atol=1e-6)


def test_a_restored_actnorm_is_not_initialized_again(tmp_path):
  layer = networks.ActNormParameters(2)
  bijectors.ActNorm(2, layer=layer, training=True).forward(_batch())
  path = tf.train.Checkpoint(actnorm=layer).save(str(tmp_path / "ckpt"))
  restored = networks.ActNormParameters(2)
  tf.train.Checkpoint(actnorm=restored).restore(path).assert_consumed()
  assert float(restored.initialized) == 1.0
  bijectors.ActNorm(2, layer=restored, training=True).forward(
      _batch(seed=9) * 4.0)
  for got, want in zip(restored.weights, layer.weights):
    np.testing.assert_array_equal(got, want)


def test_errors_name_the_argument_and_value():
  with pytest.raises(ValueError, match="`channels` must be an int >= 1; "
                     "got 0"):
    bijectors.ActNorm(0)
  with pytest.raises(ValueError, match="channels=3; got .* channels=2"):
    bijectors.ActNorm(3, layer=networks.ActNormParameters(2))
  with pytest.raises(ValueError, match="`epsilon` must be > 0; got 0"):
    bijectors.ActNorm(2, epsilon=0)
  norm = bijectors.ActNorm(2)
  with pytest.raises(ValueError, match="channels=3, expected 2"):
    norm.forward(tf.zeros([1, 4, 4, 3]))
  with pytest.raises(ValueError, match="rank >= 3"):
    norm.forward(tf.zeros([4, 2]))
  assert len(norm.trainable_variables) == 2 and len(norm.variables) == 3
