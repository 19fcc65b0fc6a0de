"""Class-conditional flows: the flow given labels, and its Bayes classifier."""

import functools
import math
import numbers

import numpy as np
import tensorflow as tf
from tensorflow_probability.python.internal import samplers

from tfnvp import bijectors
from tfnvp import guidance as guidance_lib
from tfnvp.flows.image_flow import ImageFlow
from tfnvp.internal.checks import check_sample_shape

__all__ = ["ConditionalImageFlow", "ConditionedFlow", "Conditioning",
           "check_labels"]


def _show(value):
  """`value` for a message: a tensor by its values where they are known."""
  if tf.is_tensor(value):
    static = tf.get_static_value(value)
    return value if static is None else static.tolist()
  return repr(value)


def check_labels(labels, limit, name="labels"):
  """`labels` as an int32 vector with values in `[0, limit)`.

  Static values (Python lists, arrays, eager tensors) are checked at once;
  a symbolic tensor (under `tf.function`) is checked when it is computed.

  Args:
    labels: ints `[n]`: a list, a NumPy array or an integer `Tensor`.
    limit: Python `int`, one past the largest valid label.
    name: the argument's name, for the messages.

  Returns:
    An int32 `Tensor` `[n]`.

  Raises:
    ValueError: for `None`, a non-integer dtype, a shape other than `[n]`,
      or static values out of range; the message names `name` and shows
      the value.
    InvalidArgumentError: for a symbolic tensor of another rank or with
      values out of range, when it is computed.
  """
  expected = f"ints [n] in [0, {limit})"
  if labels is None:
    raise ValueError(f"`{name}` must be given: {expected}; got None.")
  if isinstance(labels, (list, tuple)) and not labels:
    labels = np.zeros([0], np.int32)      # not TF's float32 of `[]`
  try:
    tensor = tf.convert_to_tensor(labels)
  except (TypeError, ValueError):
    raise ValueError(f"`{name}` must be {expected}; got {labels!r}.") from None
  if not tensor.dtype.is_integer:
    raise ValueError(f"`{name}` must have an integer dtype; got "
                     f"{tensor.dtype.name}: {_show(labels)}.")
  if tensor.shape.rank is not None and tensor.shape.rank != 1:
    raise ValueError(f"`{name}` must be a vector [n]; got shape "
                     f"{tensor.shape}: {_show(labels)}.")
  static = tf.get_static_value(tensor)
  if static is not None:
    bad = static[(static < 0) | (static >= limit)]
    if bad.size:
      raise ValueError(f"`{name}` must be in [0, {limit}); got "
                       f"{bad.tolist()} in {static.tolist()}.")
    return tf.cast(tensor, tf.int32)
  message = f"`{name}` must be {expected}"
  checks = [
      tf.debugging.assert_rank(tensor, 1, message=message),
      tf.debugging.assert_non_negative(tensor, message=message),
      tf.debugging.assert_less(tensor, tf.cast(limit, tensor.dtype),
                               message=message)]
  with tf.control_dependencies(checks):
    # An op of its own: a cast to the same dtype returns its input, which
    # would not wait for the checks.
    return tf.identity(tf.cast(tensor, tf.int32))


class Conditioning:
  """The labels a flow's bijectors are built with, and where they enter.

  A family's `_make_flow(conditioning, validate_args)` (see
  `ConditionalImageFlow`) asks it for the two label-dependent parts:

  * `network(net)`: the `shift_and_log_scale_fn` of a coupling whose
    network is `net`; `net(x, labels=y)` if the network is conditional
    (`net.num_labels`), with TarFlow's guidance rule
    (`tfnvp.guidance.linear_guidance`) on its pair;
  * `prior(layer)`: the `tfnvp.bijectors.ClassPrior` of a Gaussian prior's
    `tfnvp.networks.ClassGaussianParameters`, or `None` without labels.

  Without labels every network is `functools.partial(net,
  training=training)` and there are no priors: the unconditional flow.

  Args:
    training: Python `bool`, the networks' mode.
    labels: int `Tensor` or array of labels, or `None`.
    guidance: the guidance weight (Python number or scalar `Tensor`).
    null_label: Python `int`, the unconditional label (for guidance).
    validate_args: Python `bool`, of the priors.
  """

  def __init__(self, training, labels=None, guidance=0.0, null_label=None,
               validate_args=False):
    self.training = bool(training)
    self.labels = labels
    self.guidance = guidance
    self.null_label = null_label
    self.validate_args = validate_args

  def network(self, net):
    """The `shift_and_log_scale_fn` of a coupling that uses `net`."""
    if self.labels is None or getattr(net, "num_labels", None) is None:
      return functools.partial(net, training=self.training)
    return functools.partial(_labelled_network, net, self.labels,
                             self.guidance, self.null_label, self.training)

  def prior(self, layer):
    """The `ClassPrior` on `layer`'s Gaussians, or `None` without labels."""
    if self.labels is None:
      return None
    return bijectors.ClassPrior(layer, self.labels, self.guidance,
                                self.null_label,
                                validate_args=self.validate_args)


