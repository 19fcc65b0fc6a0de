"""Weight-normalized 2-D convolution, the building block of the s/t networks."""

import math

import keras
import tensorflow as tf

from tfnvp.internal.checks import is_number

__all__ = ["WeightNormConv2D"]


@keras.saving.register_keras_serializable(package="tfnvp")
class WeightNormConv2D(keras.layers.Layer):
  """A `SAME`-padded 2-D convolution with weight normalization.

  The kernel is reparameterized as in Salimans & Kingma (2016):

  ```none
  w[..., o] = g[o] * v[..., o] / ||v[..., o]||_2
  y = conv2d(x, w) + bias
  ```

  where the norm runs over the spatial and input-channel axes of each output
  channel `o`. `v` starts He-normal and `g` at `sqrt(2)`, the expected norm
  of a He-normal filter, so the initial kernel has the He scale; `g` starts at
  zero with `zero_init=True`, which makes the layer output exactly
  `bias = 0` at initialization (used for the last layer of a coupling network,
  so that the coupling starts as the identity).

  Under a mixed dtype policy (`"mixed_bfloat16"`) the convolution computes
  in the policy's compute dtype; the kernel is normalized in the
  variables' dtype (float32) and then cast.

  Args:
    filters: Python `int`, number of output channels.
    kernel_size: Python `int`, side of the square kernel.
    zero_init: Python `bool`; if `True` the output is zero at initialization.
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).

  Raises:
    ValueError: if `filters` or `kernel_size` is not a positive integer.

  #### Examples

  ```python
  conv = WeightNormConv2D(64, 3)
  y = conv(tf.zeros([8, 28, 28, 1]))   # [8, 28, 28, 64]
  ```

  #### References

  [1]: Tim Salimans and Diederik P. Kingma. Weight Normalization: A Simple
       Reparameterization to Accelerate Training of Deep Neural Networks.
       NeurIPS 2016. https://arxiv.org/abs/1602.07868
  """

  def __init__(self, filters, kernel_size=3, zero_init=False, **kwargs):
    super().__init__(**kwargs)
    for arg, value in (("filters", filters), ("kernel_size", kernel_size)):
      if not is_number(value, int) or value < 1:
        raise ValueError(f"`{arg}` must be a positive int; got {value!r}.")
    self.filters = filters
    self.kernel_size = kernel_size
    self.zero_init = zero_init

  def build(self, input_shape):
    in_channels = input_shape[-1]
    if in_channels is None:
      raise ValueError(
          f"{self.name}: the channel dimension of the input must be known; "
          f"got input shape {input_shape}.")
    k = self.kernel_size
    self.v = self.add_weight(
        shape=(k, k, in_channels, self.filters),
        initializer=keras.initializers.HeNormal(),
        autocast=False, name="v")
    # He initialization gives E||v[..., o]||^2 = 2, so g = sqrt(2) keeps the
    # effective kernel at the He scale.
    g_init = "zeros" if self.zero_init else keras.initializers.Constant(
        math.sqrt(2.0))
    # The weights are read in their own dtype: the kernel's norm is computed
    # there, and only the kernel is cast to the compute dtype.
    self.g = self.add_weight(shape=(self.filters,), initializer=g_init,
                             autocast=False, name="g")
    self.bias = self.add_weight(shape=(self.filters,), initializer="zeros",
                                autocast=False, name="bias")

  def kernel(self):
    """Returns the effective kernel `g * v / ||v||`, in the variables' dtype."""
    v = tf.convert_to_tensor(self.v)
    inv_norm = tf.math.rsqrt(
        tf.reduce_sum(tf.square(v), axis=[0, 1, 2]) + 1e-12)
    return v * (self.g * inv_norm)

  def call(self, inputs):
    y = tf.nn.conv2d(inputs, tf.cast(self.kernel(), inputs.dtype), strides=1,
                     padding="SAME")
    return tf.nn.bias_add(y, tf.cast(self.bias, inputs.dtype))

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.filters,)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size,
                  zero_init=self.zero_init)
    return config
