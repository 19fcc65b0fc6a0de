"""Shape checks and reshapes of `[..., H, W, C]` images."""

import tensorflow as tf

from tfnvp.internal.checks import is_number

__all__ = ["check_image_shape", "fold_batch", "num_pixels", "unfold_batch"]


def check_image_shape(image_shape):
  """`image_shape` as a tuple of three positive ints, or `ValueError`."""
  try:
    shape = tuple(image_shape)
  except TypeError:
    shape = None
  if shape is None or len(shape) != 3 or not all(
      is_number(d, int) and d > 0 for d in shape):
    raise ValueError("`image_shape` must be three positive ints (H, W, C); "
                     f"got {image_shape!r}.")
  return shape


def num_pixels(x, dtype):
  """`H * W` of a `[..., H, W, C]` tensor (its dynamic shape), as `dtype`.

  A per-channel map applied at every pixel has this many times the log-det
  of one pixel.
  """
  return tf.cast(tf.reduce_prod(tf.shape(x)[-3:-1]), dtype)


def fold_batch(inputs):
  """`[..., H, W, C]` as `[N, H, W, C]` (for convolutions, which take one
  batch axis), and the batch shape `...` that `unfold_batch` restores."""
  return (tf.reshape(inputs, tf.concat([[-1], tf.shape(inputs)[-3:]], 0)),
          tf.shape(inputs)[:-3])


def unfold_batch(outputs, batch_shape, inputs):
  """`[N, H, W, C']` outputs of `fold_batch(inputs)` as `[..., H, W, C']`,
  with the static shape of `inputs` but for the channels."""
  out = tf.reshape(outputs, tf.concat(
      [batch_shape, tf.shape(outputs)[1:]], axis=0))
  return tf.ensure_shape(out, inputs.shape[:-1].concatenate(
      outputs.shape[-1:]))
