"""Uniform dequantization's interval: `x + u` kept inside `[x, x + 1)`."""

import numpy as np
import tensorflow as tf

__all__ = ["MAX_DEQUANTIZED_VALUE", "add_noise", "pixel_range_assertions"]

# Largest float32 value below 256: the largest dequantized 8-bit value.
MAX_DEQUANTIZED_VALUE = float(np.nextafter(np.float32(256.0), np.float32(0.0)))


def add_noise(pixels, noise):
  """`pixels + noise`, clamped to the largest float below `pixels + 1`.

  ```none
  add_noise(x, u) = min(x + u, nextafter(x + 1, x)),   u in [0, 1)
  ```

  In floating point `x + u` rounds up to exactly `x + 1` when `u` is within
  half a spacing at `x` of 1, which would put the value in the next pixel's
  interval (and, for `x = 255`, outside `[0, 256)`). The result always lies
  in `[x, x + 1)`, so `floor(add_noise(x, u)) == x`.

  Args:
    pixels: float `Tensor` of integer pixel values (`x + 1` exact).
    noise: float `Tensor` of values in `[0, 1)`, broadcastable with
      `pixels` and of their dtype.

  Returns:
    A `Tensor` of the broadcast shape.
  """
  return tf.minimum(pixels + noise, tf.math.nextafter(pixels + 1.0, pixels))


def pixel_range_assertions(x, message):
  """Run-time checks that `x` is finite and in `[0, 256)`, the range of
  dequantized 8-bit pixels (NaN fails both comparisons, infinities one).

  Args:
    x: float `Tensor`.
    message: the checks' error message.

  Returns:
    A list of assertion ops, for `tf.control_dependencies`.
  """
  return [tf.debugging.assert_greater_equal(x, tf.zeros([], x.dtype),
                                            message=message),
          tf.debugging.assert_less(x, tf.constant(256.0, x.dtype),
                                   message=message)]
