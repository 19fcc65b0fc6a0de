"""Base of bijectors whose weights live in one Keras layer, per channel."""

from tfnvp.internal.image_bijector import ImageBijector

__all__ = ["ChannelLayerBijector"]


class ChannelLayerBijector(ImageBijector):
  """A bijector on `[..., H, W, channels]` events whose weights a Keras
  layer owns (`layer`); exposes them as `trainable_variables`/`variables`.

  Subclasses set `self._channels` and `self._layer` (from `_checked_layer`)
  before calling `super().__init__` and call `_check_event` on their inputs.
  """

  @staticmethod
  def _checked_layer(layer, channels, layer_class, **kwargs):
    """`layer`, or `layer_class(channels, **kwargs)` if it is None;
    `ValueError` for a layer with another number of channels."""
    if layer is None:
      return layer_class(channels, **kwargs)
    if getattr(layer, "channels", None) != channels:
      raise ValueError(
          f"`layer` must be a tfnvp.networks.{layer_class.__name__} with "
          f"channels={channels}; got {layer!r} with channels="
          f"{getattr(layer, 'channels', None)!r}.")
    return layer

  @property
  def channels(self):
    return self._channels

  @property
  def layer(self):
    """The Keras layer that owns the weights."""
    return self._layer

  @property
  def trainable_variables(self):
    return tuple(self._layer.trainable_variables)

  @property
  def variables(self):
    return tuple(self._layer.variables)

  def _check_event(self, x):
    """`_check_rank`, and `ValueError` for another number of channels."""
    self._check_rank(x)
    if x.shape[-1] is not None and x.shape[-1] != self._channels:
      raise ValueError(f"{self.name}: input has channels={x.shape[-1]}, "
                       f"expected {self._channels} (shape {x.shape}).")
