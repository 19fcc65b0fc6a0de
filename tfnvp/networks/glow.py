"""Glow's coupling network and its learned prior at each split."""

import keras
import tensorflow as tf

from tfnvp.internal.checks import check_int
from tfnvp.internal.checks import is_number
from tfnvp.internal.shapes import fold_batch
from tfnvp.internal.shapes import unfold_batch
from tfnvp.networks.actnorm_parameters import ActNormParameters
from tfnvp.networks.labels import LabelEmbedding
from tfnvp.networks.labels import fold_labelled_batch

__all__ = ["COUPLINGS", "GlowCouplingNetwork", "GlowSplitPrior", "ZeroConv2D"]

COUPLINGS = ("affine", "additive")


@keras.saving.register_keras_serializable(package="tfnvp")
class ZeroConv2D(keras.layers.Layer):
  """Glow's zero-initialized output convolution: `conv(x) * exp(3 * logs)`.

  Kernel, bias and the per-channel `logs` start at zero, so the output is
  zero until training moves them; the factor 3 speeds up the learning of
  the output scale, as in Glow [1]. The output is in the variables' dtype
  (float32 under a mixed policy, whose compute dtype the convolution uses):
  this layer is the head of Glow's networks.

  Args:
    filters: Python `int >= 1`, output channels.
    kernel_size: Python `int`, odd (padding `SAME`).
    **kwargs: forwarded to `keras.layers.Layer`.

  #### References

  [1]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
       https://arxiv.org/abs/1807.03039
  """

  def __init__(self, filters, kernel_size=3, **kwargs):
    super().__init__(**kwargs)
    check_int("filters", filters, 1)
    self.filters = filters
    self.kernel_size = kernel_size
    self.conv = keras.layers.Conv2D(filters, kernel_size, padding="same",
                                    kernel_initializer="zeros",
                                    dtype=self.dtype_policy)
    self.logs = self.add_weight(shape=(filters,), initializer="zeros",
                                autocast=False, name="logs")

  def build(self, input_shape):
    self.conv.build(input_shape)

  def call(self, inputs):
    return tf.cast(self.conv(inputs), self.logs.dtype) * tf.exp(
        3.0 * self.logs)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size)
    return config


