"""A Keras model that trains a tfnvp flow with `fit` and `evaluate`."""

import math

import keras
import tensorflow as tf

import tfnvp
from training import strategies

__all__ = ["FlowModel", "make_flow", "regularized_variables"]


def regularized_variables(layers):
  """The weight-norm scales `g` and the tanh scales of the coupling networks.

  Real NVP applies its L2 penalty (5e-5) to these only (appendix of [1]).
  Glow has neither (and no L2 penalty): the list is empty.
  """
  return [v for v in layers.trainable_variables
          if v.path.endswith("/g") or v.path.endswith("/log_scale_factor")]


def _replica_context():
  context = tf.distribute.get_replica_context()
  return context if context is not None and context.num_replicas_in_sync > 1 \
      else None


def make_flow(config, training=False, layers=None, **kwargs):
  """The `tfnvp.RealNVP` or `tfnvp.Glow` that a `ModelConfig` describes.

  Args:
    config: a `training.config.ModelConfig`.
    training: the flow's mode (batch statistics, actnorm initialization).
    layers: the Keras layer holding the variables to use, or `None` for new
      ones.
    **kwargs: forwarded to the flow (`validate_args`, `name`, ...).
  """
  if config.name == "glow":
    return tfnvp.Glow(
        config.image_shape, config.num_scales, config.depth,
        config.hidden_channels, config.coupling, config.lu_decomposed,
        config.learn_prior, training=training, layers=layers, **kwargs)
  return tfnvp.RealNVP(
      config.image_shape, config.num_scales, config.hidden_channels,
      config.num_res_blocks, logit_alpha=config.logit_alpha,
      batch_norm_momentum=config.batch_norm_momentum, training=training,
      layers=layers, **kwargs)


class FlowModel(keras.Model):
  """Trains `tfnvp.RealNVP` or `tfnvp.Glow` by maximum likelihood with `fit`.

  The model's input is a batch of dequantized images in `[0, 256)` (no
  labels). Its output (`model(images)`) is the per-image `log_prob` in
  pixel space. `fit` minimizes the mean negative log-likelihood and reports
  it as `loss` (nats per image) and `bits_per_dim` (the paper's metric);
  training uses the flow's training mode (Real NVP: batch statistics;
  Glow: the actnorms initialize from the first batch), `evaluate` and
  `predict` its inference mode.

  Under a `tf.distribute` strategy each replica's loss is its sum of
  negative log-likelihoods divided by the global number of images, the
  gradients are all-reduced, then clipped by their global norm, so N
  replicas compute what one device computes on the same global batch. (A
  Keras optimizer's own `global_clipnorm` clips before the all-reduce, per
  replica; that is why clipping happens here.)

  A step whose images hold NaN or inf, or whose loss or gradient norm is
  not finite (divergence), raises `tf.errors.InvalidArgumentError` with the
  step and the values, before any weight is updated.

  Args:
    model_config: a `training.config.ModelConfig`.
    l2: L2 penalty on the weight-norm scales and tanh scales.
    clip_norm: global-norm gradient clipping, or `None`.
    **kwargs: forwarded to `keras.Model`.
  """

  def __init__(self, model_config, l2=5e-5, clip_norm=None, **kwargs):
    super().__init__(**kwargs)
    self.model_config = model_config
    self.l2 = l2
    self.clip_norm = clip_norm
    self.flow_layers = make_flow(model_config).layers
    self.bits_per_dim_tracker = keras.metrics.Mean(name="bits_per_dim")
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self._num_dims = math.prod(model_config.image_shape)
    self.built = True  # every weight exists: nothing for Keras to build

  def flow(self, training=False, **kwargs):
    """The `tfnvp.RealNVP` or `tfnvp.Glow` on this model's variables."""
    return make_flow(self.model_config, training, self.flow_layers, **kwargs)

  @property
  def metrics(self):
    return [self.loss_tracker, self.bits_per_dim_tracker]

  def call(self, images, training=False):
    return self.flow(training=bool(training)).log_prob(images)

  def _update_metrics(self, log_prob):
    nll = -log_prob
    self.loss_tracker.update_state(nll)
    self.bits_per_dim_tracker.update_state(
        nll / (self._num_dims * math.log(2.0)))
    results = {m.name: m.result() for m in self.metrics}
    if strategies.is_multi_worker(tf.distribute.get_strategy()):
      # Keras 3.15 reduces a multi-worker step's outputs with
      # `strategy.reduce(MEAN, value, axis=0)`, which fails on scalars; a
      # length-1 tensor comes back as a scalar. Elsewhere it stays [1], which
      # TensorBoard's scalar summaries refuse.
      results = {name: tf.reshape(value, [1]) for name, value in
                 results.items()}
    return results

  def _penalty(self):
    if not self.l2 or not regularized_variables(self.flow_layers):
      return tf.constant(0.0)
    return self.l2 * tf.add_n(
        [tf.reduce_sum(tf.square(v)) for v in
         regularized_variables(self.flow_layers)])

  def train_step(self, data):
    # The returned tensor carries the check: every update below depends on it.
    images = tf.debugging.assert_all_finite(
        data, "training images contain NaN or inf")
    context = _replica_context()
    count = tf.cast(tf.shape(images)[0], tf.float32)
    num_replicas = 1 if context is None else context.num_replicas_in_sync
    if context is not None:
      count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    variables = self.trainable_variables
    with tf.GradientTape() as tape:
      log_prob = self(images, training=True)
      loss = (-tf.reduce_sum(log_prob) / count +
              self._penalty() / num_replicas)
    grads = tape.gradient(loss, variables)
    if context is not None:
      grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
      loss = context.all_reduce(tf.distribute.ReduceOp.SUM, loss)
    norm = tf.linalg.global_norm(grads)
    # Every replica sees the same global loss and norm, so all stop together,
    # before the optimizer touches a weight.
    check = tf.debugging.Assert(
        tf.math.is_finite(loss) & tf.math.is_finite(norm),
        ["Training diverged: non-finite loss or gradient norm at optimizer "
         "step", self.optimizer.iterations, "loss:", loss, "gradient norm:",
         norm, "No weight was updated by this step; lower the learning rate "
         "or tighten gradient clipping and resume from the last checkpoint."])
    with tf.control_dependencies([check]):
      grads = [tf.identity(g) for g in grads]
    if self.clip_norm:
      grads, _ = tf.clip_by_global_norm(grads, self.clip_norm, use_norm=norm)
    if context is not None:
      # The optimizer sums the replicas' gradients again.
      grads = [g / num_replicas for g in grads]
    self.optimizer.apply_gradients(zip(grads, variables))
    return self._update_metrics(log_prob)

  def test_step(self, data):
    return self._update_metrics(self(data, training=False))

  def predict_step(self, data):
    return self(data, training=False)
