"""Sampling a flow at a temperature, and turning samples into 8-bit images."""

import math
import numbers

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfnvp.internal.checks import check_sample_shape
from tfnvp.internal.checks import is_number

__all__ = ["sample_at_temperature", "to_uint8"]


def sample_at_temperature(distribution, sample_shape=(), temperature=1.0,
                          seed=None):
  """Samples `bijector(T * z)`, `z` drawn from the base distribution.

  A `tfd.TransformedDistribution` samples `x = bijector(z)`, `z ~ base`. At
  temperature `T` the base draw is scaled first:

  ```none
  x = bijector(T * z),   z ~ base
  ```

  For the standard Gaussian base of `tfnvp.RealNVP` this samples `N(0, T^2
  I)` in latent space; `T < 1` trades diversity for cleaner images
  (section 5 of [1]). `T = 1` gives the same draws as `distribution.sample`
  with the same seed.

  A class-conditional flow given labels (`flow.given(labels)`, batch shape
  `[n]`) draws one image per label: the base is broadcast to the batch
  shape, as `sample` does, and each Gaussian prior of the labels (a
  `tfnvp.bijectors.ClassPrior` after the base) keeps its mean while its
  spread is scaled by `T`, as in Glow's code. The conditional flow itself
  (the marginal over its classes) is refused: give it labels first.

  Args:
    distribution: a `tfd.TransformedDistribution` with a zero-centred base,
      e.g. `tfnvp.RealNVP`.
    sample_shape: shape of the sample, as for `sample`: ints >= 0 (`0`
      gives an empty batch).
    temperature: a finite Python `float` > 0, or a scalar float `Tensor`
      (checked when the sample is drawn: an `InvalidArgumentError` unless
      finite and > 0).
    seed: a TFP seed (`int` or stateless `[2]` tensor), as for `sample`.

  Returns:
    samples: `Tensor` of shape `sample_shape + batch_shape + event_shape`.

  Raises:
    ValueError: if a Python `temperature` is not a finite real number > 0,
      `sample_shape` holds a negative or non-integer entry, or
      `distribution` is a class-conditional flow without labels.
    InvalidArgumentError: if a `Tensor` `temperature` is not finite and > 0.

  #### Examples

  ```python
  flow = tfnvp.RealNVP((28, 28, 1))
  images = tfnvp.to_uint8(
      tfnvp.sample_at_temperature(flow, 64, temperature=0.7, seed=[1, 2]))
  ```

  #### References

  [1]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
  """
  if tf.is_tensor(temperature):
    temperature = tf.debugging.assert_all_finite(
        temperature, "`temperature` must be finite and > 0")
    check = tf.debugging.Assert(
        temperature > 0, ["`temperature` must be finite and > 0; got",
                          temperature])
    with tf.control_dependencies([check]):
      temperature = tf.identity(temperature)
  elif (not is_number(temperature, numbers.Real) or
        not (math.isfinite(temperature) and temperature > 0)):
    raise ValueError(
        f"`temperature` must be a finite real number > 0; got "
        f"{temperature!r}.")
  if getattr(distribution, "num_classes", None) is not None:
    raise ValueError(
        "`distribution` is a class-conditional flow (num_classes="
        f"{distribution.num_classes}): sample at a temperature from "
        "`distribution.given(labels)`.")
  shape = check_sample_shape(sample_shape)
  if shape is not None and 0 in shape:
    return distribution.sample(shape, seed=seed)     # an empty batch
  z = _base_with_batch_shape(distribution).sample(sample_shape, seed=seed)
  return distribution.bijector.forward(tf.cast(temperature, z.dtype) * z)


def _base_with_batch_shape(distribution):
  """The base distribution, broadcast to the batch shape of `distribution`
  where the bijector widens it (as `TransformedDistribution.sample` does):
  a `ConditionedFlow`'s labels give it its batch."""
  base = distribution.distribution
  batch_shape = distribution.batch_shape
  if batch_shape.is_fully_defined() and base.batch_shape == batch_shape:
    return base
  if not batch_shape.is_fully_defined():
    batch_shape = distribution.batch_shape_tensor()
  return tfd.BatchBroadcast(base, with_shape=batch_shape)


def to_uint8(images):
  """Continuous pixels to 8-bit images: `floor(x)` clipped to `[0, 255]`.

  The inverse of uniform dequantization (`x = pixel + u`, `u ~ U[0, 1)`):
  a sample in `[k, k + 1)` becomes pixel `k`. Samples outside `[0, 256)`
  are clipped to the nearest valid pixel. NaN raises.

  Args:
    images: float `Tensor` of pixel values.

  Returns:
    A `uint8` `Tensor` of the same shape.

  Raises:
    InvalidArgumentError: if `images` holds NaN.
  """
  images = tf.convert_to_tensor(images)
  images = tf.debugging.assert_all_finite(
      tf.clip_by_value(images, 0.0, 255.0),
      "`images` contain NaN: the model or its sampler produced NaN")
  return tf.cast(tf.floor(images), tf.uint8)