@keras.saving.register_keras_serializable(package="tfnvp")
class GlowCouplingNetwork(keras.layers.Layer):
  """The `(shift, log_scale)` network of Glow's affine coupling [1].

  Given the half `x_p` that the coupling passes through (`[..., H, W,
  channels]`, half of the coupling's channels):

  ```none
  h = relu(actnorm(conv3x3(x_p)))            # hidden_channels
      (with num_labels: relu(actnorm(conv3x3(x_p) + embedding[y])), label y)
  h = relu(actnorm(conv1x1(h)))
  shift, raw = split(ZeroConv2D(3x3)(h), 2)  # coupling="affine", channels each
  log_scale = b * tanh(log(sigmoid(raw + 2)) / b)   # in (-b, 0]
  shift = ZeroConv2D(3x3)(h); log_scale = 0  # coupling="additive"
  ```

  Glow's scale is `sigmoid(raw + 2)`, in `(0, 1)`; sampling runs the
  coupling backwards and divides by it. Its log is unbounded below, and a
  ReLU network's output grows linearly with its input, so on an input
  outside the training data (a latent draw the model does not yet map
  back to an image) the inverse amplifies by `exp(|raw|)`, the next
  coupling sees a larger input still, and the samples overflow. The soft
  bound `b` (`log_scale_bound`, default 4: at most `e^4` per coupling,
  as Real NVP's `tanh` bounds its log-scale) keeps the inverse finite; it
  leaves Glow's map nearly unchanged where `|log_scale| << b`, at
  initialization (`log(sigmoid(2)) = -0.127`) and in the bulk of the
  data.

  With `tfnvp.bijectors.AffineCoupling("channel", parity, net)` on `2 *
  channels` channels this is Glow's coupling on channel halves. The output
  convolution starts at zero, so at initialization `shift = 0` and the
  scale is `sigmoid(2)` (0.88) for the affine coupling, 1 for the additive
  one. The two actnorms initialize from the first training batch
  (`tfnvp.networks.ActNormParameters`), in training mode only.

  With `num_labels`, the network is class-conditional: `call(x, labels=y)`
  adds a learned vector per label (`tfnvp.networks.LabelEmbedding`,
  zero-initialized) to the first convolution's output; the labels' shape
  broadcasts with the batch shape of `x`.

  Under a mixed dtype policy (`dtype="mixed_bfloat16"` or
  `"mixed_float16"`) the convolutions and actnorms compute in the low
  precision; the output layer's scale, the log-scale bound and the
  returned pair are in the variables' dtype (float32).

  Args:
    channels: Python `int >= 1`, channels of the network's input and of
      `shift`/`log_scale` (half of the coupling's).
    hidden_channels: Python `int >= 1`, width of the network.
    coupling: `"affine"` (default) or `"additive"`.
    log_scale_bound: Python `float > 0`, the soft bound `b` of the affine
      coupling's log-scale.
    num_labels: Python `int >= 1`, labels of a class-conditional network
      (the classes and the null label), or `None`.
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).

  Raises:
    ValueError: for a non-positive size or bound, or an unknown `coupling`.

  #### References

  [1]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
       https://arxiv.org/abs/1807.03039
  """

  def __init__(self, channels, hidden_channels=512, coupling="affine",
               log_scale_bound=4.0, num_labels=None, **kwargs):
    super().__init__(**kwargs)
    check_int("channels", channels, 1)
    check_int("hidden_channels", hidden_channels, 1)
    check_int("num_labels", num_labels, 1, optional=True)
    if coupling not in COUPLINGS:
      raise ValueError(f"`coupling` must be one of {COUPLINGS}; got "
                       f"{coupling!r}.")
    if (not is_number(log_scale_bound) or
        not 0 < log_scale_bound < float("inf")):
      raise ValueError("`log_scale_bound` must be a finite number > 0; got "
                       f"{log_scale_bound!r}.")
    self.channels = channels
    self.hidden_channels = hidden_channels
    self.coupling = coupling
    self.log_scale_bound = float(log_scale_bound)
    self.num_labels = num_labels
    policy = self.dtype_policy
    self.conv_in = keras.layers.Conv2D(
        hidden_channels, 3, padding="same", use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.05),
        dtype=policy)
    self.norm_in = ActNormParameters(hidden_channels, dtype=policy)
    self.conv_hidden = keras.layers.Conv2D(
        hidden_channels, 1, use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.05),
        dtype=policy)
    self.norm_hidden = ActNormParameters(hidden_channels, dtype=policy)
    # The additive coupling has no scale: its output is the shift alone.
    self.conv_out = ZeroConv2D(
        channels if coupling == "additive" else 2 * channels, 3, dtype=policy)
    if num_labels is not None:
      self.label_embedding = LabelEmbedding(num_labels, hidden_channels,
                                            dtype=policy)

  def build(self, input_shape):
    input_shape = (None,) + tuple(input_shape[-3:])   # `call` folds batches
    self.conv_in.build(input_shape)
    hidden_shape = input_shape[:-1] + (self.hidden_channels,)
    self.conv_hidden.build(hidden_shape)
    self.conv_out.build(hidden_shape)

  def _actnorm_relu(self, norm, h, training):
    bias, log_scale = norm.values(h.dtype, h if training else None)
    return tf.nn.relu((h + bias) * tf.exp(log_scale))

  def call(self, inputs, labels=None, training=False):
    h, labels, batch_shape, inputs = fold_labelled_batch(
        inputs, labels, self.num_labels, self.name)
    h = self.conv_in(h)
    if labels is not None:
      h = self.label_embedding(h, labels)
    h = self._actnorm_relu(self.norm_in, h, training)
    h = self._actnorm_relu(self.norm_hidden, self.conv_hidden(h), training)
    out = unfold_batch(self.conv_out(h), batch_shape, inputs)
    if self.coupling == "additive":
      return out, tf.zeros_like(out)
    shift, raw = tf.split(out, 2, axis=-1)
    bound = tf.cast(self.log_scale_bound, raw.dtype)
    return shift, bound * tf.tanh(tf.math.log_sigmoid(raw + 2.0) / bound)

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, hidden_channels=self.hidden_channels,
                  coupling=self.coupling,
                  log_scale_bound=self.log_scale_bound,
                  num_labels=self.num_labels)
    return config


@keras.saving.register_keras_serializable(package="tfnvp")
class GlowSplitPrior(keras.layers.Layer):
  """Glow's learned prior on the half factored out at a split [1].

  The factored half `x1` (first channels) is modelled as
  `N(mean(x2), exp(logs(x2))^2)` given the kept half `x2` (`channels / 2`
  channels each), with `(mean, logs) = ZeroConv2D(3x3)(x2)`. Standardizing
  `x1` is an affine coupling that passes `x2` through, so this layer maps
  `x2` to the coupling's pair for
  `tfnvp.bijectors.AffineCoupling("channel", 1, prior)`:

  ```none
  eps1 = (x1 - mean) * exp(-logs)  =  x1 * exp(log_scale) + shift
  log_scale = -logs,   shift = -mean * exp(-logs)
  ```

  and `eps1` is then standard normal under the flow's base distribution.
  At initialization `mean = logs = 0`: the prior is `N(0, I)`.

  Args:
    channels: Python `int >= 2`, even, channels at the split (both halves);
      the layer's input and outputs have `channels / 2`.
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).

  Raises:
    ValueError: if `channels` is not an even int >= 2.

  #### References

  [1]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
       https://arxiv.org/abs/1807.03039
  """

  def __init__(self, channels, **kwargs):
    super().__init__(**kwargs)
    check_int("channels", channels, 2)
    if channels % 2:
      raise ValueError(f"`channels` must be even; got {channels!r}.")
    self.channels = channels
    self.conv = ZeroConv2D(channels, 3, dtype=self.dtype_policy)

  def build(self, input_shape):
    self.conv.build((None,) + tuple(input_shape[-3:]))  # `call` folds batches

  def call(self, inputs, training=False):
    del training  # no batch statistics
    h, batch_shape = fold_batch(inputs)
    out = unfold_batch(self.conv(h), batch_shape, inputs)
    mean, logs = tf.split(out, 2, axis=-1)
    return -mean * tf.exp(-logs), -logs

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels)
    return config
