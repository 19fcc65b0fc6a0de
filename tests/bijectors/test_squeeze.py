"""Squeeze: layout, the numerical kit, event shapes, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import bijectors


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("factor", [2, 3])
def test_numerical_kit(dtype, factor):
  squeeze = bijectors.Squeeze(factor)
  x = tf.random.stateless_normal([2, 2 * factor, 2 * factor, 2], [1, 2],
                                 dtype=dtype)
  y = tf.random.stateless_normal([2, 2, 2, 2 * factor**2], [3, 4],
                                 dtype=dtype)
  kit.check_bijector(squeeze, x, y)
  np.testing.assert_array_equal(
      squeeze.forward_log_det_jacobian(x, event_ndims=3), 0.0)


def test_layout_is_channel_major_then_block_position():
  x = np.arange(4 * 4 * 2, dtype=np.float32).reshape([1, 4, 4, 2])
  y = np.asarray(bijectors.Squeeze().forward(x))
  assert y.shape == (1, 2, 2, 8)
  for i, j, c, dy, dx in np.ndindex(2, 2, 2, 2, 2):
    assert y[0, i, j, c * 4 + dy * 2 + dx] == x[0, 2 * i + dy, 2 * j + dx, c]


def test_event_shapes_and_arbitrary_batch_shape():
  squeeze = bijectors.Squeeze()
  assert squeeze.forward_event_shape([28, 28, 1]).as_list() == [14, 14, 4]
  assert squeeze.inverse_event_shape([14, 14, 4]).as_list() == [28, 28, 1]
  np.testing.assert_array_equal(
      squeeze.forward_event_shape_tensor([6, 4, 3]), [3, 2, 12])
  np.testing.assert_array_equal(
      squeeze.inverse_event_shape_tensor([3, 2, 12]), [6, 4, 3])
  x = tf.random.normal([2, 3, 4, 4, 1])
  assert squeeze.forward(x).shape == (2, 3, 2, 2, 4)
  assert squeeze.forward(x[0, 0]).shape == (2, 2, 4)


@pytest.mark.parametrize("shape,match", [
    ([1, 5, 4, 1], "height=5 is not divisible by 2"),
    ([1, 4, 7, 1], "width=7 is not divisible by 2"),
])
def test_odd_image_size(shape, match):
  with pytest.raises(ValueError, match=match):
    bijectors.Squeeze().forward(tf.zeros(shape))
  with pytest.raises(ValueError, match=match):
    bijectors.Squeeze().forward_event_shape(shape[1:])


def test_inverse_needs_channels_divisible_by_factor_squared():
  with pytest.raises(ValueError, match="channels=6 is not divisible by 4"):
    bijectors.Squeeze().inverse(tf.zeros([1, 2, 2, 6]))


def test_odd_size_with_dynamic_shape_fails_at_run_time():
  squeeze = bijectors.Squeeze(validate_args=True)
  run = tf.function(squeeze.forward, input_signature=[
      tf.TensorSpec([None, None, None, 1], tf.float32)])
  with pytest.raises(tf.errors.InvalidArgumentError, match="height"):
    run(tf.zeros([1, 5, 4, 1]))


@pytest.mark.parametrize("factor", [1, 0, 2.0, True])
def test_invalid_factor(factor):
  with pytest.raises(ValueError, match=f"factor.*{factor!r}"):
    bijectors.Squeeze(factor)
