"""Glow's activation normalization: a per-channel affine map, data-initialized."""

import tensorflow as tf

from tfnvp import networks
from tfnvp.internal.checks import check_int
from tfnvp.internal.image_bijector import TrainingModeBijector
from tfnvp.internal.layer_bijector import ChannelLayerBijector
from tfnvp.internal.shapes import num_pixels

__all__ = ["ActNorm"]


class ActNorm(ChannelLayerBijector, TrainingModeBijector):
  """Glow's actnorm [1]: per-channel scale and bias on `[H, W, C]` events.

  With per-channel `bias` and `log_scale` (shape `[C]`, `s = exp(log_scale)`):

  ```none
  forward(x) = (x + bias) * exp(log_scale)         # data to latent
  inverse(y) = y * exp(-log_scale) - bias
  forward_log_det_jacobian = H * W * sum_c log_scale_c   (= H W sum log|s|)
  ```

  Data-dependent initialization: with `training=True`, the first `forward`
  while `layer.initialized` is 0 sets, from that batch's per-channel mean
  and variance over the batch and spatial axes,

  ```none
  bias = -mean,   log_scale = -1/2 * log(var + epsilon)
  ```

  so that batch's output has zero mean and unit variance per channel, and
  sets `initialized` to 1; the output and log-det of that call already use
  the new values. Under `tf.distribute` the statistics are summed across
  replicas first, so every replica (and every worker) initializes to the
  global batch's values, as one device would. The flag is a variable: a
  restored checkpoint or an exported model is never initialized again.
  Later training calls keep the (trained) values. With `training=False`
  (the default: evaluation, sampling, export) the bijector is the fixed
  affine map of the current values.

  Args:
    channels: Python `int >= 1`, channels of the events (last axis).
    layer: a `tfnvp.networks.ActNormParameters` holding the variables, to
      share them (e.g. between training and inference copies), or `None` to
      create one.
    training: Python `bool`, see above.
    epsilon: Python `float > 0`, added to the variance at initialization
      (of a created `layer`; a given one has its own).
    validate_args: Python `bool`, whether to check arguments at run time.
    name: Python `str`, name of the bijector.

  Raises:
    ValueError: for a non-positive `channels`, a `layer` with another
      number of channels, a non-positive `epsilon`, and at call time for an
      input whose channels differ or whose rank is below 3.

  #### Examples

  ```python
  train_norm = tfnvp.bijectors.ActNorm(16, training=True)
  z = train_norm.forward(first_batch)   # initializes: z has zero mean, unit
                                        # variance per channel
  norm = tfnvp.bijectors.ActNorm(16, layer=train_norm.layer)  # same weights
  x = norm.inverse(z)
  ```

  #### References

  [1]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
       https://arxiv.org/abs/1807.03039
  """

  def __init__(self, channels, layer=None, training=False, epsilon=1e-6,
               validate_args=False, name="actnorm"):
    parameters = dict(locals())
    check_int("channels", channels, 1)
    layer = self._checked_layer(layer, channels, networks.ActNormParameters,
                                epsilon=epsilon, name=name)
    parameters["layer"] = layer
    with tf.name_scope(name) as name:
      self._channels = channels
      self._layer = layer
      super().__init__(training=training, validate_args=validate_args,
                       parameters=parameters, name=name)

  def _log_det(self, x_or_y, log_scale):
    return num_pixels(x_or_y, log_scale.dtype) * tf.reduce_sum(log_scale)

  def _augmented_forward(self, x):
    self._check_event(x)
    bias, log_scale = self._layer.values(
        x.dtype, x if self._training else None)
    y = (x + bias) * tf.exp(log_scale)
    return y, {"ildj": -self._log_det(x, log_scale)}

  def _augmented_inverse(self, y):
    self._check_event(y)
    bias, log_scale = self._layer.values(y.dtype)
    x = y * tf.exp(-log_scale) - bias
    return x, {"ildj": -self._log_det(y, log_scale)}
