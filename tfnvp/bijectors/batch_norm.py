"""Real NVP's batch-normalization bijector with moving statistics."""

import tensorflow as tf

from tfnvp.internal.image_bijector import TrainingModeBijector
from tfnvp.internal.moments import batch_moments
from tfnvp.internal.shapes import num_pixels

__all__ = ["BatchNorm"]


class BatchNorm(TrainingModeBijector):
  """Per-channel batch normalization as a bijector (section 3.7 of [1]).

  With per-channel statistics `mean`, `var` (shape `[C]`) and `eps`:

  ```none
  forward(x) = (x - mean) / sqrt(var + eps)
  inverse(y) = y * sqrt(var + eps) + mean
  forward_log_det_jacobian = -1/2 * H * W * sum_c log(var_c + eps)
  ```

  The log-det counts every position of the `[H, W, C]` event, as the same
  per-channel normalization is applied at each of the `H * W` positions.

  Which statistics are used:

  * `training=False` (inference, the default): both directions use the moving
    mean and variance held by `moments` (a `tfnvp.networks.MovingMoments`),
    so the bijector is a fixed affine map: `log_prob`, `sample`, exports.
  * `training=True`: `forward` (data to latent, the direction `log_prob` runs)
    uses the statistics of the batch it is given, over the batch and spatial
    axes, summed across replicas under `tf.distribute` (N replicas compute
    what one device computes on the same global batch), and updates the
    moving averages `moving = momentum * moving + (1 - momentum) * batch`.
    Gradients flow through the batch statistics. `inverse` has no batch to
    measure and uses the moving statistics, except when it inverts a tensor
    that `forward` produced, which TFP's cache maps back exactly.

  Args:
    moments: a `tfnvp.networks.MovingMoments` layer holding the moving
      statistics, `momentum` and `epsilon`.
    training: Python `bool`, see above.
    validate_args: Python `bool`, whether to check arguments at run time.
    name: Python `str`, name of the bijector.

  Raises:
    TypeError: if `moments` lacks `moving_mean`/`moving_variance`.
    ValueError: at call time, if the input's channels differ from
      `moments.channels` or its rank is below 3.

  #### Examples

  ```python
  moments = tfnvp.networks.MovingMoments(channels=4)
  train_bn = tfnvp.bijectors.BatchNorm(moments, training=True)
  z = train_bn.forward(x)               # batch statistics; moving stats move
  eval_bn = tfnvp.bijectors.BatchNorm(moments)       # same variables
  x_again = eval_bn.inverse(eval_bn.forward(x))
  ```

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, moments, training=False, validate_args=False,
               name="batch_norm"):
    parameters = dict(locals())
    for attr in ("moving_mean", "moving_variance", "momentum", "epsilon"):
      if not hasattr(moments, attr):
        raise TypeError("`moments` must be a tfnvp.networks.MovingMoments "
                        f"(missing `{attr}`); got {moments!r}.")
    with tf.name_scope(name) as name:
      self._moments = moments
      super().__init__(training=training, validate_args=validate_args,
                       parameters=parameters, name=name)

  @property
  def moments(self):
    return self._moments

  def _check_event(self, x):
    self._check_rank(x)
    channels = x.shape[-1]
    if channels is not None and channels != self._moments.channels:
      raise ValueError(
          f"{self.name}: input has channels={channels} but the moving "
          f"statistics have {self._moments.channels} (shape {x.shape}).")

  def _moving_statistics(self, dtype):
    return (tf.cast(self._moments.moving_mean, dtype),
            tf.cast(self._moments.moving_variance, dtype))

  def _update_moving_statistics(self, mean, var):
    momentum = self._moments.momentum
    for variable, value in ((self._moments.moving_mean, mean),
                            (self._moments.moving_variance, var)):
      value = tf.cast(tf.stop_gradient(value), variable.dtype)
      variable.assign(momentum * variable + (1.0 - momentum) * value)

  def _log_det(self, x_or_y, var):
    return -0.5 * num_pixels(x_or_y, var.dtype) * tf.reduce_sum(
        tf.math.log(var + self._moments.epsilon))

  def _augmented_forward(self, x):
    self._check_event(x)
    if self._training:
      mean, var = batch_moments(x)
      self._update_moving_statistics(mean, var)
    else:
      mean, var = self._moving_statistics(x.dtype)
    y = (x - mean) * tf.math.rsqrt(var + self._moments.epsilon)
    return y, {"ildj": -self._log_det(x, var)}

  def _augmented_inverse(self, y):
    self._check_event(y)
    mean, var = self._moving_statistics(y.dtype)
    x = y * tf.sqrt(var + self._moments.epsilon) + mean
    return x, {"ildj": -self._log_det(y, var)}

  def _forward_log_det_jacobian(self, x):
    self._check_event(x)
    if self._training:
      _, var = batch_moments(x)
    else:
      _, var = self._moving_statistics(x.dtype)
    return self._log_det(x, var)
