"""`FlowModel`: a Keras model that trains any tfnvp flow with `fit`."""

import contextlib
import math

import keras
import numpy as np
import tensorflow as tf

from tfnvp.averaging import PolyakAverage
from tfnvp.flows.conditional import ConditionedFlow
from tfnvp.flows.conditional import check_labels
from tfnvp.flows.config import FlowConfig
from tfnvp.internal.checks import check_number
from tfnvp.flows.image_flow import ImageFlow
from tfnvp.internal.dequantization import add_noise
from tfnvp.internal.image_batches import check_input
from tfnvp.internal.image_batches import checked_images
from tfnvp.internal.units import nats_to_bits_per_dim
from tfnvp.networks.moving_moments import MovingMoments

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


def _missing_labels(num_classes):
  """The message for images without labels where a class-conditional flow
  needs them."""
  return (f"`y`: a class-conditional flow (num_classes={num_classes}) trains "
          "and is evaluated on (images, labels) batches; got images alone. "
          "Pass the labels (`fit(x, y)`, or a dataset of (images, labels)); "
          "the marginal log p(x) of unlabelled images is `predict(x)`.")


def _y(args, kwargs):
  """The labels `y` of a `fit`, `evaluate` or `train_on_batch` call."""
  return args[0] if args else kwargs.get("y")


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
  `(images, labels)` batches (`fit(x, y)`; an unconditional flow ignores
  the labels). Float images are taken
  as dequantized pixel values in `[0, 256)`; integer images (e.g. `uint8`
  in `[0, 255]`) are dequantized by the model: uniform noise `x + u`, `u ~
  U[0, 1)`, in training, and the pixel centres `x + 0.5` in `evaluate` and
  `predict`, so their numbers are deterministic (as in the exported
  `serving_default` signature).

  A class-conditional flow (`num_classes=K`) trains on `(images, labels)`
  batches, labels ints `[batch]` in `[0, K)`, by maximum likelihood of
  `p(x | y)` (of the training-mode flow, which replaces each label by the
  null label with probability `label_dropout`, drawn from the optimizer
  step: a resumed run drops what an uninterrupted one does), plus, with a
  `classification_weight` `lambda`, Glow's hybrid objective [2]: the
  Bayes classifier's cross-entropy `-log p(y | x)` from the same densities
  (`flow.classify`), not from a separate head:

  ```none
  bits_x = -log p(x | y) / (H W C ln 2)          (bits_per_dim)
  bits_y = -log p(y | x) / ln 2                  (bits_y, bits per image)
  loss   = (bits_x + lambda * bits_y) * H W C ln 2
         = -log p(x | y) - lambda * H W C * log p(y | x)   (nats per image)
  ```

  (Glow's `--weight_y`, e.g. 0.01 for its conditional CIFAR-10 run.)
  `evaluate` of a conditional flow reports `bits_per_dim` (of `p(x | y)`
  with the true labels), `marginal_bits_per_dim` (of `p(x)`, comparable
  with an unconditional flow's `bits_per_dim`), `bits_y` and `accuracy`
  (of the Bayes classifier's argmax), and `loss` as above; `fit` reports
  `loss`, `bits_per_dim` (with the dropped labels) and, with a
  `classification_weight`, `bits_y`. `predict` and `model(images)` return
  the marginal `log p(x)` (`predict` ignores labels, as Keras ignores
  targets); `log p(x | y)` is `model.flow.given(labels).log_prob(x)`.

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

  Refused input: every batch of `fit`, `train_on_batch`, `evaluate`,
  `predict`, `model(x)` and `recalibrate_moving_statistics` is checked
  before the model computes with it, also where Keras traces a step with
  unknown dimensions: rank 4, the flow's image shape, at least one image,
  an integer or float dtype, integers in `[0, 255]`, finite floats and, in
  training (`fit`, `train_on_batch`, recalibration) of a flow on pixels,
  floats in `[0, 256)` that are not all in `[0, 1]` whatever the flow's
  `validate_args` (images scaled to `[0, 1]` or standardized are refused
  with a message that says so). An empty array or dataset is refused
  before anything runs. What is known before running (a dtype, a static
  shape) raises `TypeError` or `ValueError`, what only the values or the
  run-time shape tell `tf.errors.InvalidArgumentError`; the messages name
  the argument (`x`, `validation_data`, `images`, `batches`) and what was
  received. A refused call changes nothing: weights, moving statistics,
  actnorm state, the Polyak average, the optimizer's step counter and
  slots stay bit-identical (every update of a training step runs after the
  batch's checks), and the next call works. A step whose loss or gradient
  norm is not finite (divergence) raises `tf.errors.InvalidArgumentError`
  with the step and the values, before any weight is updated.

  Mixed precision: the model computes in the flow's dtype and its coupling
  networks in the flow's `network_dtype`. For float16 networks `compile`
  wraps the optimizer in `keras.optimizers.LossScaleOptimizer` (unless
  `auto_scale_loss=False`, as Keras does for a `"mixed_float16"` model):
  the loss is multiplied by the dynamic scale, the gradients are unscaled
  before clipping, and a step whose scaled gradients overflow is skipped
  by the optimizer (which halves the scale) instead of raising; a
  non-finite loss still raises.

  Polyak averaging (`ema_decay`): after each optimizer step the model
  updates `model.weight_average`, a `tfnvp.averaging.PolyakAverage` of the
  trainable variables of `flow.layers`, bias-corrected:

  ```none
  m_t = ema_decay * m_{t-1} + (1 - ema_decay) * w_t,   m_0 = 0
  averaged weights = m_t / (1 - ema_decay^t)     (= w_1 after one step)
  ```

  Training always steps the raw weights `w_t`. `evaluate` and `predict`
  run with the averaged weights swapped in (`averaged_weights()`), the raw
  ones restored afterwards; `fit`'s validation goes through `evaluate`
  (Keras 3.15), so `val_loss` and `val_bits_per_dim` are the averaged
  model's too. `model(x)`, `model.flow` and checkpoints see the raw
  weights: sample inside `with model.averaged_weights():`, or call
  `assign_averaged_weights()` to keep the averages for inference.
  Non-trainable state (Real NVP's moving statistics, Glow's actnorm flags)
  is not averaged.

  Saving: `model.save("run.keras")` and `keras.models.load_model(
  "run.keras")` (no `custom_objects`: every tfnvp layer is registered)
  give back the same flow, with Glow's actnorms still initialized, Real
  NVP's moving statistics and the Polyak average kept.

  Args:
    flow: a `tfnvp.RealNVP` or `tfnvp.Glow`; the model trains its
      variables (`flow.layers`), in either mode it was built in.
    l2: L2 penalty on the weight-norm scales and tanh scales (Real NVP's
      5e-5); `0` for none.
    clip_norm: clipping of the all-reduced gradients by their global norm
      (Real NVP's 100), or `None`.
    ema_decay: decay of the Polyak average of the weights, a number in
      `[0, 1)` (e.g. `0.999`), or `None`; `0` and `None` keep no average.
    classification_weight: `lambda >= 0` of the hybrid objective above;
      not 0 only for a class-conditional flow.
    **kwargs: forwarded to `keras.Model` (`name`; a `dtype` must be the
      flow's).

  Raises:
    TypeError: if `flow` is not a tfnvp flow.
    ValueError: for a negative `l2`, a non-positive `clip_norm`, an
      `ema_decay` outside `[0, 1)`, a negative `classification_weight` or
      one for an unconditional flow, or a `dtype` other than the flow's.

  #### Examples

  Unconditional:

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

  averaged = tfnvp.FlowModel(flow, ema_decay=0.999)
  averaged.compile(optimizer=keras.optimizers.Adam(1e-3))
  averaged.fit(uint8_images, batch_size=64, epochs=1)
  averaged.evaluate(test_images)                      # the averaged weights
  with averaged.averaged_weights():
    samples = averaged.flow.sample(16, seed=[1, 2])
  ```

  Class-conditional, with Glow's hybrid objective:

  ```python
  flow = tfnvp.Glow((28, 28, 1), num_levels=2, depth=4, num_classes=10,
                    label_dropout=0.1)
  model = tfnvp.FlowModel(flow, classification_weight=0.01)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model.fit(uint8_images, labels, batch_size=64, epochs=1)
  model.evaluate(test_images, test_labels, return_dict=True)
  # loss, bits_per_dim, marginal_bits_per_dim, bits_y, accuracy
  ```

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803

  [2]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
       https://arxiv.org/abs/1807.03039
  """

  def __init__(self, flow, l2=5e-5, clip_norm=100.0, ema_decay=None,
               classification_weight=0.0, **kwargs):
    if not isinstance(flow, ImageFlow):
      raise TypeError(
          f"`flow` must be a tfnvp.RealNVP or tfnvp.Glow; got {flow!r}.")
    # The model computes in the flow's dtype whatever Keras's global policy:
    # a mixed policy would cast float images and the flow's own variables to
    # the low precision. Its networks carry the precision (`network_dtype`).
    dtype = keras.dtype_policies.get(kwargs.pop("dtype", None) or
                                     flow.dtype.name)
    if dtype.name != flow.dtype.name:
      raise ValueError(
          f"`dtype` must be the flow's, {flow.dtype.name!r}; got "
          f"{dtype.name!r}. Mixed precision is the flow's `network_dtype`.")
    super().__init__(dtype=dtype, **kwargs)
    check_number("l2", l2, 0)
    check_number("clip_norm", clip_norm, 0, low_open=True, optional=True)
    check_number("ema_decay", ema_decay, 0, 1, high_open=True, optional=True)
    check_number("classification_weight", classification_weight, 0)
    self.flow_config = FlowConfig.from_flow(flow)
    self._num_classes = self.flow_config.num_classes
    if classification_weight and self._num_classes is None:
      raise ValueError(
          "`classification_weight` needs a class-conditional flow "
          f"(num_classes); got classification_weight={classification_weight!r}"
          " with num_classes=None.")
    self.classification_weight = float(classification_weight)
    self.l2 = float(l2)
    self.clip_norm = None if clip_norm is None else float(clip_norm)
    self.ema_decay = None if ema_decay is None else float(ema_decay)
    self.flow_layers = flow.layers
    self.weight_average = None
    if self.ema_decay:
      self.weight_average = PolyakAverage(
          self.ema_decay, [v.shape for v in flow.layers.trainable_variables],
          dtype=self.flow_config.dtype, name="weight_average")
    self._flow_kwargs = dict(validate_args=flow.validate_args, name=flow.name)
    self._pixels = flow.pixels
    self.bits_per_dim_tracker = keras.metrics.Mean(name="bits_per_dim")
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self._class_trackers = {}
    if self._num_classes is not None:
      self._class_trackers = {name: keras.metrics.Mean(name=name) for name in
                              ("marginal_bits_per_dim", "bits_y",
                               "accuracy")}
    self._num_dims = math.prod(self.flow_config.image_shape)
    self._recalibrate_fn = None
    self.built = True  # every weight exists: nothing for Keras to build

  def compile(self, optimizer="rmsprop", *args, auto_scale_loss=True,
              **kwargs):
    """`keras.Model.compile`; wraps the optimizer in a
    `keras.optimizers.LossScaleOptimizer` for a flow with float16 networks
    (with `auto_scale_loss`, Keras's own argument), and builds it.

    The optimizer's variables exist from here on, so no traced step creates
    them: a first `fit` refused while Keras traces its step leaves none
    half-made for the next one.
    """
    super().compile(optimizer, *args, auto_scale_loss=auto_scale_loss,
                    **kwargs)
    if (auto_scale_loss and self.flow_config.network_dtype == "float16" and
        self.optimizer is not None and
        not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)):
      self.optimizer = keras.optimizers.LossScaleOptimizer(
          self.optimizer, name="loss_scale_optimizer")
    if self.optimizer is not None and not self.optimizer.built:
      self.optimizer.build(self.trainable_variables)

  def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    # Under a strategy Keras 3.15 builds the model from a first batch of a
    # first iterator, reduced across replicas, which fails for (images,
    # labels) batches under MultiWorkerMirroredStrategy. A FlowModel has
    # every weight from its constructor and `compile` builds the optimizer:
    # unless compiled metrics or losses were given, only the batch is taken
    # (the data a run sees stays Keras's), not reduced.
    if (self._distribute_strategy is None or iterator is None or
        self._compile_metrics is not None or
        self._compile_loss is not None or
        (self.optimizer is not None and not self.optimizer.built)):
      super()._maybe_symbolic_build(iterator, data_batch)
      return
    for _, _, batches in iterator:
      next(batches)
      break

  def compile_from_config(self, config):
    """Compiles a loaded model as `keras.Model` does (through `compile`)."""
    self.compile(**keras.saving.deserialize_keras_object(config))

  def _make_flow(self, training):
    return self.flow_config.make_flow(training, self.flow_layers,
                                       **self._flow_kwargs)

  @property
  def flow(self):
    """The flow in inference mode, on this model's variables."""
    return self._make_flow(training=False)

  @property
  def metrics(self):
    return [self.loss_tracker, self.bits_per_dim_tracker,
            *self._class_trackers.values()]

  @contextlib.contextmanager
  def averaged_weights(self):
    """Swaps the Polyak averages into the flow's variables for a `with` block.

    The raw weights are restored on leaving the block, also on an error.
    Nothing is swapped without an average (`ema_decay` off) or before the
    first training step. Call it from Python (eagerly); under a
    `tf.distribute` strategy (cross-replica context, inside or outside its
    scope) every replica's copy is swapped.

    #### Examples

    ```python
    with model.averaged_weights():
      samples = model.flow.sample(16, seed=[1, 2])
    ```
    """
    if not self._has_averages():
      yield
      return
    variables = self.flow_layers.trainable_variables
    raw = [tf.identity(v) for v in variables]
    self.assign_averaged_weights()
    try:
      yield
    finally:
      self._assign(variables, raw)

  def assign_averaged_weights(self):
    """Overwrites the flow's trainable variables with their Polyak averages.

    For inference from the averaged model (export, evaluation of a loaded
    run); training would continue from the averages. Nothing changes
    without an average or before the first training step.
    """
    if self._has_averages():
      self._assign(self.flow_layers.trainable_variables,
                   self.weight_average.averages())

  def moving_statistics(self):
    """`(variable, momentum)` of every moving mean and variance of the flow.

    Real NVP's: its batch-norm bijectors' and its coupling networks' batch
    normalization layers'. Glow has none (actnorm is a learned affine map).
    """
    found = []
    for layer in self.flow_layers._flatten_layers():  # pylint: disable=protected-access
      if isinstance(layer, (keras.layers.BatchNormalization, MovingMoments)):
        found += [(layer.moving_mean, layer.momentum),
                  (layer.moving_variance, layer.momentum)]
    return found

  def recalibrate_moving_statistics(self, batches):
    """Re-estimates the moving statistics for the weights used in inference.

    During training each batch-norm layer's moving statistics follow
    `moving = m * moving + (1 - m) * batch` while the weights move, so they
    lag behind the weights, and with Polyak averaging they belong to the
    raw weights, not to the averaged ones that `evaluate` uses. This runs
    the training-mode flow on each of `batches` with the weights that
    inference uses (the Polyak averages if any; no weight changes), reads
    every batch's statistics back from its update, and sets the moving
    statistics to their mean over the batches:

    ```none
    batch_k = (moving_k - m * moving_{k-1}) / (1 - m)
    moving  = mean_k batch_k
    ```

    (as `torch.optim.swa_utils.update_bn` does for averaged weights). Call
    it eagerly; `batches` may come from a `tf.distribute` dataset of the
    strategy whose scope built the model.

    Args:
      batches: an iterable of image batches (training-mode input, e.g. the
        training `tf.data.Dataset` with `.take(n)`).

    Returns:
      The number of batches used (0 for a flow without moving statistics,
      which is left unchanged).

    Raises:
      TypeError, ValueError, tf.errors.InvalidArgumentError: for a batch
        that training would refuse (see the class); the moving statistics
        are then restored to their values before the call.
    """
    stats = self.moving_statistics()
    if not stats:
      return 0
    step = self._recalibration_step()
    initial = [v.numpy() for v, _ in stats]
    sums = [np.zeros(v.shape, np.float64) for v, _ in stats]
    count = 0
    try:
      with self.averaged_weights():
        for batch in batches:
          self._check_input(batch, "batches")
          before = [v.numpy() for v, _ in stats]
          step(batch)
          for total, (variable, momentum), old in zip(sums, stats, before):
            total += (variable.numpy() - momentum * old) / (1.0 - momentum)
          count += 1
    except BaseException:
      # A refused batch after good ones: the good ones' updates are undone.
      self._assign([v for v, _ in stats], initial)
      raise
    if count:
      for total, (variable, _) in zip(sums, stats):
        variable.assign((total / count).astype(variable.dtype))
    return count

  def _recalibration_step(self):
    if self._recalibrate_fn is None:
      strategy = self.distribute_strategy

      @tf.function
      def run(batch):
        strategy.run(lambda b: self._log_prob(b, True, "batches"),
                     args=(batch,))

      self._recalibrate_fn = run
    return self._recalibrate_fn

  def _has_averages(self):
    return self.weight_average is not None and int(
        self.weight_average.count.numpy()) > 0

  @staticmethod
  def _assign(variables, values):
    for variable, value in zip(variables, values):
      variable.assign(value)

  def _check_input(self, x, name="x", y=None, labelled=False):
    """Checks what is known of `x` (and of its labels `y`, for a labelled
    call of a class-conditional flow) before anything runs."""
    check_input(name, x, self.flow_config.image_shape)
    if not labelled or self._num_classes is None or x is None:
      return
    label_name = "y" if name == "x" else name
    if isinstance(x, tf.data.Dataset):
      spec = x.element_spec
      if not (isinstance(spec, (tuple, list)) and len(spec) > 1):
        raise ValueError(_missing_labels(self._num_classes))
      spec = spec[1]
      if isinstance(spec, tf.TensorSpec) and (
          not spec.dtype.is_integer or spec.shape.rank not in (None, 1)):
        raise ValueError(
            f"`{label_name}` must be int labels [batch] in [0, "
            f"{self._num_classes}); the dataset yields {spec}.")
      return
    if getattr(x, "shape", None) is None:
      return    # generators, PyDatasets: checked batch by batch
    if y is None:
      raise ValueError(_missing_labels(self._num_classes))
    labels = check_labels(y, self._num_classes, label_name)
    if labels.shape[0] != x.shape[0]:
      raise ValueError(f"`{label_name}` must hold one label per image: got "
                       f"{labels.shape[0]} labels for {x.shape[0]} images.")

  def fit(self, x=None, *args, **kwargs):
    """`keras.Model.fit`, refusing bad input before anything runs.

    Raises:
      ValueError: for an empty `x` (an array, or a dataset that yields no
        batch) or `validation_data`, and for what the class refuses.
    """
    self._check_input(x, y=_y(args, kwargs), labelled=True)
    validation = kwargs.get("validation_data")
    validation_y = None
    if isinstance(validation, (tuple, list)) and validation:
      validation, validation_y = validation[0], (
          validation[1] if len(validation) > 1 else None)
    self._check_input(validation, "validation_data", validation_y,
                      labelled=True)
    history = super().fit(x, *args, **kwargs)
    if (isinstance(history, keras.callbacks.History) and history.epoch and
        "loss" not in history.history):
      # An input whose size is unknown beforehand (a filtered dataset, a
      # generator) ran out before the first step.
      raise ValueError(f"`x` yielded no batches: nothing was trained "
                       f"({x!r}).")
    return history

  def train_on_batch(self, x, *args, **kwargs):
    """`keras.Model.train_on_batch`, refusing bad input before it runs."""
    self._check_input(x, y=_y(args, kwargs), labelled=True)
    return super().train_on_batch(x, *args, **kwargs)

  def evaluate(self, x=None, *args, **kwargs):
    """`keras.Model.evaluate`, with the Polyak averages (if any) swapped in.

    Raises:
      ValueError: for an empty `x` and for what the class refuses.
    """
    self._check_input(x, y=_y(args, kwargs), labelled=True)
    with self.averaged_weights():
      results = super().evaluate(x, *args, **kwargs)
    if isinstance(results, (list, dict)) and not results:
      raise ValueError(f"`x` yielded no batches: nothing was evaluated "
                       f"({x!r}).")
    return results

  def predict(self, x, *args, **kwargs):
    """`keras.Model.predict`, with the Polyak averages (if any) swapped in.

    Raises:
      ValueError: for an empty `x` and for what the class refuses.
    """
    self._check_input(x)
    with self.averaged_weights():
      return super().predict(x, *args, **kwargs)

  def _images(self, images, training, name):
    """`images` checked (see the class; `name` is the argument the messages
    name), and dequantized if they are integers."""
    images = tf.convert_to_tensor(images)
    integer = images.dtype.is_integer
    dtype = tf.as_dtype(self.flow_config.dtype)
    images = checked_images(name, images, self.flow_config.image_shape,
                            dtype, pixel_range=training and self._pixels)
    if not integer:
      return images
    if training:
      return add_noise(images, tf.random.uniform(tf.shape(images),
                                                 dtype=dtype))
    return images + 0.5

  def _batch(self, data, training, name, labelled):
    """`(images, labels)` of a batch, both checked; `labels` is `None` for
    an unconditional flow, and for images alone where not `labelled`."""
    labels = None
    if isinstance(data, (tuple, list)):
      data, labels = data[0], (data[1] if len(data) > 1 else None)
    images = self._images(data, training, name)
    if self._num_classes is None or (labels is None and not labelled):
      return images, None
    if labels is None:
      raise ValueError(_missing_labels(self._num_classes))
    if tf.is_tensor(labels) and labels.dtype.is_integer:
      # Through int64: `check_labels`' cast to int32 is then an op, which
      # waits for its checks (a cast to the same dtype returns its input).
      labels = tf.cast(labels, tf.int64)
    labels = check_labels(labels, self._num_classes, "y")
    count = tf.debugging.assert_equal(
        tf.shape(labels)[0], tf.shape(images)[0],
        message="`y` must hold one label per image of `x`")
    with tf.control_dependencies([count]):
      # The static shape [batch] (checked above) the metrics need.
      return images, tf.reshape(labels, [-1])

  def _terms(self, images, labels, training):
    """The per-image terms of the loss and the metrics: `log_prob`
    (`log p(x | y)`, or `log p(x)` without labels) and, for a labelled
    batch where the classifier is used, `class_log_prob` (`log p(y | x)`),
    `marginal` and `correct`."""
    flow = self._make_flow(training)
    if labels is None:
      return dict(log_prob=flow.log_prob(images))
    kept = flow.drop_labels(labels, seed=self._step_seed()) if training else (
        labels)
    if training and not self.classification_weight:
      return dict(log_prob=ConditionedFlow(flow, kept).log_prob(images))
    # Every class's density in one batched call (in training also the null
    # label's, for the dropped labels).
    num_classes = self._num_classes
    columns = num_classes + 1 if training and flow.label_dropout else (
        num_classes)
    table = ConditionedFlow(flow, tf.range(columns)).log_prob(
        images[:, tf.newaxis])
    classes = tf.nn.log_softmax(table[:, :num_classes], axis=-1)
    terms = dict(log_prob=tf.gather(table, kept, batch_dims=1),
                 class_log_prob=tf.gather(classes, labels, batch_dims=1))
    if not training:
      terms.update(
          marginal=tf.reduce_logsumexp(table, axis=-1) - math.log(
              num_classes),
          correct=tf.equal(tf.argmax(classes, axis=-1, output_type=tf.int32),
                           labels))
    return terms

  def _step_seed(self):
    """The seed of a training step's label dropout: the optimizer step and
    the replica, so that a resumed run drops the labels an uninterrupted one
    does."""
    step = 0 if self.optimizer is None else self.optimizer.iterations
    context = tf.distribute.get_replica_context()
    replica = 0 if context is None else context.replica_id_in_sync_group
    return tf.stack([tf.cast(step, tf.int64), tf.cast(replica, tf.int64)])

  def _objective(self, terms):
    """The objective of each image, nats (see the class)."""
    losses = -terms["log_prob"]
    if "class_log_prob" in terms and self.classification_weight:
      losses -= (self.classification_weight * self._num_dims *
                 terms["class_log_prob"])
    return losses

  def _log_prob(self, data, training, name):
    images, labels = self._batch(data, training, name, labelled=False)
    return self._terms(images, labels, training)["log_prob"]

  def call(self, images, training=False):
    return self._log_prob(images, bool(training), "images")

  def _update_metrics(self, terms, losses):
    updates = {
        self.loss_tracker: losses,
        self.bits_per_dim_tracker: nats_to_bits_per_dim(-terms["log_prob"],
                                                        self._num_dims)}
    if "class_log_prob" in terms:
      updates[self._class_trackers["bits_y"]] = nats_to_bits_per_dim(
          -terms["class_log_prob"], 1)
    if "marginal" in terms:
      updates[self._class_trackers["marginal_bits_per_dim"]] = (
          nats_to_bits_per_dim(-terms["marginal"], self._num_dims))
      updates[self._class_trackers["accuracy"]] = tf.cast(
          terms["correct"], losses.dtype)
    for tracker, values in updates.items():
      tracker.update_state(values)
    results = {tracker.name: tracker.result() for tracker in updates}
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
      return tf.constant(0.0, tf.as_dtype(self.flow_config.dtype))
    return self.l2 * tf.add_n([tf.reduce_sum(tf.square(v))
                               for v in variables])

  def train_step(self, data):
    images, labels = self._batch(data, True, "x", labelled=True)
    # Every op of the step, the updates of moving statistics, actnorms,
    # optimizer and averages included, runs after the batch's checks; a
    # data dependency alone would not order an update that reads no image
    # (the optimizer's step counter, a weight decay).
    checked = [images] if labels is None else [images, labels]
    with tf.control_dependencies(checked):
      return self._train_step(images, labels)

  def _train_step(self, images, labels):
    context = _replica_context()
    dtype = images.dtype
    count = tf.cast(tf.shape(images)[0], dtype)
    num_replicas = 1 if context is None else context.num_replicas_in_sync
    if context is not None:
      count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    variables = self.trainable_variables
    scaled = isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)
    with tf.GradientTape() as tape:
      terms = self._terms(images, labels, training=True)
      losses = self._objective(terms)
      loss = (tf.reduce_sum(losses) / count +
              tf.cast(self._penalty(), dtype) / num_replicas)
      # The dynamic loss scale, a power of 2: (un)scaling is exact.
      scale = (self.optimizer.scale_loss(tf.ones([], dtype)) if scaled
               else None)
      objective = loss * scale if scaled else loss
    # Dense: a label's row of a per-class table gets an `IndexedSlices`,
    # which the all-reduce and the scaling below do not take.
    grads = [tf.convert_to_tensor(g) for g in tape.gradient(objective,
                                                             variables)]
    if context is not None:
      grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
      loss = context.all_reduce(tf.distribute.ReduceOp.SUM, loss)
    if scaled:
      grads = [g / scale for g in grads]
    norm = tf.linalg.global_norm(grads)
    # Every replica sees the same global loss and norm, so all stop together,
    # before the optimizer touches a weight. Under loss scaling an
    # overflowing gradient is the optimizer's to skip.
    finite = tf.math.is_finite(loss)
    if not scaled:
      finite &= tf.math.is_finite(norm)
    check = tf.debugging.Assert(
        finite,
        ["Training diverged: non-finite loss or gradient norm at optimizer "
         "step", self.optimizer.iterations, "loss:", loss, "gradient norm:",
         norm, "No weight was updated by this step; lower the learning rate "
         "or tighten gradient clipping and resume from the last checkpoint."])
    # As for the batch's checks: every update, also one that reads no
    # gradient, runs after this one.
    with tf.control_dependencies([check]):
      if self.clip_norm:
        grads, _ = tf.clip_by_global_norm(grads, self.clip_norm,
                                          use_norm=norm)
      if context is not None:
        # The optimizer sums the replicas' gradients again.
        grads = [g / num_replicas for g in grads]
      if scaled:
        grads = [g * scale for g in grads]   # the optimizer unscales them
      self.optimizer.apply_gradients(zip(grads, variables))
      if self.weight_average is not None:
        self.weight_average.update(self.flow_layers.trainable_variables)
      return self._update_metrics(terms, losses)

  def test_step(self, data):
    terms = self._terms(*self._batch(data, False, "x", labelled=True),
                        training=False)
    return self._update_metrics(terms, self._objective(terms))

  def predict_step(self, data):
    # As Keras's: the labels of `(images, labels)` batches are targets, and
    # `predict` ignores targets (a conditional flow's `log_prob` is then the
    # marginal).
    images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    if isinstance(images, (tuple, list)):     # predict((images, labels))
      images = images[0]
    return self._log_prob(images, False, "x")

  def get_config(self):
    config = super().get_config()
    config.update(flow_config=self.flow_config.to_dict(), l2=self.l2,
                  clip_norm=self.clip_norm, ema_decay=self.ema_decay,
                  classification_weight=self.classification_weight,
                  flow_kwargs=dict(self._flow_kwargs))
    return config

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    # tfnvp 0.3 saved its flat model record as `model_config`.
    record = config.pop("flow_config", None) or config.pop("model_config")
    flow = FlowConfig.from_dict(record).make_flow(
        **config.pop("flow_kwargs", {}))
    return cls(flow, **config)
