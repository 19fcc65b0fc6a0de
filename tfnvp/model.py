"""`FlowModel`: a Keras model that trains any tfnvp flow with `fit`."""

import math

import keras
import tensorflow as tf

from tfnvp.config import ModelConfig
from tfnvp.flows.image_flow import ImageFlow

__all__ = ["FlowModel", "regularized_variables"]


def regularized_variables(layers):
  """The weight-norm scales `g` and the tanh scales of the coupling networks.

  Real NVP applies its L2 penalty (5e-5) to these only (appendix of [1]).
  Glow has neither (and no L2 penalty): the list is empty.

  Args:
    layers: a flow's variable-owning layer (`flow.layers`).

  Returns:
    A list of variables.

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """
  return [v for v in layers.trainable_variables
          if v.path.endswith("/g") or v.path.endswith("/log_scale_factor")]


def _replica_context():
  context = tf.distribute.get_replica_context()
  return context if context is not None and context.num_replicas_in_sync > 1 \
      else None


def _in_multi_worker_mode():
  strategy = tf.distribute.get_strategy()
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return False
  spec = strategy.cluster_resolver.cluster_spec().as_dict()
  return sum(len(tasks) for tasks in spec.values()) > 1


@keras.saving.register_keras_serializable(package="tfnvp")
class FlowModel(keras.Model):
  """Trains a `tfnvp.RealNVP` or `tfnvp.Glow` by maximum likelihood.

  ```none
  loss = mean over the batch of -flow.log_prob(x)   (nats per image)
         + l2 * sum(v^2 for v in regularized_variables)   (Real NVP only)
  bits_per_dim = -log_prob(x) / (H W C ln 2)
  ```

  Inputs (`fit`, `evaluate`, `predict`, `model(x)`): images `[batch, H, W,
  C]` as a NumPy array, a tensor or a `tf.data` dataset of batches, or
  `(images, labels)` batches (labels are ignored). Float images are taken
  as dequantized pixel values in `[0, 256)`; integer images (e.g. `uint8`
  in `[0, 255]`) are dequantized by the model: uniform noise `x + u`, `u ~
  U[0, 1)`, in training, and the pixel centres `x + 0.5` in `evaluate` and
  `predict`, so their numbers are deterministic (as in the exported
  `serving_default` signature).

  `fit` minimizes the loss above and reports `loss` and `bits_per_dim`;
  training uses the flow's training mode (Real NVP: batch statistics; Glow:
  the actnorms initialize from the first batch), `evaluate` and `predict`
  its inference mode. `predict` returns the per-image `log_prob`.
  `model.flow` is the inference-mode flow on the model's variables (for
  sampling and export); `model.flow.copy(training=True)` the training one.

  Under a `tf.distribute` strategy each replica's loss is its sum of
  negative log-likelihoods divided by the global number of images, the
  gradients are all-reduced and then clipped by their global norm, so N
  replicas compute what one device computes on the same global batch. (A
  Keras optimizer's own `global_clipnorm` clips before the all-reduce, per
  replica; that is why clipping happens here.)

  A step whose images hold NaN or inf, or whose loss or gradient norm is
  not finite (divergence), raises `tf.errors.InvalidArgumentError` with the
  step and the values, before any weight is updated.

  Saving: `model.save("run.keras")` and `keras.models.load_model(
  "run.keras")` (no `custom_objects`: every tfnvp layer is registered)
  give back the same flow, with Glow's actnorms still initialized and Real
  NVP's moving statistics kept.

  Args:
    flow: a `tfnvp.RealNVP` or `tfnvp.Glow`; the model trains its
      variables (`flow.layers`), in either mode it was built in.
    l2: L2 penalty on the weight-norm scales and tanh scales (Real NVP's
      5e-5); `0` for none.
    clip_norm: clipping of the all-reduced gradients by their global norm
      (Real NVP's 100), or `None`.
    **kwargs: forwarded to `keras.Model` (`name`).

  Raises:
    TypeError: if `flow` is not a tfnvp flow.
    ValueError: for a negative `l2` or a non-positive `clip_norm`.

  #### Examples

  ```python
  flow = tfnvp.RealNVP((28, 28, 1), num_scales=2, hidden_channels=32,
                       num_res_blocks=2)
  model = tfnvp.FlowModel(flow)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model.fit(uint8_images, batch_size=64, epochs=1)   # [n, 28, 28, 1]
  model.evaluate(test_images, return_dict=True)      # loss, bits_per_dim
  model.save("mnist.keras")
  restored = keras.models.load_model("mnist.keras")
  samples = restored.flow.sample(16, seed=[1, 2])
  ```
  """

  def __init__(self, flow, l2=5e-5, clip_norm=100.0, **kwargs):
    super().__init__(**kwargs)
    if not isinstance(flow, ImageFlow):
      raise TypeError(
          f"`flow` must be a tfnvp.RealNVP or tfnvp.Glow; got {flow!r}.")
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not (
        math.isfinite(l2) and l2 >= 0):
      raise ValueError(f"`l2` must be a finite number >= 0; got {l2!r}.")
    if clip_norm is not None and (
        isinstance(clip_norm, bool) or
        not isinstance(clip_norm, (int, float)) or
        not (math.isfinite(clip_norm) and clip_norm > 0)):
      raise ValueError(
          f"`clip_norm` must be a finite number > 0 or None; got "
          f"{clip_norm!r}.")
    self.model_config = ModelConfig.from_flow(flow)
    self.l2 = float(l2)
    self.clip_norm = None if clip_norm is None else float(clip_norm)
    self.flow_layers = flow.layers
    self._flow_kwargs = dict(validate_args=flow.validate_args, name=flow.name)
    self.bits_per_dim_tracker = keras.metrics.Mean(name="bits_per_dim")
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self._num_dims = math.prod(self.model_config.image_shape)
    self.built = True  # every weight exists: nothing for Keras to build

  def _make_flow(self, training):
    return self.model_config.make_flow(training, self.flow_layers,
                                       **self._flow_kwargs)

  @property
  def flow(self):
    """The flow in inference mode, on this model's variables."""
    return self._make_flow(training=False)

  @property
  def metrics(self):
    return [self.loss_tracker, self.bits_per_dim_tracker]

  def _images(self, data, training):
    """The images of a batch, dequantized if they are integers."""
    if isinstance(data, (tuple, list)):
      data = data[0]
    images = tf.convert_to_tensor(data)
    dtype = tf.as_dtype(self.model_config.dtype)
    if images.dtype.is_integer:
      checks = [tf.debugging.assert_greater_equal(
          images, tf.zeros([], images.dtype),
          message="integer images must be 8-bit pixels in [0, 255]"),
                tf.debugging.assert_less_equal(
          images, tf.constant(255, images.dtype),
          message="integer images must be 8-bit pixels in [0, 255]")] \
          if images.dtype != tf.uint8 else []
      with tf.control_dependencies(checks):
        images = tf.cast(images, dtype)
      if training:
        # In float, `k + u` rounds up to `k + 1` for `u` near 1: clamp into
        # the pixel's own interval `[k, k + 1)`.
        noisy = images + tf.random.uniform(tf.shape(images), dtype=dtype)
        return tf.minimum(noisy, tf.math.nextafter(images + 1.0, images))
      return images + 0.5
    if images.dtype.is_floating and images.dtype != dtype:
      images = tf.cast(images, dtype)
    return images

  def call(self, images, training=False):
    return self._make_flow(bool(training)).log_prob(
        self._images(images, bool(training)))

  def _update_metrics(self, log_prob):
    nll = -log_prob
    self.loss_tracker.update_state(nll)
    self.bits_per_dim_tracker.update_state(
        nll / (self._num_dims * math.log(2.0)))
    results = {m.name: m.result() for m in self.metrics}
    if _in_multi_worker_mode():
      # Keras 3.15 reduces a multi-worker step's outputs with
      # `strategy.reduce(MEAN, value, axis=0)`, which fails on scalars; a
      # length-1 tensor comes back as a scalar. Elsewhere it stays [1], which
      # TensorBoard's scalar summaries refuse.
      results = {name: tf.reshape(value, [1]) for name, value in
                 results.items()}
    return results

  def _penalty(self):
    variables = regularized_variables(self.flow_layers)
    if not self.l2 or not variables:
      return tf.constant(0.0, tf.as_dtype(self.model_config.dtype))
    return self.l2 * tf.add_n([tf.reduce_sum(tf.square(v))
                               for v in variables])

  def train_step(self, data):
    images = self._images(data, training=True)
    # The returned tensor carries the check: every update below depends on it.
    images = tf.debugging.assert_all_finite(
        images, "training images contain NaN or inf")
    context = _replica_context()
    dtype = images.dtype
    count = tf.cast(tf.shape(images)[0], dtype)
    num_replicas = 1 if context is None else context.num_replicas_in_sync
    if context is not None:
      count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    variables = self.trainable_variables
    with tf.GradientTape() as tape:
      log_prob = self._make_flow(training=True).log_prob(images)
      loss = (-tf.reduce_sum(log_prob) / count +
              tf.cast(self._penalty(), dtype) / num_replicas)
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

  def get_config(self):
    config = super().get_config()
    config.update(model_config=self.model_config.to_dict(), l2=self.l2,
                  clip_norm=self.clip_norm,
                  flow_kwargs=dict(self._flow_kwargs))
    return config

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    model_config = ModelConfig.from_dict(config.pop("model_config"))
    flow = model_config.make_flow(**config.pop("flow_kwargs", {}))
    return cls(flow, **config)
