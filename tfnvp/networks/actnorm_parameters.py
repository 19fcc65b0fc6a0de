"""Per-channel scale and bias of `tfnvp.bijectors.ActNorm`, and their state."""

import keras

from tfnvp.internal.checks import check_int

__all__ = ["ActNormParameters"]


class ActNormParameters(keras.layers.Layer):
  """Holds an actnorm's `bias` and `log_scale` (shape `[C]`) and whether
  they have been initialized from data.

  Bijectors hold no variables of their own: this layer owns them, so that a
  Keras model (its checkpoints, `fit`, distribution strategies and exports)
  sees them. `initialized` is a non-trainable `0.0`/`1.0` flag saved with
  the rest: a restored or exported actnorm is never initialized again.

  The aggregation of all three is `"mean"`: under `tf.distribute` every
  replica computes the same all-reduced statistics when it initializes, so
  the mirrored copies stay equal.

  Args:
    channels: Python `int >= 1`, number of channels (last axis of the data).
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).

  Raises:
    ValueError: if `channels` is not a positive int.
  """

  def __init__(self, channels, **kwargs):
    super().__init__(**kwargs)
    check_int("channels", channels, 1)
    self.channels = channels
    self.bias = self.add_weight(shape=(channels,), initializer="zeros",
                                aggregation="mean", name="bias")
    self.log_scale = self.add_weight(shape=(channels,), initializer="zeros",
                                     aggregation="mean", name="log_scale")
    self.initialized = self.add_weight(
        shape=(), initializer="zeros", trainable=False, aggregation="mean",
        name="initialized")
    self.built = True  # every weight exists: nothing for Keras to build

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels)
    return config
