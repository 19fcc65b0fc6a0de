"""Shape helpers shared by the per-channel bijectors."""

import tensorflow as tf

__all__ = ["num_pixels"]


def num_pixels(x, dtype):
  """`H * W` of a `[..., H, W, C]` tensor (its dynamic shape), as `dtype`.

  A per-channel map applied at every pixel has this many times the log-det
  of one pixel.
  """
  return tf.cast(tf.reduce_prod(tf.shape(x)[-3:-1]), dtype)
