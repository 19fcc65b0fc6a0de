"""The residual s/t network of Real NVP's affine couplings."""

import keras
import tensorflow as tf

from tfnvp.internal.checks import check_int
from tfnvp.internal.shapes import unfold_batch
from tfnvp.networks.labels import LabelEmbedding
from tfnvp.networks.labels import fold_labelled_batch
from tfnvp.networks.weight_norm import WeightNormConv2D

__all__ = ["ResidualBlock", "ResNetShiftAndLogScale"]


@keras.saving.register_keras_serializable(package="tfnvp")
class ResidualBlock(keras.layers.Layer):
  """Pre-activation residual block: `x + conv(relu(bn(conv(relu(bn(x))))))`.

  Both convolutions are 3x3 and weight-normalized; batch normalization is
  synchronized across replicas under `tf.distribute`, so N replicas compute
  what one device computes on the same global batch.

  Args:
    channels: Python `int`, input and output channels.
    batch_norm_momentum: momentum of the moving statistics.
    **kwargs: forwarded to `keras.layers.Layer`.
  """

  def __init__(self, channels, batch_norm_momentum=0.95, **kwargs):
    super().__init__(**kwargs)
    check_int("channels", channels, 1)
    self.channels = channels
    self.batch_norm_momentum = batch_norm_momentum
    self.norm1 = keras.layers.BatchNormalization(
        momentum=batch_norm_momentum, synchronized=True, dtype=self.dtype_policy)
    self.conv1 = WeightNormConv2D(channels, 3, dtype=self.dtype_policy)
    self.norm2 = keras.layers.BatchNormalization(
        momentum=batch_norm_momentum, synchronized=True, dtype=self.dtype_policy)
    self.conv2 = WeightNormConv2D(channels, 3, dtype=self.dtype_policy)

  def build(self, input_shape):
    self.norm1.build(input_shape)
    self.conv1.build(input_shape)
    self.norm2.build(input_shape)
    self.conv2.build(input_shape)

  def call(self, inputs, training=False):
    h = self.conv1(tf.nn.relu(self.norm1(inputs, training=training)))
    h = self.conv2(tf.nn.relu(self.norm2(h, training=training)))
    return inputs + h

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels,
                  batch_norm_momentum=self.batch_norm_momentum)
    return config


@keras.saving.register_keras_serializable(package="tfnvp")
class ResNetShiftAndLogScale(keras.layers.Layer):
  """Real NVP's `(shift, log_scale)` network for an `[H, W, channels]` image.

  ```none
  h = conv3x3(x)                                  # hidden_channels
  h = h + embedding[y]                            # with num_labels: label y
  h = ResidualBlock(h)  (num_res_blocks times)
  h = relu(bn(h))
  shift, raw = split(conv3x3_zero_init(h), 2)     # channels each
  log_scale = scale * tanh(raw)                   # scale: learned, per channel
  ```

  Inputs may have any batch shape `[..., H, W, channels]`. The last
  convolution is weight-normalized with its scale `g` at zero, so
  `shift = log_scale = 0` at initialization and the coupling that uses this
  network starts as the identity. `scale` (initialized to 1) bounds the
  log-scale as in Real NVP, section 3.7 of [1]. The layer returns the pair
  expected by `tfnvp.bijectors.AffineCoupling`.

  With `num_labels`, the network is class-conditional: `call(x, labels=y)`
  adds a learned vector per label (`tfnvp.networks.LabelEmbedding`,
  zero-initialized) to the first convolution's output; the labels' shape
  broadcasts with the batch shape of `x` (see
  `tfnvp.networks.fold_labelled_batch`).

  Under a mixed dtype policy (`dtype="mixed_bfloat16"` or
  `"mixed_float16"`) the convolutions compute in the low precision (batch
  normalization in float32, as Keras does), and `tanh`, `scale` and the
  returned pair are in the variables' dtype (float32).

  Args:
    channels: Python `int`, channels of the image (of `shift` and `log_scale`).
    hidden_channels: Python `int`, width of the residual network.
    num_res_blocks: Python `int >= 0`, number of residual blocks.
    batch_norm_momentum: momentum of the batch-norm moving statistics.
    num_labels: Python `int >= 1`, labels of a class-conditional network
      (the classes and the null label), or `None`.
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).

  Raises:
    ValueError: if a size argument is not a positive integer.

  #### Examples

  ```python
  net = ResNetShiftAndLogScale(channels=4, hidden_channels=32,
                               num_res_blocks=2)
  shift, log_scale = net(tf.zeros([8, 14, 14, 4]), training=True)
  ```

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, channels, hidden_channels=64, num_res_blocks=8,
               batch_norm_momentum=0.95, num_labels=None, **kwargs):
    super().__init__(**kwargs)
    check_int("channels", channels, 1)
    check_int("hidden_channels", hidden_channels, 1)
    check_int("num_res_blocks", num_res_blocks, 0)
    check_int("num_labels", num_labels, 1, optional=True)
    self.channels = channels
    self.hidden_channels = hidden_channels
    self.num_res_blocks = num_res_blocks
    self.batch_norm_momentum = batch_norm_momentum
    self.num_labels = num_labels
    policy = self.dtype_policy
    self.in_conv = WeightNormConv2D(hidden_channels, 3, dtype=policy)
    # Named attributes, not a list: TF checkpoints track a Keras 3 layer's
    # attributes but not the lists it holds (keras-team/keras#18398).
    for i in range(num_res_blocks):
      setattr(self, f"block_{i}", ResidualBlock(
          hidden_channels, batch_norm_momentum, dtype=policy))
    self.out_norm = keras.layers.BatchNormalization(
        momentum=batch_norm_momentum, synchronized=True, dtype=policy)
    self.out_conv = WeightNormConv2D(2 * channels, 3, zero_init=True,
                                     dtype=policy)
    self.scale = self.add_weight(shape=(channels,), initializer="ones",
                                 autocast=False, name="log_scale_factor")
    if num_labels is not None:
      self.label_embedding = LabelEmbedding(num_labels, hidden_channels,
                                            dtype=policy)

  @property
  def blocks(self):
    """The residual blocks, in order."""
    return [getattr(self, f"block_{i}") for i in range(self.num_res_blocks)]

  def build(self, input_shape):
    self.in_conv.build(input_shape)
    hidden_shape = tuple(input_shape[:-1]) + (self.hidden_channels,)
    for block in self.blocks:
      block.build(hidden_shape)
    self.out_norm.build(hidden_shape)
    self.out_conv.build(hidden_shape)

  def call(self, inputs, labels=None, training=False):
    h, labels, batch_shape, inputs = fold_labelled_batch(
        inputs, labels, self.num_labels, self.name)
    h = self.in_conv(h)
    if labels is not None:
      h = self.label_embedding(h, labels)
    for block in self.blocks:
      h = block(h, training=training)
    h = tf.nn.relu(self.out_norm(h, training=training))
    out = unfold_batch(self.out_conv(h), batch_shape, inputs)
    # The pair leaves in the variables' dtype: the coupling's own arithmetic
    # stays exact under a mixed policy.
    shift, raw_log_scale = tf.split(tf.cast(out, self.variable_dtype), 2,
                                    axis=-1)
    return shift, self.scale * tf.tanh(raw_log_scale)

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, hidden_channels=self.hidden_channels,
                  num_res_blocks=self.num_res_blocks,
                  batch_norm_momentum=self.batch_norm_momentum,
                  num_labels=self.num_labels)
    return config
