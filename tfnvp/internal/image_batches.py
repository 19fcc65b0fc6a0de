"""Checks of the image batches a `tfnvp.FlowModel` takes, made before any of
its state changes.

`check_batch_spec` and `check_input` check what is known without running
anything (a dtype, a static shape, an empty array or dataset) and raise
`TypeError`/`ValueError`. `checked_images` adds run-time assertions for
what only the values tell, or the shape once Keras has traced the step with
unknown dimensions, and returns the images with those assertions as control
dependencies: whatever is computed from them runs only after the checks.
Every message names the argument and the value or shape received.
"""

import tensorflow as tf

__all__ = ["check_batch_spec", "check_input", "checked_images"]

_PASS = ("Pass the 8-bit pixels as uint8, or floats in [0, 256) (the pixels "
         "plus dequantization noise in [0, 1)).")


def _expected(image_shape):
  return f"[batch, {', '.join(map(str, image_shape))}]"


def _shape_hint(shape, image_shape):
  if (shape.rank == 3 and image_shape[2] == 1 and
      shape[1:].is_compatible_with(image_shape[:2])):
    return " The channel axis is missing: add it (`images[..., None]`)."
  if shape.rank == 3 and shape.is_compatible_with(image_shape):
    return (" That is one image, or a dataset of single images: add the batch "
            "axis (`images[None]`, or `dataset.batch(n)`).")
  return ""


def check_batch_spec(name, shape, dtype, image_shape):
  """Checks the static dtype and shape of a batch of images.

  Args:
    name: the argument's name, for the messages.
    shape: a `tf.TensorShape` (or list) `[batch, H, W, C]`, possibly
      partly or wholly unknown.
    dtype: its dtype.
    image_shape: the flow's `(H, W, C)`.

  Raises:
    TypeError: for a dtype that is neither integer nor floating (`bool`
      included).
    ValueError: for a known rank other than 4, image dimensions that differ
      from `image_shape`, or a known batch size of 0.
  """
  try:
    tf_dtype = tf.as_dtype(dtype)
  except TypeError:
    tf_dtype = None
  if tf_dtype is None or tf_dtype == tf.bool or not (
      tf_dtype.is_integer or tf_dtype.is_floating):
    raise TypeError(
        f"`{name}` must hold images as uint8 pixels, integers in [0, 255] or "
        f"floats; got dtype {getattr(dtype, 'name', dtype)}.")
  shape = tf.TensorShape(shape)
  if shape.rank is None:
    return
  if shape.rank != 4 or not shape[1:].is_compatible_with(image_shape):
    raise ValueError(
        f"`{name}` must be a batch of images of shape "
        f"{_expected(image_shape)}; got shape {shape}."
        f"{_shape_hint(shape, image_shape)}")
  if shape[0] == 0:
    raise ValueError(f"`{name}` holds no images: got shape {shape}.")


def check_input(name, x, image_shape):
  """Checks the input of `fit`, `evaluate`, `predict` or `train_on_batch`.

  Arrays and tensors (`[n, H, W, C]`) and `tf.data` datasets (their element,
  or its first component for `(images, labels)`) are checked with
  `check_batch_spec`; a dataset known to be empty is refused. Other inputs
  (generators, `keras.utils.PyDataset`, distributed datasets) are checked
  batch by batch when they run.

  Raises:
    TypeError, ValueError: see `check_batch_spec`; `ValueError` for an empty
      array or dataset.
  """
  if isinstance(x, tf.data.Dataset):
    if int(x.cardinality()) == 0:
      raise ValueError(f"`{name}` is an empty dataset: it yields no batches.")
    spec = x.element_spec
    if isinstance(spec, (tuple, list)) and spec:
      spec = spec[0]
    if isinstance(spec, tf.TensorSpec):
      check_batch_spec(name, spec.shape, spec.dtype, image_shape)
    return
  shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
  if shape is None or dtype is None:
    return
  check_batch_spec(name, tuple(shape), dtype, image_shape)


def _assertion(ok, message):
  """An assertion that `ok` holds, with `message` (a string tensor).

  Eagerly it raises at once; in a graph it returns the assertion op.
  """
  if tf.executing_eagerly():
    if not bool(ok):
      raise tf.errors.InvalidArgumentError(None, None,
                                           message.numpy().decode())
    return None
  return tf.debugging.Assert(ok, [message])


