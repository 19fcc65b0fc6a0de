"""Glow's invertible 1x1 convolution: a learned mixing of the channels."""

import tensorflow as tf

from tfnvp import networks
from tfnvp.internal.checks import check_int
from tfnvp.internal.layer_bijector import ChannelLayerBijector
from tfnvp.internal.shapes import num_pixels

__all__ = ["InvertibleConv1x1"]


class InvertibleConv1x1(ChannelLayerBijector):
  """Glow's invertible 1x1 convolution [1] on `[H, W, C]` events.

  With a `C x C` matrix `W` (see `tfnvp.networks.InvertibleConv1x1Parameters`
  for its LU-decomposed and plain parameterizations), at every pixel:

  ```none
  forward(x)[h, w] = W @ x[h, w]          # data to latent
  inverse(y)[h, w] = W^-1 @ y[h, w]
  forward_log_det_jacobian = H * W * log|det W|
                           = H * W * sum(log|s|)     (LU: W = P L (U + diag s))
  ```

  `W` starts as a random rotation (`log|det W| = 0`), so an untrained
  convolution permutes and mixes the channels without changing volume: a
  learned generalization of Real NVP's fixed channel reversal.

  Args:
    channels: Python `int >= 1`, channels of the events (last axis).
    layer: a `tfnvp.networks.InvertibleConv1x1Parameters` holding the
      weights, to share them, or `None` to create one.
    lu_decomposed: Python `bool`; parameterization of a created `layer`
      (`True`, the default, is Glow's LU form).
    seed: Python `int` or `None`; seed of a created `layer`'s rotation.
    validate_args: Python `bool`, whether to check arguments at run time.
    name: Python `str`, name of the bijector.

  Raises:
    ValueError: for a non-positive `channels`, a `layer` with another
      number of channels, and at call time for an input whose channels
      differ or whose rank is below 3.

  #### Examples

  ```python
  mix = tfnvp.bijectors.InvertibleConv1x1(16, seed=1)
  z = mix.forward(x)                     # x: [batch, H, W, 16]
  mix.trainable_variables                # [lower_upper]
  ```

  #### References

  [1]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
       https://arxiv.org/abs/1807.03039
  """

  def __init__(self, channels, layer=None, lu_decomposed=True, seed=None,
               validate_args=False, name="invertible_conv1x1"):
    parameters = dict(locals())
    check_int("channels", channels, 1)
    layer = self._checked_layer(
        layer, channels, networks.InvertibleConv1x1Parameters,
        lu_decomposed=lu_decomposed, seed=seed, name=name)
    parameters["layer"] = layer
    with tf.name_scope(name) as name:
      self._channels = channels
      self._layer = layer
      super().__init__(forward_min_event_ndims=3, validate_args=validate_args,
                       parameters=parameters, name=name)

  def _mix(self, x, matrix):
    # out[..., c] = sum_d matrix[c, d] x[..., d] at every pixel: a 1x1
    # convolution, computed as one matrix product.
    return tf.tensordot(x, matrix, [[-1], [1]])

  def _forward(self, x):
    self._check_event(x)
    return self._mix(x, self._layer.matrix(x.dtype))

  def _inverse(self, y):
    self._check_event(y)
    return self._mix(y, tf.linalg.inv(self._layer.matrix(y.dtype)))

  def _log_det(self, x_or_y):
    return (num_pixels(x_or_y, x_or_y.dtype) *
            self._layer.log_abs_det(x_or_y.dtype))

  def _forward_log_det_jacobian(self, x):
    self._check_event(x)
    return self._log_det(x)

  def _inverse_log_det_jacobian(self, y):
    self._check_event(y)
    return -self._log_det(y)
