"""A class-conditional Gaussian prior as a standardizing bijector."""

import tensorflow as tf
from tensorflow_probability.python.internal import parameter_properties

from tfnvp import guidance as guidance_lib
from tfnvp.internal.layer_bijector import ChannelLayerBijector
from tfnvp.internal.shapes import num_pixels
from tfnvp.networks.labels import ClassGaussianParameters

__all__ = ["ClassPrior"]


class ClassPrior(ChannelLayerBijector):
  """Standardizes a per-class diagonal Gaussian on `[H, W, C]` events.

  With `(m_y, log s_y)` the rows of `labels` in a
  `tfnvp.networks.ClassGaussianParameters` (one value per channel, the same
  at every pixel, as Glow's `--ycond` prior [1]):

  ```none
  forward(x) = (x - m_y) * exp(-log s_y)
  inverse(z) = z * exp(log s_y) + m_y
  forward_log_det_jacobian(x) = -H W sum_c log s_y[c]
  ```

  Followed by a standard normal (the base of a `tfd.TransformedDistribution`
  over `forward`'s output), `x` has density `N(m_y, diag(s_y)^2)`: this is
  the label's Gaussian prior, written as a bijector so that it sits where
  the flow factors a part of its latent code out.

  The labels broadcast against the batch shape of `x`: labels `[n]` with
  `x` `[m, n, H, W, C]` give each of the `n` columns its own class, and
  labels `[K]` with `x` `[n, 1, H, W, C]` every class for every image (a
  `[n, K]` result). They are a batch parameter: the bijector's batch shape
  is theirs.

  Guidance (`guidance=w`, not `0`): `(m_y, log s_y)` are replaced by the
  normalized product `N(m_y, s_y^2)^(1+w) / N(m_null, s_null^2)^w` of
  `tfnvp.guidance.gaussian_guidance`, `null_label` indexing the
  unconditional Gaussian.

  Args:
    layer: the `tfnvp.networks.ClassGaussianParameters` that owns the
      per-label means and log-scales.
    labels: int `Tensor` (or array) of labels in `[0, layer.num_labels)`.
    guidance: Python number or scalar float `Tensor`, the guidance weight;
      a Python `0` (the default) skips guidance.
    null_label: Python `int`, the unconditional label; needed for guidance.
    validate_args: Python `bool`.
    name: Python `str`.

  Raises:
    TypeError: if `layer` is not a `ClassGaussianParameters`.
    ValueError: if guidance is asked for without `null_label`, or at call
      time for an input whose channels are not `layer.channels`.
    InvalidArgumentError: at call time, if the guided Gaussian is improper
      (see `tfnvp.guidance.gaussian_guidance`).

  #### Examples

  ```python
  table = tfnvp.networks.ClassGaussianParameters(num_labels=11, channels=2)
  prior = tfnvp.bijectors.ClassPrior(table, labels=[3, 7])
  eps = prior.forward(z)                     # z: [2, 7, 7, 2]
  ```

  #### References

  [1]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
       https://arxiv.org/abs/1807.03039
  """

  def __init__(self, layer, labels, guidance=0.0, null_label=None,
               validate_args=False, name="class_prior"):
    parameters = dict(locals())
    if not isinstance(layer, ClassGaussianParameters):
      raise TypeError("`layer` must be a tfnvp.networks."
                      f"ClassGaussianParameters; got {layer!r}.")
    if not guidance_lib.is_unguided(guidance) and null_label is None:
      raise ValueError(f"{name}: guidance needs `null_label`; got guidance="
                       f"{guidance!r}.")
    with tf.name_scope(name) as name:
      self._layer = layer
      self._channels = layer.channels
      self._labels = labels
      self._guidance = guidance
      self._null_label = null_label
      super().__init__(forward_min_event_ndims=3, is_constant_jacobian=True,
                       validate_args=validate_args, parameters=parameters,
                       name=name)

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict(
        labels=parameter_properties.ParameterProperties(
            event_ndims=0, is_preferred=False,
            default_constraining_bijector_fn=(
                parameter_properties.BIJECTOR_NOT_IMPLEMENTED)),
        guidance=parameter_properties.ParameterProperties(
            event_ndims=0, is_preferred=False,
            default_constraining_bijector_fn=(
                parameter_properties.BIJECTOR_NOT_IMPLEMENTED)))

  def _get_parameterization(self):
    # Each instance is its own cache identity, as `FactorOut`'s: its
    # parameters hold a Keras layer and labels that may be arrays.
    return id(self)

  @property
  def labels(self):
    return self._labels

  @property
  def guidance(self):
    return self._guidance

  @property
  def null_label(self):
    return self._null_label

  def loc_and_log_scale(self):
    """`(m, log s)` of the (guided) Gaussians, `[..., 1, 1, C]`."""
    loc, log_scale = self._layer.values(self._labels)
    if not guidance_lib.is_unguided(self._guidance):
      null_loc, null_log_scale = self._layer.values(self._null_label)
      loc, log_scale = guidance_lib.gaussian_guidance(
          loc, log_scale, null_loc, null_log_scale, self._guidance)
    return loc[..., tf.newaxis, tf.newaxis, :], log_scale[
        ..., tf.newaxis, tf.newaxis, :]

  def _forward(self, x):
    self._check_event(x)
    loc, log_scale = self.loc_and_log_scale()
    return (x - loc) * tf.exp(-log_scale)

  def _inverse(self, y):
    self._check_event(y)
    loc, log_scale = self.loc_and_log_scale()
    return y * tf.exp(log_scale) + loc

  def _log_det(self, x):
    """`H W sum_c log s[c]`, the inverse's log-determinant at any point."""
    _, log_scale = self.loc_and_log_scale()
    return num_pixels(x, log_scale.dtype) * tf.reduce_sum(
        log_scale, axis=[-3, -2, -1])

  def _forward_log_det_jacobian(self, x):
    return -self._log_det(x)

  def _inverse_log_det_jacobian(self, y):
    return self._log_det(y)
