"""Per-label weights of class-conditional flows, and labelled batches.

A class-conditional flow (`tfnvp.RealNVP(..., num_classes=K)`) indexes its
label-dependent weights by `K + 1` labels: the `K` classes and a null
label `K` (no class, for label dropout and guidance). Two kinds of Keras
layers hold them:

* `ClassGaussianParameters`: the mean and log-scale of a Gaussian prior per
  label and channel (`tfnvp.bijectors.ClassPrior` standardizes with them);
* `LabelEmbedding`: a vector per label that a coupling network adds to its
  hidden features.

Both start at zero, so a new conditional flow computes what the
unconditional one does.
"""

import keras
import tensorflow as tf

from tfnvp.internal.checks import check_int
from tfnvp.internal.shapes import fold_batch

__all__ = ["ClassGaussianParameters", "LabelEmbedding", "fold_labelled_batch"]


class _LabelTables(keras.layers.Layer):
  """Base of the layers of `[num_labels, channels]` tables."""

  def __init__(self, num_labels, channels, **kwargs):
    super().__init__(**kwargs)
    check_int("num_labels", num_labels, 1)
    check_int("channels", channels, 1)
    self.num_labels = num_labels
    self.channels = channels

  def _table(self, name):
    """A zero-initialized `[num_labels, channels]` weight."""
    return self.add_weight(shape=(self.num_labels, self.channels),
                           initializer="zeros", autocast=False, name=name)

  def get_config(self):
    config = super().get_config()
    config.update(num_labels=self.num_labels, channels=self.channels)
    return config


@keras.saving.register_keras_serializable(package="tfnvp")
class ClassGaussianParameters(_LabelTables):
  """The per-label mean and log-scale of a diagonal Gaussian prior.

  Two tables of shape `[num_labels, channels]`, zero-initialized (Glow's
  `--ycond` prior [1] starts the same way), so at first every label's prior
  is `N(0, I)`. `values(labels)` gathers the rows of `labels`:

  ```none
  loc = loc_table[labels],   log_scale = log_scale_table[labels]   # [..., C]
  ```

  Args:
    num_labels: Python `int >= 1`, rows of the tables.
    channels: Python `int >= 1`, channels of the prior's events.
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).

  Raises:
    ValueError: if a size is not a positive int.

  #### References

  [1]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
       https://arxiv.org/abs/1807.03039
  """

  def __init__(self, num_labels, channels, **kwargs):
    super().__init__(num_labels, channels, **kwargs)
    self.loc = self._table("loc")
    self.log_scale = self._table("log_scale")
    self.built = True  # every weight exists: nothing for Keras to build

  def values(self, labels):
    """`(loc, log_scale)` of `labels` (int `Tensor` of any shape `[...]`),
    each `[..., channels]` in the variables' dtype."""
    return tf.gather(self.loc, labels), tf.gather(self.log_scale, labels)

  def call(self, inputs):
    raise NotImplementedError(
        "ClassGaussianParameters only holds variables; "
        "tfnvp.bijectors.ClassPrior uses them.")


@keras.saving.register_keras_serializable(package="tfnvp")
class LabelEmbedding(_LabelTables):
  """Adds a learned vector per label to a feature map.

  ```none
  out[n, i, j, :] = inputs[n, i, j, :] + table[labels[n], :]
  ```

  `table` (`[num_labels, channels]`) starts at zero: a coupling network
  with an embedding computes what it computes without one until training
  moves it. Under a mixed policy the table is float32 and is cast to the
  features' dtype.

  Args:
    num_labels: Python `int >= 1`, rows of the table.
    channels: Python `int >= 1`, channels of the features.
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).

  Raises:
    ValueError: if a size is not a positive int.
  """

  def __init__(self, num_labels, channels, **kwargs):
    super().__init__(num_labels, channels, **kwargs)
    self.table = self._table("table")
    self.built = True

  def call(self, inputs, labels):
    """`inputs` `[N, H, W, channels]` plus the rows of `labels` `[N]`."""
    vectors = tf.cast(tf.gather(self.table, labels), inputs.dtype)
    return inputs + vectors[:, tf.newaxis, tf.newaxis, :]


def fold_labelled_batch(inputs, labels, num_labels, name):
  """`fold_batch` of `inputs`, with `labels` broadcast to the same batch.

  A conditional network (`num_labels` set) takes images `[..., H, W, C]`
  and labels whose shape broadcasts with their batch shape `[...]` (the
  labels `[K]` of all classes against images `[n, 1, H, W, C]` give a
  `[n, K]` batch); both are broadcast, then folded to one batch axis.

  Args:
    inputs: `Tensor` `[..., H, W, C]`.
    labels: int `Tensor`, or `None` for an unconditional network.
    num_labels: the network's `num_labels` (`None`: unconditional).
    name: the network's name, for messages.

  Returns:
    `(folded_inputs [N, H, W, C], folded_labels [N] or None, batch_shape,
    like)`: `batch_shape` and `like` (the broadcast `inputs`) are what
    `unfold_batch` needs.

  Raises:
    ValueError: for labels given to an unconditional network, or none to a
      conditional one.
  """
  if (labels is None) != (num_labels is None):
    raise ValueError(
        f"{name}: `labels` must be given exactly when the network is "
        f"conditional; num_labels={num_labels}, got labels={labels!r}.")
  if labels is None:
    folded, batch_shape = fold_batch(inputs)
    return folded, None, batch_shape, inputs
  labels = tf.convert_to_tensor(labels)
  batch = tf.broadcast_static_shape(inputs.shape[:-3], labels.shape)
  if not (batch.is_fully_defined() and batch == inputs.shape[:-3] and
          batch == labels.shape):
    dynamic = tf.broadcast_dynamic_shape(tf.shape(inputs)[:-3],
                                         tf.shape(labels))
    inputs = tf.ensure_shape(
        tf.broadcast_to(inputs, tf.concat([dynamic, tf.shape(inputs)[-3:]],
                                          axis=0)),
        batch.concatenate(inputs.shape[-3:]))
    labels = tf.broadcast_to(labels, dynamic)
  folded, batch_shape = fold_batch(inputs)
  return folded, tf.reshape(labels, [-1]), batch_shape, inputs