def _shape_assertion(name, images, image_shape):
  """Rank 4, the image dimensions and a batch of at least one image, for an
  input whose static shape does not tell."""
  shape = tf.shape(images)
  # Padded, so that a shorter shape compares unequal instead of failing.
  padded = tf.concat([shape, tf.fill([4], -1)], axis=0)
  ok = (tf.equal(tf.size(shape), 4) & (padded[0] > 0) &
        tf.reduce_all(tf.equal(padded[1:4], image_shape)))
  return _assertion(ok, tf.strings.format(
      f"`{name}` must be a batch of at least one image of shape "
      f"{_expected(image_shape)}; got shape {{}}.", [shape]))


def _integer_assertion(name, images):
  # As float64: exact up to 2**53, beyond which values are out of range
  # anyway; compared in their own type, 255 would not fit an int8.
  low = tf.cast(tf.reduce_min(images), tf.float64)
  high = tf.cast(tf.reduce_max(images), tf.float64)
  ok = (low >= 0) & (high <= 255)
  return _assertion(ok, tf.strings.format(
      f"`{name}` holds {images.dtype.name} images outside [0, 255] (min {{}}, "
      "max {}): integer images must be 8-bit pixel values.", [low, high]))


def _finite_assertion(name, images):
  bad = tf.logical_not(tf.math.is_finite(images))
  count = tf.reduce_sum(tf.cast(bad, tf.int64))
  return _assertion(tf.equal(count, 0), tf.strings.format(
      f"`{name}` holds NaN or inf in {{}} of its {{}} values (shape {{}}): "
      "images must be finite.", [count, tf.size(images), tf.shape(images)]))


def _pixel_range_assertion(name, images):
  low, high = tf.reduce_min(images), tf.reduce_max(images)
  reason = tf.where(
      low < 0, "holds negative values: the images look standardized, not "
      "8-bit pixels",
      tf.where(high >= 256, "holds values of 256 or more, outside [0, 256), "
               "the range of dequantized 8-bit pixels",
               "holds no value above 1: the images look scaled to [0, 1], "
               "not 8-bit pixels"))
  ok = (low >= 0) & (high < 256) & (high > 1)
  return _assertion(ok, tf.strings.join([
      f"`{name}` ", reason,
      tf.strings.format(" (min {}, max {}). ", [low, high]), _PASS]))


def checked_images(name, images, image_shape, dtype, pixel_range):
  """`images` as a float tensor `[batch, H, W, C]`, after every check.

  Static checks (`check_batch_spec`) raise at once. Run-time checks, which
  the returned tensor depends on (eagerly they raise at once):

  * the shape, where the static shape leaves it open (Keras traces a step
    again with unknown dimensions when the input's shape changes): rank 4,
    `image_shape`, a batch of at least one image;
  * integers other than `uint8`: values in `[0, 255]` (they are then
    converted exactly);
  * floats: finite and, with `pixel_range`, in `[0, 256)` and not all in
    `[0, 1]` (images scaled to `[0, 1]` or standardized are refused with a
    message that says so).

  The result has the static shape `[batch, H, W, C]`.

  Args:
    name: the argument's name, for the messages.
    images: a tensor or array of images.
    image_shape: the flow's `(H, W, C)`.
    dtype: the float dtype to return.
    pixel_range: Python `bool`, whether float images must be dequantized
      8-bit pixels (training a flow whose support is pixels).

  Returns:
    A float `Tensor` of `dtype`.

  Raises:
    TypeError, ValueError: see `check_batch_spec`.
  """
  images = tf.convert_to_tensor(images)
  check_batch_spec(name, images.shape, images.dtype, image_shape)
  if not images.shape.is_fully_defined():
    # First: the value checks below reduce over the four axes.
    images = _after([_shape_assertion(name, images, image_shape)], images)
    images = tf.ensure_shape(
        images, images.shape.merge_with([None, *image_shape]))
  checks = []
  integer = images.dtype.is_integer
  if integer and images.dtype != tf.uint8:
    checks.append(_integer_assertion(name, images))
  images = tf.cast(images, dtype)
  if not integer:
    checks.append(_finite_assertion(name, images))
    if pixel_range:
      checks.append(_pixel_range_assertion(name, images))
  return _after(checks, images)


def _after(checks, images):
  """`images`, computed after `checks` (assertions, or `None` eagerly)."""
  checks = [c for c in checks if c is not None]
  if not checks:
    return images
  with tf.control_dependencies(checks):
    return tf.identity(images)
