"""Per-channel moving mean and variance, the state of `tfnvp.bijectors.BatchNorm`."""

import keras

from tfnvp.internal.checks import is_number

__all__ = ["MovingMoments"]


@keras.saving.register_keras_serializable(package="tfnvp")
class MovingMoments(keras.layers.Layer):
  """Holds the moving per-channel mean and variance of a batch-norm bijector.

  Bijectors hold no variables of their own: this layer owns them, so that a
  Keras model (and its checkpoints, `fit`, distribution strategies and
  exports) sees them. The variables are not trainable; they are updated by
  `tfnvp.bijectors.BatchNorm` in training mode as

  ```none
  moving = momentum * moving + (1 - momentum) * batch_statistic
  ```

  Their aggregation is `"mean"`: under `tf.distribute` every replica computes
  the same all-reduced batch statistics, so the mirrored copies stay equal.

  Args:
    channels: Python `int`, number of channels (last axis of the data).
    momentum: Python `float` in `[0, 1)`, decay of the moving averages.
    epsilon: Python `float > 0`, added to the variance before normalizing.
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).

  Raises:
    ValueError: if an argument is out of range.

  #### Examples

  ```python
  moments = MovingMoments(channels=3)
  bn = tfnvp.bijectors.BatchNorm(moments, training=True)
  ```
  """

  def __init__(self, channels, momentum=0.95, epsilon=1e-4, **kwargs):
    super().__init__(**kwargs)
    if not is_number(channels, int) or channels < 1:
      raise ValueError(f"`channels` must be a positive int; got {channels!r}.")
    if not 0.0 <= momentum < 1.0:
      raise ValueError(f"`momentum` must be in [0, 1); got {momentum!r}.")
    if not epsilon > 0.0:
      raise ValueError(f"`epsilon` must be > 0; got {epsilon!r}.")
    self.channels = channels
    self.momentum = momentum
    self.epsilon = epsilon
    self.moving_mean = self.add_weight(
        shape=(channels,), initializer="zeros", trainable=False,
        aggregation="mean", autocast=False, name="moving_mean")
    self.moving_variance = self.add_weight(
        shape=(channels,), initializer="ones", trainable=False,
        aggregation="mean", autocast=False, name="moving_variance")
    self.built = True  # every weight exists: nothing for Keras to build

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, momentum=self.momentum,
                  epsilon=self.epsilon)
    return config
