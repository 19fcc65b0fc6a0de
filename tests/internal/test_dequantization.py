"""tfnvp.internal.dequantization and tfnvp.internal.units."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfnvp.internal.dequantization import MAX_DEQUANTIZED_VALUE
from tfnvp.internal.dequantization import add_noise
from tfnvp.internal.dequantization import pixel_range_assertions
from tfnvp.internal.units import nats_to_bits_per_dim


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_noise_next_to_one_stays_in_the_pixels_interval(dtype):
  pixels = tf.constant([0.0, 1.0, 127.0, 128.0, 255.0], dtype)
  below_one = np.nextafter(np.array(1.0, dtype.as_numpy_dtype), 0)
  # Premise: without the clamp, x + u rounds up to x + 1 at the large x.
  assert (pixels.numpy() + below_one == pixels.numpy() + 1).any()
  out = add_noise(pixels, tf.constant(below_one, dtype)).numpy()
  np.testing.assert_array_equal(np.floor(out), pixels.numpy())
  assert out.dtype == dtype.as_numpy_dtype
  half = add_noise(pixels, tf.constant(0.5, dtype)).numpy()
  np.testing.assert_array_equal(half, pixels.numpy() + 0.5)


def test_the_largest_dequantized_value():
  out = add_noise(tf.constant(255.0), tf.constant(np.float32(0.9999999)))
  assert float(out) == MAX_DEQUANTIZED_VALUE < 256.0
  assert np.float32(MAX_DEQUANTIZED_VALUE) == np.nextafter(
      np.float32(256.0), np.float32(0.0))


def test_the_pixel_range_checks():
  # Eagerly a failing check raises at once.
  pixel_range_assertions(tf.constant([0.0, 1.5, MAX_DEQUANTIZED_VALUE]),
                         "out of range")
  for bad in (256.0, -1e-6, float("nan"), float("inf")):
    with pytest.raises(tf.errors.InvalidArgumentError, match="out of range"):
      pixel_range_assertions(tf.constant([1.0, bad]), "out of range")


def test_nats_to_bits_per_dim():
  assert nats_to_bits_per_dim(784 * math.log(2.0), 784) == pytest.approx(1.0)
  np.testing.assert_allclose(
      nats_to_bits_per_dim(np.array([0.0, 2.0 * math.log(2.0)]), 2), [0, 1])
