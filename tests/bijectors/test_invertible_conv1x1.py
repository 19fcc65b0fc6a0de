"""InvertibleConv1x1: the kit in both parameterizations, the documented map,
the initial rotation, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import bijectors
from tfnvp import networks


def _conv(dtype=tf.float32, channels=3, lu_decomposed=True, seed=0):
  layer = networks.InvertibleConv1x1Parameters(
      channels, lu_decomposed=lu_decomposed, seed=seed, dtype=dtype.name)
  kit.randomize_weights(layer, seed, stddev=0.3)
  return bijectors.InvertibleConv1x1(channels, layer=layer)


def _batch(dtype=tf.float32, shape=(5, 4, 4, 3), seed=0):
  return tf.random.stateless_normal(shape, [seed, 11], dtype=dtype)


@pytest.mark.parametrize("lu_decomposed", [True, False])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_numerical_kit(dtype, lu_decomposed):
  conv = _conv(dtype, lu_decomposed=lu_decomposed)
  kit.check_bijector(conv, _batch(dtype), _batch(dtype, seed=1))


@pytest.mark.parametrize("lu_decomposed", [True, False])
def test_forward_mixes_channels_and_log_det_is_hw_log_det_w(lu_decomposed):
  conv = _conv(tf.float64, lu_decomposed=lu_decomposed)
  w = conv.layer.matrix(tf.float64).numpy()
  _, log_det = np.linalg.slogdet(w)
  assert abs(log_det) > 0.05                  # trained, not a rotation
  x = _batch(tf.float64)
  np.testing.assert_allclose(conv.forward(x),
                             np.einsum("cd,bhwd->bhwc", w, x), rtol=1e-12)
  np.testing.assert_allclose(conv.forward_log_det_jacobian(x, event_ndims=3),
                             16 * log_det, rtol=1e-10)
  if lu_decomposed:
    layer = conv.layer
    np.testing.assert_allclose(
        log_det, np.trace(np.asarray(layer.lower_upper)), rtol=1e-6)


def test_starts_as_the_same_random_rotation_in_both_parameterizations():
  lu = networks.InvertibleConv1x1Parameters(4, seed=3)
  plain = networks.InvertibleConv1x1Parameters(4, lu_decomposed=False, seed=3)
  w = lu.matrix(tf.float64).numpy()
  np.testing.assert_allclose(w, plain.matrix(tf.float64), atol=1e-6)
  np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-6)
  assert np.abs(w - np.diag(np.diag(w))).max() > 0.1     # mixes channels
  assert abs(float(lu.log_abs_det(tf.float64))) < 1e-6
  other = networks.InvertibleConv1x1Parameters(4, seed=4)
  assert np.abs(other.matrix(tf.float64) - w).max() > 0.1
  assert [v.path.split("/")[-1] for v in lu.trainable_variables] == [
      "lower_upper"]


def test_lu_matrix_holds_the_factors_and_the_log_scales():
  conv = _conv(tf.float64)
  layer = conv.layer
  values = np.arange(9.0).reshape(3, 3) / 10.0 - 0.3
  layer.lower_upper.assign(values)
  lower = np.tril(values, -1) + np.eye(3)
  upper = np.triu(values, 1) + np.diag(
      np.asarray(layer.sign_s) * np.exp(np.diag(values)))
  np.testing.assert_allclose(layer.matrix(tf.float64),
                             np.asarray(layer.permutation) @ lower @ upper,
                             rtol=1e-12)
  np.testing.assert_allclose(layer.log_abs_det(tf.float64),
                             np.linalg.slogdet(layer.matrix(tf.float64))[1],
                             rtol=1e-12)


def test_errors_name_the_argument_and_value():
  with pytest.raises(ValueError, match="`channels` must be an int >= 1; "
                     "got 0"):
    bijectors.InvertibleConv1x1(0)
  with pytest.raises(ValueError, match="channels=3; got .* channels=2"):
    bijectors.InvertibleConv1x1(
        3, layer=networks.InvertibleConv1x1Parameters(2))
  conv = bijectors.InvertibleConv1x1(2)
  with pytest.raises(ValueError, match="channels=3, expected 2"):
    conv.forward(tf.zeros([1, 4, 4, 3]))
  with pytest.raises(ValueError, match="rank >= 3"):
    conv.inverse(tf.zeros([4, 2]))
