"""Per-channel scale and bias of `tfnvp.bijectors.ActNorm`, and their state."""

import keras
import tensorflow as tf

from tfnvp.internal.checks import check_int
from tfnvp.internal.moments import batch_moments

__all__ = ["ActNormParameters"]


@keras.saving.register_keras_serializable(package="tfnvp")
class ActNormParameters(keras.layers.Layer):
  """Holds an actnorm's `bias` and `log_scale` (shape `[C]`) and whether
  they have been initialized from data.

  Bijectors hold no variables of their own: this layer owns them, so that a
  Keras model (its checkpoints, `fit`, distribution strategies and exports)
  sees them. `initialized` is a non-trainable `0.0`/`1.0` flag saved with
  the rest: a restored or exported actnorm is never initialized again.

  `values(dtype, x)` returns the pair to use, initializing them from `x`
  first when `x` is given and they are not initialized yet:

  ```none
  bias = -mean(x),   log_scale = -1/2 * log(var(x) + epsilon)
  ```

  per channel over all other axes, summed across `tf.distribute` replicas.
  The aggregation of all three variables is `"mean"`: every replica computes
  the same all-reduced statistics, so the mirrored copies stay equal.

  Args:
    channels: Python `int >= 1`, number of channels (last axis of the data).
    epsilon: Python `float > 0`, added to the variance at initialization.
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).

  Raises:
    ValueError: if `channels` is not a positive int or `epsilon` not > 0.
  """

  def __init__(self, channels, epsilon=1e-6, **kwargs):
    super().__init__(**kwargs)
    check_int("channels", channels, 1)
    if not epsilon > 0:
      raise ValueError(f"`epsilon` must be > 0; got {epsilon!r}.")
    self.channels = channels
    self.epsilon = epsilon
    # Read in their own dtype (no autocasting under a mixed policy):
    # `values` casts them, and the initialization computes in it.
    self.bias = self.add_weight(shape=(channels,), initializer="zeros",
                                aggregation="mean", autocast=False,
                                name="bias")
    self.log_scale = self.add_weight(shape=(channels,), initializer="zeros",
                                     aggregation="mean", autocast=False,
                                     name="log_scale")
    self.initialized = self.add_weight(
        shape=(), initializer="zeros", trainable=False, aggregation="mean",
        autocast=False, name="initialized")
    self.built = True  # every weight exists: nothing for Keras to build

  def _initialize_once(self, x):
    """Assigns the data-dependent values unless already initialized.

    Once initialized, the batch reductions are skipped (`batch_moments`'s
    `skip`, a `tf.cond`), but the assignments run on every call and write
    the current values back: under a distribution strategy, mirrored
    variables cannot be assigned inside a conditional branch.
    """
    done = self.initialized > 0.5
    mean, var = batch_moments(tf.cast(x, self.bias.dtype), skip=done)
    updates = [
        self.bias.assign(tf.where(
            done, self.bias, tf.cast(-mean, self.bias.dtype))),
        self.log_scale.assign(tf.where(
            done, self.log_scale,
            tf.cast(-0.5 * tf.math.log(var + self.epsilon),
                    self.log_scale.dtype))),
    ]
    with tf.control_dependencies(updates):
      return [self.initialized.assign(tf.ones_like(self.initialized))]

  def values(self, dtype, x=None):
    """`(bias, log_scale)` as `dtype`; with `x`, initialized from it once.

    Args:
      dtype: dtype of the returned tensors.
      x: `None`, or a `[..., C]` batch (training): if the variables are not
        initialized yet they are set from its statistics first, and the
        returned values are the new ones.

    Returns:
      `(bias, log_scale)`, each of shape `[C]`.
    """
    updates = [] if x is None else self._initialize_once(x)
    with tf.control_dependencies(updates):
      return (tf.cast(tf.identity(self.bias), dtype),
              tf.cast(tf.identity(self.log_scale), dtype))

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, epsilon=self.epsilon)
    return config
