"""tfnvp.internal.shapes: the image-shape check and batch folding."""

import re

import numpy as np
import pytest
import tensorflow as tf

from tfnvp.internal.shapes import check_image_shape
from tfnvp.internal.shapes import fold_batch
from tfnvp.internal.shapes import unfold_batch


def test_check_image_shape_returns_a_tuple():
  assert check_image_shape([28, 28, 1]) == (28, 28, 1)


@pytest.mark.parametrize("shape", [
    (28, 28), (28, 0, 1), (28.0, 28, 1), (True, 28, 1), None, "abc"])
def test_check_image_shape_refuses(shape):
  message = r"`image_shape` must be three positive ints \(H, W, C\); got "
  with pytest.raises(ValueError, match=message + re.escape(repr(shape))):
    check_image_shape(shape)


def test_fold_and_unfold_restore_any_batch_shape():
  x = tf.reshape(tf.range(2 * 3 * 4 * 5 * 2, dtype=tf.float32),
                 [2, 3, 4, 5, 2])
  folded, batch_shape = fold_batch(x)
  assert folded.shape == (6, 4, 5, 2)
  # A 1x1 "convolution" that doubles the channels: [N, H, W, 2] -> 4.
  outputs = tf.concat([folded, -folded], axis=-1)
  out = unfold_batch(outputs, batch_shape, x)
  assert out.shape == (2, 3, 4, 5, 4)
  np.testing.assert_array_equal(out[..., :2], x)
  np.testing.assert_array_equal(out[..., 2:], -x)


def test_unfold_keeps_the_static_shape_under_a_none_batch():
  @tf.function(input_signature=[tf.TensorSpec([None, 4, 5, 2])])
  def double(x):
    folded, batch_shape = fold_batch(x)
    out = unfold_batch(tf.concat([folded, folded], -1), batch_shape, x)
    assert out.shape.as_list() == [None, 4, 5, 4]
    return out

  assert double(tf.zeros([3, 4, 5, 2])).shape == (3, 4, 5, 4)