def _labelled_network(net, labels, guidance, null_label, training, inputs):
  """`net`'s pair for `labels`, guided by the pair for the null label."""
  shift, log_scale = net(inputs, labels=labels, training=training)
  if guidance_lib.is_unguided(guidance):
    return shift, log_scale
  null_shift, null_log_scale = net(inputs, labels=null_label,
                                   training=training)
  return (guidance_lib.linear_guidance(shift, null_shift, guidance),
          guidance_lib.linear_guidance(log_scale, null_log_scale, guidance))


class ConditionalImageFlow(ImageFlow):
  """An `ImageFlow` that is class-conditional when given `num_classes`.

  The base of `tfnvp.RealNVP` and `tfnvp.Glow`. With `num_classes=None` it
  is the unconditional flow. With `num_classes=K` the label `y` enters the
  flow's Gaussian priors, and optionally its coupling networks:

  ```none
  p(x | y) = N(f_y(x); 0, I) |det df_y/dx|
  f_y      = the flow with, where a part z_k of the latent code is factored
             out and at the top, the standardization
             z_k -> (z_k - m_{k,y}) * exp(-log s_{k,y})   (ClassPrior)
             i.e. z_k | y ~ N(m_{k,y}, diag(s_{k,y})^2), one value per
             channel (Glow's --ycond prior), zero-initialized; and with
             condition_couplings, e_y (a learned vector per label) added
             inside every coupling network
  p(y)     = 1 / K                                  (uniform, not learned)
  log p(x) = logsumexp_y log p(x | y) - log K       (log_prob)
  log p(y | x) = log p(x | y) - logsumexp_y' log p(x | y')   (classify)
  ```

  `y` ranges over the `K` classes and the null label `K` (`null_label`),
  whose weights exist in every conditional flow. With `label_dropout=p`
  the training-mode `given` replaces each label by `K` with probability
  `p`, so that the null label learns an unconditional-like `p(x | K)`:
  the reference of guidance (`tfnvp.guidance`).

  Conditional flows are TFP distributions in two ways:

  * `flow.given(labels)` is `p(x | y)`, a `ConditionedFlow` with one label
    per batch member (batch shape `[n]`): `log_prob`, `sample`,
    `tfnvp.bits_per_dim` and `tfnvp.sample_at_temperature` as for any
    flow, in one batched call whatever the mix of labels;
  * `flow` itself is the marginal `p(x)`: `log_prob` is
    `marginal_log_prob`, and `sample` draws `y ~ p(y)`, then `x ~ p(x |
    y)`. Its `bijector` holds the `K` class-conditional maps at once (batch
    shape `[K]`); its `flow` (data to latent) needs a label and raises:
    use `flow.given(labels).flow`.

  Cost: with the priors alone conditional (the default), the couplings do
  not see the label, so `conditional_log_probs`, `classify`,
  `marginal_log_prob` and `log_prob` run the couplings once per image and
  only the priors once per class. With `condition_couplings=True` every
  coupling runs once per class (`K` times the work).

  Subclasses build their variables' layer, set what `_make_flow` needs,
  and call `__init__`.

  Args:
    layers: the Keras layer that owns every variable (with `num_classes`
      and `condition_couplings` attributes).
    image_shape: `(H, W, C)`.
    pixels: Python `bool`, whether the support is dequantized pixels.
    training: Python `bool`.
    dtype: the float dtype.
    label_dropout: Python `float` in `[0, 1)`.
    validate_args: Python `bool`.
    parameters: the subclass's constructor arguments.
    name: Python `str`.
  """

  def __init__(self, layers, image_shape, pixels, training, dtype,
               label_dropout, validate_args, parameters, name):
    self._layers = layers    # `_make_flow` reads it
    self._num_classes = layers.num_classes
    self._label_dropout = label_dropout
    all_classes = None if self._num_classes is None else np.arange(
        self._num_classes, dtype=np.int32)
    flow = self._make_flow(
        Conditioning(training, all_classes, validate_args=validate_args),
        validate_args)
    super().__init__(flow, layers, image_shape, pixels, training, dtype,
                     validate_args, parameters, name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    # As `ImageFlow`'s; TFP warns about inherited ones.
    return dict()

  def _make_flow(self, conditioning, validate_args):
    """The data-to-latent bijector whose label-dependent parts
    `conditioning` builds (a `Conditioning`)."""
    raise NotImplementedError

  @property
  def num_classes(self):
    """`K`, or `None` for an unconditional flow."""
    return self._num_classes

  @property
  def condition_couplings(self):
    """Whether the coupling networks see the label."""
    return self._layers.condition_couplings

  @property
  def label_dropout(self):
    """The probability that the training-mode `given` drops a label."""
    return self._label_dropout

  @property
  def flow(self):
    """The data-to-latent bijector `f`; a class-conditional flow has one per
    label, `flow.given(labels).flow`.

    Raises:
      ValueError: for a class-conditional flow.
    """
    if self._num_classes is not None:
      raise ValueError(
          f"{self.name}: a class-conditional flow maps images to latents "
          "once `labels` are given: use `flow.given(labels).flow`.")
    return super().flow

  @property
  def null_label(self):
    """`K`, the label of no class (`given` takes it when `label_dropout >
    0`), or `None` for an unconditional flow."""
    return self._num_classes

  def given(self, labels, guidance=0.0, name=None):
    """The flow given one label per batch member: `p(x | y)`, or guided.

    In training mode with `label_dropout=p` each label is replaced by the
    null label with probability `p` (drawn when `given` is called, from
    TensorFlow's global generator: call it in the training step).

    Args:
      labels: ints `[n]` in `[0, num_classes)`, and `null_label` if
        `label_dropout > 0`.
      guidance: `w >= 0`, a Python number or scalar float `Tensor`; `0`
        (the default) is plain conditional sampling. See `ConditionedFlow`.
      name: Python `str`, the distribution's name.

    Returns:
      A `ConditionedFlow` of batch shape `[n]`.

    Raises:
      ValueError: for an unconditional flow, or invalid `labels` or
        `guidance`; see `ConditionedFlow`.
    """
    conditioned = ConditionedFlow(self, labels, guidance,
                                  validate_args=self.validate_args, name=name)
    if not (self.training and self._label_dropout > 0):
      return conditioned
    return conditioned.copy(labels=self.drop_labels(conditioned.labels))

  def drop_labels(self, labels, seed=None):
    """`labels` as the training-mode `given` uses them.

    In training mode with `label_dropout=p`, each label replaced by the
    null label with probability `p`; otherwise `labels` unchanged.

    Args:
      labels: an int32 `Tensor` `[n]`, already checked (`check_labels`).
      seed: a stateless seed (int `[2]`) of the draw, or `None` for
        TensorFlow's global generator.

    Returns:
      An int32 `Tensor` `[n]`.
    """
    if not (self.training and self._label_dropout > 0):
      return labels
    shape = tf.shape(labels)
    draw = (tf.random.uniform(shape) if seed is None else
            tf.random.stateless_uniform(shape, seed))
    keep = draw >= self._label_dropout
    return tf.where(keep, labels, self.null_label)

  def _check_conditional(self, what):
    if self._num_classes is None:
      raise ValueError(f"{self.name}: `{what}` needs a class-conditional "
                       "flow (num_classes); this one has num_classes=None.")

  def _images(self, images, what):
    """`images` converted and checked as `log_prob`'s input."""
    self._check_conditional(what)
    x = tf.convert_to_tensor(images, dtype_hint=self.dtype, name="images")
    self._check_value(x, "images")
    with tf.control_dependencies(self._sample_control_dependencies(x)):
      return tf.identity(x)

  def _class_log_probs(self, x):
    """`log p(x | y)` for `y = 0 .. K-1`, `[..., K]`."""
    return super()._log_prob(x[..., tf.newaxis, :, :, :])

  def conditional_log_probs(self, images):
    """`log p(x | y)` for every class `y`: `[..., num_classes]`.

    One batched evaluation (see the class docstring for its cost); the
    rows of `classify` and `marginal_log_prob` are computed from it.

    Args:
      images: float `Tensor` `[..., H, W, C]` in the flow's support.

    Returns:
      `Tensor` `[..., num_classes]`.

    Raises:
      ValueError: for an unconditional flow, or `images` of the wrong
        dtype or shape.
    """
    return self._class_log_probs(
        self._images(images, "conditional_log_probs"))

  def classify(self, images):
    """The Bayes classifier: `log p(y | x)` for every class, `[..., K]`.

    ```none
    log p(y | x) = log p(x | y) + log p(y) - logsumexp_y' (log p(x | y')
                   + log p(y'))
    ```

    with the uniform `p(y) = 1 / K`, which cancels. The rows sum to one
    (`exp`); `tf.argmax(flow.classify(x), -1)` is the predicted class. It
    is as good as the class-conditional densities are: see
    docs/conditional.md for when to trust it.

    Args:
      images: float `Tensor` `[..., H, W, C]`.

    Returns:
      `Tensor` `[..., num_classes]` of log-probabilities.

    Raises:
      ValueError: as `conditional_log_probs`.
    """
    return tf.nn.log_softmax(self._class_log_probs(
        self._images(images, "classify")), axis=-1)

  def marginal_log_prob(self, images):
    """`log p(x) = logsumexp_y log p(x | y) p(y)`, `p(y) = 1 / K`.

    What `log_prob` of a conditional flow computes.

    Args:
      images: float `Tensor` `[..., H, W, C]`.

    Returns:
      `Tensor` `[...]`.

    Raises:
      ValueError: as `conditional_log_probs`.
    """
    return self._marginal(self._images(images, "marginal_log_prob"))

  def _marginal(self, x):
    return tf.reduce_logsumexp(self._class_log_probs(x), axis=-1) - (
        math.log(self._num_classes))

  def _log_prob(self, x, **kwargs):
    if self._num_classes is None:
      return super()._log_prob(x, **kwargs)
    self._check_value(x, "value")
    return self._marginal(x)

  def _call_sample_n(self, sample_shape, seed, **kwargs):
    if self._num_classes is None:
      return super()._call_sample_n(sample_shape, seed, **kwargs)
    # The marginal: y ~ p(y), then x ~ p(x | y), one batched draw.
    shape = check_sample_shape(sample_shape)
    if shape is not None and 0 in shape:
      return tf.zeros(shape + list(self._image_shape), self.dtype)
    label_seed, image_seed = samplers.split_seed(seed, salt="marginal")
    if shape is None:
      shape = tf.reshape(tf.cast(sample_shape, tf.int32), [-1])
      count = tf.reduce_prod(shape)
    else:
      count = int(np.prod(shape))
    labels = tf.random.stateless_uniform([count], label_seed, 0,
                                         self._num_classes, dtype=tf.int32)
    images = ConditionedFlow(self, labels).sample(seed=image_seed)
    return tf.reshape(images, tf.concat([shape, self._image_shape], axis=0))


def _check_guidance(guidance, flow):
  """`guidance` checked for `flow`: a Python float, or a float `Tensor` of
  its dtype with run-time checks."""
  refusal = None
  if flow.label_dropout == 0:
    refusal = (f"needs the null label of a flow trained with label dropout; "
               f"{flow.name} has label_dropout=0")
  elif flow.training:
    refusal = ("applies to the inference-mode flow (training=False), not "
               "the training copy")
  if tf.is_tensor(guidance):
    if not guidance.dtype.is_floating or guidance.shape.rank not in (0,
                                                                     None):
      raise ValueError(f"`guidance` must be a scalar float; got "
                       f"{guidance!r}.")
    w = tf.cast(guidance, flow.dtype)
    checks = [
        tf.debugging.assert_all_finite(w, "`guidance` must be finite"),
        tf.debugging.assert_non_negative(w, "`guidance` must be >= 0"),
        tf.debugging.assert_rank(w, 0, "`guidance` must be a scalar")]
    if refusal:
      checks.append(tf.debugging.assert_equal(
          w, tf.zeros([], w.dtype), f"`guidance` {refusal}"))
    with tf.control_dependencies(checks):
      return tf.identity(w)
  if (isinstance(guidance, (bool, np.bool_)) or
      not isinstance(guidance, numbers.Real) or
      not (math.isfinite(guidance) and guidance >= 0)):
    raise ValueError(f"`guidance` must be a finite number >= 0; got "
                     f"{guidance!r}.")
  if guidance != 0 and refusal:
    raise ValueError(f"`guidance`={guidance!r} {refusal}.")
  return float(guidance)


class ConditionedFlow(ImageFlow):
  """A class-conditional flow given one label per batch member.

  `flow.given(labels, guidance)` returns one. For labels `y` (`[n]`) it is
  the batch of `n` distributions `p(x | y_i)` over `[H, W, C]` images: batch
  shape `[n]`, event shape `image_shape`. `log_prob` takes images `[...,
  n, H, W, C]` (any batch that broadcasts with `[n]`) and `sample(m)` gives
  `[m, n, H, W, C]`, one image per label, all labels in one batched call.
  It is a `tfd.TransformedDistribution` of a standard normal through the
  inverse of `flow` (the data-to-latent map `f_y`, whose priors and
  conditional networks see `y`), so `tfnvp.bits_per_dim` and
  `tfnvp.sample_at_temperature` (which scales the standard normal: each
  Gaussian prior keeps its mean, its spread shrinks) apply as to any flow.

  Guidance `w` (`tfnvp.guidance`): each Gaussian prior becomes the
  normalized product `p_y^(1+w) / p_null^w` (exact: with the couplings
  unconditional, the whole distribution is `p(x|y)^(1+w) / p(x|null)^w`
  normalized), and each conditional coupling's shift and log-scale are
  extrapolated by TarFlow's linear rule (a heuristic). The guided
  distribution is still a normalized density with an exact `log_prob`.
  `w = 0` is exactly the unguided distribution (a Python 0 skips the
  computation; a `Tensor` 0 computes the same values). A `w` at which a
  prior's product is improper raises an `InvalidArgumentError` naming the
  largest valid `w`.

  Args:
    conditional_flow: the class-conditional `tfnvp.RealNVP` or `tfnvp.Glow`
      (`num_classes` set) whose weights it uses, in its mode.
    labels: ints `[n]` (list, array or integer `Tensor`) in `[0, K)`, and
      the null label `K` if the flow has `label_dropout > 0`.
    guidance: `w`, a finite Python number `>= 0` or a scalar float
      `Tensor` (checked when computed); not 0 only for an inference-mode
      flow with `label_dropout > 0`.
    validate_args: Python `bool`, as for the flow.
    name: Python `str`, or `None` for the flow's name plus `_given_labels`.

  Raises:
    TypeError: if `conditional_flow` is not a tfnvp flow.
    ValueError: for an unconditional flow, labels that are not ints `[n]`
      in range, or an invalid `guidance`; the message names the argument
      and the value.
    InvalidArgumentError: for a `Tensor` `labels` or `guidance` that fails
      the same checks when computed.

  #### Examples

  ```python
  flow = tfnvp.Glow((28, 28, 1), num_classes=10, label_dropout=0.1)
  # ... trained with flow.copy(training=True).given(y).log_prob(x) ...
  digits = flow.given([3, 3, 7])
  bpd = tfnvp.bits_per_dim(digits, images)              # images [3, 28, 28, 1]
  x = tfnvp.sample_at_temperature(flow.given(tf.range(10), guidance=2.0),
                                  temperature=0.7, seed=[1, 2])   # [10, ...]
  ```
  """

  def __init__(self, conditional_flow, labels, guidance=0.0,
               validate_args=False, name=None):
    parameters = dict(locals())
    if not isinstance(conditional_flow, ConditionalImageFlow):
      raise TypeError("`conditional_flow` must be a tfnvp flow with "
                      f"num_classes; got {conditional_flow!r}.")
    num_classes = conditional_flow.num_classes
    if num_classes is None:
      raise ValueError(
          f"`labels`: {conditional_flow.name} is unconditional "
          f"(num_classes=None); got labels={_show(labels)}.")
    labels = check_labels(
        labels, num_classes + (conditional_flow.label_dropout > 0))
    guidance = _check_guidance(guidance, conditional_flow)
    parameters.update(labels=labels, guidance=guidance)
    self._conditional_flow = conditional_flow
    self._labels = labels
    self._guidance = guidance
    flow = conditional_flow._make_flow(  # pylint: disable=protected-access
        Conditioning(conditional_flow.training, labels, guidance,
                     null_label=num_classes, validate_args=validate_args),
        validate_args)
    super().__init__(flow, conditional_flow.layers,
                     conditional_flow.image_shape, conditional_flow.pixels,
                     conditional_flow.training, conditional_flow.dtype,
                     validate_args, parameters,
                     name or f"{conditional_flow.name}_given_labels")

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    # The batch parameters of the priors it builds: one label per member.
    return dict(bijectors.ClassPrior.parameter_properties(dtype))

  @property
  def conditional_flow(self):
    """The class-conditional flow whose weights this one uses."""
    return self._conditional_flow

  @property
  def labels(self):
    """The labels, an int32 `Tensor` `[n]`."""
    return self._labels

  @property
  def guidance(self):
    """The guidance weight (a Python float or a scalar `Tensor`)."""
    return self._guidance

  @property
  def domain(self):
    return self._conditional_flow.domain

  def _log_prob(self, x, **kwargs):
    try:
      tf.broadcast_static_shape(x.shape[:-3], self._labels.shape)
    except ValueError:
      raise ValueError(
          f"{self.name}: the batch shape of `value` {x.shape[:-3]} does not "
          f"broadcast with `labels` of shape {self._labels.shape}.") from None
    return super()._log_prob(x, **kwargs)
