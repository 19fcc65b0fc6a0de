"""FactorOut: the documented split, the numerical kit, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import bijectors
from tfnvp import networks


def _deeper(dtype):
  net = networks.ResNetShiftAndLogScale(2, hidden_channels=8,
                                        num_res_blocks=1, dtype=dtype.name)
  net.build((None, 4, 4, 2))
  kit.randomize_weights(net, seed=11)
  return bijectors.AffineCoupling("checkerboard", 1, net)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_numerical_kit(dtype):
  step = bijectors.FactorOut(_deeper(dtype))
  x = tf.random.stateless_normal([3, 4, 4, 4], [5, 5], dtype=dtype)
  kit.check_bijector(step, x, tf.random.stateless_normal(
      x.shape, [8, 8], dtype=dtype))


def test_first_half_is_factored_out_second_half_transformed():
  deeper = _deeper(tf.float64)
  step = bijectors.FactorOut(deeper)
  x = tf.random.stateless_normal([2, 4, 4, 4], [6, 6], dtype=tf.float64)
  y = step.forward(x)
  np.testing.assert_array_equal(y[..., :2], x[..., :2])
  np.testing.assert_allclose(y[..., 2:], deeper.forward(x[..., 2:]),
                             rtol=1e-12)
  np.testing.assert_allclose(
      step.forward_log_det_jacobian(tf.identity(x), event_ndims=3),
      deeper.forward_log_det_jacobian(x[..., 2:], event_ndims=3), rtol=1e-12)


def test_rejects_non_bijectors():
  with pytest.raises(TypeError, match="tfb.Bijector"):
    bijectors.FactorOut(lambda x: x)


@pytest.mark.parametrize("levels", [2, 3])
def test_nested_factor_outs_pass_the_numerical_kit(levels):
  """FactorOut inside FactorOut (3+ scales) builds and is exact."""
  channels = 2 ** levels
  net = networks.ResNetShiftAndLogScale(1, hidden_channels=4,
                                        num_res_blocks=1, dtype="float64")
  net.build((None, 4, 4, 1))
  kit.randomize_weights(net, seed=12)
  step = bijectors.AffineCoupling("checkerboard", 0, net)
  for _ in range(levels):
    step = bijectors.FactorOut(step)
  x = tf.random.stateless_normal([2, 4, 4, channels], [5, 6],
                                 dtype=tf.float64)
  innermost = x[..., channels - 1:]
  y = step.forward(x)
  np.testing.assert_array_equal(y[..., :channels - 1], x[..., :channels - 1])
  assert np.abs(y[..., channels - 1:] - innermost).max() > 1e-3
  kit.check_bijector(step, x, tf.random.stateless_normal(
      x.shape, [8, 9], dtype=tf.float64))
