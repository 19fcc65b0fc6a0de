"""LogitTransform: the documented map, the numerical kit, edges, errors."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import bijectors


def _pixels(dtype, shape=(3, 4, 4, 2)):
  return tf.random.stateless_uniform(shape, [4, 2], 0.0, 256.0, dtype=dtype)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_numerical_kit(dtype):
  logit = bijectors.LogitTransform(0.05)
  x = _pixels(dtype)
  kit.check_bijector(logit, x, tf.random.stateless_normal(
      x.shape, [7, 7], stddev=3.0, dtype=dtype))


def test_documented_map_and_log_det():
  alpha = 0.05
  x = np.array([0.0, 0.5, 127.3, 255.99], np.float64)
  p = alpha + (1 - 2 * alpha) * x / 256
  logit = bijectors.LogitTransform(alpha)
  np.testing.assert_allclose(logit.forward(x), np.log(p / (1 - p)),
                             rtol=1e-12)
  np.testing.assert_allclose(
      logit.forward_log_det_jacobian(x, event_ndims=0),
      np.log((1 - 2 * alpha) / 256) - np.log(p) - np.log(1 - p), rtol=1e-12)
  assert float(logit.forward(np.float64(0.0))) == pytest.approx(
      math.log(alpha / (1 - alpha)))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_finite_at_the_edges_of_the_domain(dtype):
  logit = bijectors.LogitTransform(0.05)
  top = np.nextafter(np.array(256.0, dtype.as_numpy_dtype), 0)
  x = tf.constant([0.0, 1e-30, top], dtype)
  y = logit.forward(x)
  for value in (y, logit.forward_log_det_jacobian(x, event_ndims=0),
                logit.inverse(tf.identity(y)),
                logit.inverse(tf.constant([-80.0, 80.0], dtype)),
                logit.inverse_log_det_jacobian(tf.constant([-80.0, 80.0],
                                                           dtype),
                                               event_ndims=0)):
    assert np.all(np.isfinite(value))
  np.testing.assert_allclose(logit.inverse(tf.identity(y)), x, atol=1e-3)


@pytest.mark.parametrize("value", [-0.5, 256.0, np.nan, np.inf])
def test_validate_args_rejects_pixels_outside_the_domain(value):
  logit = bijectors.LogitTransform(validate_args=True)
  x = tf.constant([[1.0, value]])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"must be finite and in \[0, 256\)"):
    logit.forward(x)


def test_validate_args_rejects_non_finite_logits():
  logit = bijectors.LogitTransform(validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
    logit.inverse(tf.constant([0.0, np.nan]))


@pytest.mark.parametrize("alpha", [0.0, 0.5, -0.1, 1.0, "0.05", True])
def test_invalid_alpha(alpha):
  with pytest.raises(ValueError, match=f"alpha.*{alpha!r}"):
    bijectors.LogitTransform(alpha)
