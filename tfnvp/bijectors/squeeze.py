"""Squeeze: trade spatial resolution for channels, `[H, W, C] -> [H/f, W/f, C*f*f]`."""

import tensorflow as tf

from tfnvp.internal.checks import check_int
from tfnvp.internal.image_bijector import ImageBijector

__all__ = ["Squeeze"]


def _concat_shape(batch, event):
  """`batch + event` as a shape: a list if `batch` is static, else a tensor."""
  if isinstance(batch, list):
    return batch + event
  return tf.concat([batch, tf.stack(event)], axis=0)


class Squeeze(ImageBijector):
  """Real NVP's squeezing operation, a volume-preserving reshape.

  Every `f x f` block of pixels becomes one pixel with `f * f` times the
  channels (figure 3 of [1]):

  ```none
  forward:  x[i*f + dy, j*f + dx, c]  ->  y[i, j, c*f*f + dy*f + dx]
  inverse:  the reverse permutation
  forward_log_det_jacobian = 0
  ```

  The channel order (channel-major, then the row and column inside the block)
  is the one of Real NVP's reference implementation, so a channel-wise mask
  after a squeeze splits the original channels.

  Args:
    factor: Python `int >= 2`, side of the blocks.
    validate_args: Python `bool`; with dynamic shapes, check divisibility at
      run time (static shapes are always checked).
    name: Python `str`, name of the bijector.

  Raises:
    ValueError: if `factor` is not an int >= 2; at call time, if the height
      or width (forward) or the channels (inverse) are not divisible.

  #### Examples

  ```python
  squeeze = tfnvp.bijectors.Squeeze()
  squeeze.forward(tf.zeros([8, 28, 28, 1])).shape   # [8, 14, 14, 4]
  squeeze.forward_event_shape([28, 28, 1])          # [14, 14, 4]
  ```

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, factor=2, validate_args=False, name="squeeze"):
    parameters = dict(locals())
    check_int("factor", factor, 2)
    with tf.name_scope(name) as name:
      self._factor = factor
      super().__init__(forward_min_event_ndims=3, is_constant_jacobian=True,
                       validate_args=validate_args, parameters=parameters,
                       name=name)

  @property
  def factor(self):
    return self._factor

  def _check_divisible(self, values, labels, divisor, shape):
    """Static check, or run-time assertions under `validate_args`."""
    assertions = []
    for value, label in zip(values, labels):
      static = tf.get_static_value(value)
      if static is not None:
        if static % divisor:
          raise ValueError(
              f"{self.name}: {label}={int(static)} is not divisible by "
              f"{divisor} (shape {shape}).")
      elif self.validate_args:
        assertions.append(tf.debugging.assert_equal(
            value % divisor, 0,
            message=f"{self.name}: {label} is not divisible by {divisor}"))
    return assertions

  def _event_dims(self, x):
    self._check_rank(x)
    dynamic = tf.shape(x)
    dims = [d if d is not None else dynamic[i - 3]
            for i, d in enumerate(x.shape[-3:].as_list())]
    batch = x.shape[:-3]
    batch = batch.as_list() if batch.is_fully_defined() else dynamic[:-3]
    return batch, dims

  def _forward(self, x):
    f = self._factor
    batch, (height, width, channels) = self._event_dims(x)
    deps = self._check_divisible((height, width), ("height", "width"), f,
                                 x.shape)
    with tf.control_dependencies(deps):
      y = tf.reshape(x, [-1, height // f, f, width // f, f, channels])
    y = tf.transpose(y, [0, 1, 3, 5, 2, 4])
    return tf.reshape(y, _concat_shape(
        batch, [height // f, width // f, channels * f * f]))

  def _inverse(self, y):
    f = self._factor
    batch, (height, width, channels) = self._event_dims(y)
    deps = self._check_divisible((channels,), ("channels",), f * f, y.shape)
    with tf.control_dependencies(deps):
      x = tf.reshape(y, [-1, height, width, channels // (f * f), f, f])
    x = tf.transpose(x, [0, 1, 4, 2, 5, 3])
    return tf.reshape(x, _concat_shape(
        batch, [height * f, width * f, channels // (f * f)]))

  def _forward_log_det_jacobian(self, x):
    return tf.zeros([], dtype=x.dtype)

  def _forward_event_shape(self, input_shape):
    height, width, channels = input_shape[-3:]
    f = self._factor
    for label, dim in (("height", height), ("width", width)):
      if dim is not None and dim % f:
        raise ValueError(f"{self.name}: {label}={dim} is not divisible by {f} "
                         f"(event shape {input_shape}).")
    return input_shape[:-3].concatenate([
        None if height is None else height // f,
        None if width is None else width // f,
        None if channels is None else channels * f * f])

  def _forward_event_shape_tensor(self, input_shape):
    f = self._factor
    height, width, channels = input_shape[-3], input_shape[-2], input_shape[-1]
    return tf.concat([input_shape[:-3],
                      [height // f, width // f, channels * f * f]], axis=0)

  def _inverse_event_shape(self, output_shape):
    height, width, channels = output_shape[-3:]
    f = self._factor
    if channels is not None and channels % (f * f):
      raise ValueError(f"{self.name}: channels={channels} is not divisible by "
                       f"{f * f} (event shape {output_shape}).")
    return output_shape[:-3].concatenate([
        None if height is None else height * f,
        None if width is None else width * f,
        None if channels is None else channels // (f * f)])

  def _inverse_event_shape_tensor(self, output_shape):
    f = self._factor
    height, width, channels = (output_shape[-3], output_shape[-2],
                               output_shape[-1])
    return tf.concat([output_shape[:-3],
                      [height * f, width * f, channels // (f * f)]], axis=0)
