"""ClassPrior: the documented standardization, the numerical kit, labels as
a batch parameter, guidance, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import bijectors
from tfnvp import guidance
from tfnvp import networks


def _table(dtype=tf.float64, num_labels=4, channels=2):
  table = networks.ClassGaussianParameters(num_labels, channels,
                                           dtype=dtype.name)
  kit.randomize_weights(table, seed=3)
  return table


def test_forward_is_the_standardization_by_each_label():
  table = _table()
  labels = np.array([2, 0, 3])
  prior = bijectors.ClassPrior(table, labels)
  x = tf.random.stateless_normal([3, 2, 2, 2], [1, 1], dtype=tf.float64)
  loc = np.asarray(table.loc)[labels][:, None, None, :]
  log_scale = np.asarray(table.log_scale)[labels][:, None, None, :]
  np.testing.assert_allclose(prior.forward(x), (x - loc) * np.exp(-log_scale),
                             rtol=1e-14)
  np.testing.assert_allclose(
      prior.forward_log_det_jacobian(x, event_ndims=3),
      -4 * log_scale.sum(axis=(1, 2, 3)), rtol=1e-14)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_numerical_kit(dtype):
  prior = bijectors.ClassPrior(_table(dtype), [1, 3, 0])
  x = tf.random.stateless_normal([3, 2, 2, 2], [2, 2], dtype=dtype)
  kit.check_bijector(prior, x, tf.random.stateless_normal(
      x.shape, [3, 3], dtype=dtype))


def test_labels_are_its_batch_and_broadcast_against_the_inputs():
  prior = bijectors.ClassPrior(_table(), tf.range(4))
  assert prior.experimental_batch_shape() == [4]
  x = tf.random.stateless_normal([5, 1, 3, 3, 2], [4, 4], dtype=tf.float64)
  every = prior.forward(x)                  # each image under every label
  assert every.shape == [5, 4, 3, 3, 2]
  third = bijectors.ClassPrior(prior.layer, [2]).forward(x[:, 0])
  np.testing.assert_allclose(every[:, 2], third, rtol=1e-14)
  assert prior.forward_log_det_jacobian(x, event_ndims=3).shape == [4]


def test_guidance_uses_the_gaussian_product_with_the_null_label():
  table = _table()
  table.log_scale.assign(tf.tensor_scatter_nd_update(
      table.log_scale, [[3]], tf.ones([1, 2], tf.float64)))   # the widest
  prior = bijectors.ClassPrior(table, [0, 1], guidance=0.5, null_label=3)
  loc, log_scale = prior.loc_and_log_scale()
  rows = table.values(tf.constant([0, 1]))
  null = table.values(tf.constant(3))
  expected = guidance.gaussian_guidance(rows[0], rows[1], null[0], null[1],
                                        0.5)
  np.testing.assert_allclose(loc[:, 0, 0], expected[0], rtol=1e-14)
  np.testing.assert_allclose(log_scale[:, 0, 0], expected[1], rtol=1e-14)
  with pytest.raises(ValueError, match="guidance needs `null_label`"):
    bijectors.ClassPrior(table, [0], guidance=0.5)
  with pytest.raises(TypeError, match="`layer` must be a tfnvp.networks."
                     "ClassGaussianParameters; got 3"):
    bijectors.ClassPrior(3, [0])


def test_another_number_of_channels_is_refused():
  prior = bijectors.ClassPrior(_table(channels=2), [0])
  with pytest.raises(ValueError, match=r"input has channels=3, expected 2"):
    prior.forward(tf.zeros([1, 2, 2, 3], tf.float64))


def test_the_factored_half_of_a_factor_out():
  """`FactorOut(deeper, factored=prior)`: the prior on the first half."""
  prior = bijectors.ClassPrior(_table(), [1, 2])
  deeper = bijectors.ClassPrior(prior.layer, [0, 3])
  step = bijectors.FactorOut(deeper, factored=prior)
  assert step.factored is prior
  x = tf.random.stateless_normal([2, 4, 4, 4], [5, 5], dtype=tf.float64)
  y = step.forward(x)
  np.testing.assert_allclose(y[..., :2], prior.forward(x[..., :2]),
                             rtol=1e-14)
  np.testing.assert_allclose(
      step.forward_log_det_jacobian(tf.identity(x), event_ndims=3),
      prior.forward_log_det_jacobian(x[..., :2], event_ndims=3) +
      deeper.forward_log_det_jacobian(x[..., 2:], event_ndims=3), rtol=1e-14)
  kit.check_bijector(step, x, tf.random.stateless_normal(
      x.shape, [6, 6], dtype=tf.float64))
  with pytest.raises(TypeError, match="`factored` must be a tfb.Bijector"):
    bijectors.FactorOut(deeper, factored=lambda t: t)
