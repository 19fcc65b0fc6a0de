"""A flow's serving signatures, as a table of endpoints.

An `Endpoint` is one signature of `export.contract.SIGNATURES` in the manner
of Keras's `keras.export.ExportArchive.add_endpoint`: a name, a function,
and an input signature, here read from the contract (each input's name,
dtype and shape, with the model's `H, W, C`). The endpoint adds what the
contract cannot say: what each input is, in messages, and what its values
must be, the checks between inputs, and the function of the checked inputs.
Its outputs are the contract's, cast to the contract's dtypes.

The checks (`export.graph_checks`) run in the graph, before any op of the
model, in this order: every input's shape, as the contract gives it (the
rank, the model's image shape, a batch of `n >= 1`); the checks between
inputs; every input's values. After the model, every output the contract
says is finite (`Signature.finite_outputs`, after the cast to its dtype) is
checked, in the contract's order, and every output waits for all of these
checks, so a request for some outputs only (TF Serving's `output_filter`)
is checked too: an error naming the signature and the output, not a NaN,
is returned.

#### Examples

```python
module = build_serving_module(flow, calibration=calibration)
module.serving_signatures["sample"](num_samples=tf.constant(4),
                                    temperature=tf.constant(0.7),
                                    seed=tf.constant([1, 2], tf.int64))
tf.saved_model.save(module, path, signatures=module.serving_signatures)
```
"""

import dataclasses
import inspect
import math

import tensorflow as tf

import tfnvp
from tfnvp.flows import ConditionedFlow
from tfnvp.flows import ImageFlow

from . import contract
from .graph_checks import all_true
from .graph_checks import assert_that
from .graph_checks import check_finite
from .graph_checks import check_scalar_in
from .graph_checks import check_shape
from .graph_checks import check_values
from .graph_checks import checked
from .graph_checks import finite_output
from .graph_checks import runtime_shape

__all__ = ["DEFAULT_MAX_INTERPOLATION_STEPS", "DEFAULT_MAX_SAMPLES",
           "Endpoint", "Input", "build_serving_module", "serving_endpoints"]

# The default limits of a request: the largest `num_samples` of `sample` and
# `num_steps` of `interpolate`.
DEFAULT_MAX_SAMPLES = 256
DEFAULT_MAX_INTERPOLATION_STEPS = 64

_INT32_RANGE = (-2**31, 2**31 - 1)

# What to check when a request within the checked ranges makes the model
# compute NaN or inf: its weights, and the temperature of a sample.
_CHECKPOINT_HINT = "Check the weights of the exported checkpoint."
_SAMPLE_HINT = ("Lower `temperature`, or check the weights of the exported "
                "checkpoint.")


@dataclasses.dataclass(frozen=True)
class Input:
  """What an input of an endpoint is and must hold, beyond its contract.

  Attributes:
    what: the input, in the message of its shape check: one example of a
      batch (`"image"`: "a batch of shape [n, 28, 28, 1] holding at least
      one image (n >= 1)"), the values of a scalar (`"in [1, 256]"`: "a
      scalar in [1, 256]"), or the values of a fixed shape (`"two int64
      values"`: "two int64 values (shape [2])").
    values: `None`, or `(x, name) -> Assert op`, the check of its values.
  """

  what: str
  values: object = None


@dataclasses.dataclass(frozen=True)
class Endpoint:
  """One serving signature: the checks of a request and the computation.

  Attributes:
    name: the signature's name, a key of `export.contract.SIGNATURES`,
      which gives its inputs (names, dtypes, shapes) and outputs (names,
      dtypes).
    fn: `(*inputs) -> {output name: tensor}`, the inputs in the contract's
      order, after every check; it returns at least the contract's outputs,
      which are cast to the contract's dtypes.
    inputs: `{input name: Input}` of every input of the signature.
    relations: functions `(**inputs) -> Assert op` of the inputs by name,
      the checks between inputs, run after the shape checks and before the
      value checks.
    hint: what to check when the model computes a non-finite output, for
      the message.
    conditional: Python `bool`, whether `name` is a signature of
      `contract.CONDITIONAL_SIGNATURES` (a class-conditional flow's).
  """

  name: str
  fn: object
  inputs: dict
  relations: tuple = ()
  hint: str = _CHECKPOINT_HINT
  conditional: bool = False

  def function(self, sizes):
    """The endpoint as a `tf.function` of the contract's input signature.

    Args:
      sizes: `{name: int}` of the contract's named sizes the model fixes,
        `contract.image_sizes(flow.image_shape)`.

    Returns:
      A `tf.function` that takes the inputs (by position or name), checks
      them and returns `{output name: tensor}` of the contract's dtypes,
      each gated by the checks of the finite outputs.
    """
    signature = contract.signature(self.name, self.conditional)
    names = list(signature.inputs)
    shapes = {name: contract.bind(signature.input_shapes[name], sizes)
              for name in names}
    shape_checks = [
        _on(i, _shape_check(name, shapes[name], self.inputs[name].what))
        for i, name in enumerate(names)]
    value_checks = [
        _on(i, lambda x, name=name: self.inputs[name].values(x, name))
        for i, name in enumerate(names) if self.inputs[name].values]
    relations = [
        lambda *tensors, relation=relation: relation(**dict(zip(names,
                                                                tensors)))
        for relation in self.relations]
    checks = [*shape_checks, *relations, *value_checks]
    outputs_of = list(signature.outputs)
    output_checks = [
        _on(i, lambda x, name=name: check_finite(
            x, self.name, f"output `{name}`", self.hint))
        for i, name in enumerate(outputs_of)
        if name in signature.finite_outputs]

    def serve(*inputs):
      outputs = self.fn(*checked(list(inputs), *checks))
      outputs = [tf.cast(outputs[name], dtype)
                 for name, dtype in signature.outputs.items()]
      return dict(zip(outputs_of, checked(outputs, *output_checks)))

    # tf.function reads the parameters (keyword calls, the names of the
    # saved function's arguments) from the Python signature.
    serve.__name__ = self.name
    serve.__signature__ = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for name in names])
    return tf.function(serve, input_signature=[
        tf.TensorSpec([d if isinstance(d, int) else None
                       for d in shapes[name]], dtype, name=name)
        for name, dtype in signature.inputs.items()])


def _on(index, check):
  """A check of one tensor as a check of the `index`-th of several."""
  return lambda *tensors: check(tensors[index])


def _shape_check(name, shape, what):
  """`(x) -> Assert op`: `x` has the contract shape `shape`.

  Args:
    name: the input's name.
    shape: its contract shape, the model's sizes bound (`contract.bind`):
      ints, and names for the sizes of a request (a batch's `n`).
    what: `Input.what`.
  """
  free = [dim for dim in shape if isinstance(dim, str)]
  text = contract.format_shape(shape)
  if not shape:
    description = f"a scalar {what}"
  elif free:
    minimums = ", ".join(f"{dim} >= 1" for dim in free)
    description = (f"a batch of shape {text} holding at least one {what} "
                   f"({minimums})")
  else:
    description = f"{what} (shape {text})"
  pattern = [None if isinstance(dim, str) else dim for dim in shape]
  return lambda x: check_shape(x, name, pattern, description,
                               show_values=not free)


def _values(bounds, description):
  """An `Input.values` check: finite, and within `bounds` if not `None`."""
  return lambda x, name: check_values(x, name, bounds, description)


def _count(low, high):
  """`Input` of a scalar count in `[low, high]`."""
  return Input(f"in [{low}, {high}]",
               lambda x, name: check_scalar_in(x, name, low, high))


def _positive(x, name):
  return assert_that(all_true(tf.math.is_finite(x) & (x > 0)),
                     f"`{name}` must be a finite scalar > 0; got", x)


def _int32_seed(seed, name):
  low, high = _INT32_RANGE
  return assert_that(all_true((seed >= low) & (seed <= high)),
                     f"`{name}` must be two int64 values within int32 range "
                     f"{list(_INT32_RANGE)}; got", seed)


def _same_count(images_a, images_b, **_):
  n_a, n_b = runtime_shape(images_a)[0], runtime_shape(images_b)[0]
  return assert_that(tf.equal(n_a, n_b), "`images_a` and `images_b` must "
                     "hold the same number of images; got", n_a, "and", n_b)


def _one_label_each(batch, what):
  """A relation: `labels` holds one label per `what` of the input `batch`."""

  def check(labels, **inputs):
    n, count = runtime_shape(inputs[batch])[0], runtime_shape(labels)[0]
    return assert_that(tf.equal(n, count), f"`labels` must hold one label "
                       f"per {what} of `{batch}`; got", count, "labels for",
                       n, f"{what}s")

  return check


def _labels(flow, max_count=None):
  """`Input` of labels of `flow`'s classes, at most `max_count` of them."""
  num_classes = flow.num_classes
  null = (f" (the null label {num_classes} is not a class)"
          if flow.label_dropout > 0 else "")

  def values(x, name):
    checks = []
    if max_count is not None:
      count = runtime_shape(x)[0]
      checks.append(assert_that(
          count <= max_count, f"`{name}` must hold at most {max_count} "
          "labels, one per sample (`max_samples` of the export); got", count))
    with tf.control_dependencies(checks):
      bad = (x < 0) | (x >= num_classes)
      return assert_that(
          tf.logical_not(tf.reduce_any(bad)),
          f"`{name}` must be class labels in [0, {num_classes}){null}; got",
          tf.boolean_mask(x, bad), "in", x)

  return Input("label", values)


def _guidance(flow):
  """`Input` of the guidance weight: finite, >= 0, and 0 unless `flow` was
  trained with label dropout."""
  dropout = flow.label_dropout

  def values(w, name):
    ok = tf.math.is_finite(w) & (w >= 0)
    message = f"`{name}` must be a finite scalar >= 0; got"
    if dropout == 0:
      ok &= tf.equal(w, 0.0)
      message = (f"`{name}` must be 0: the model was trained without label "
                 "dropout (label_dropout=0), so it has no unconditional "
                 "density to guide by; got")
    return assert_that(all_true(ok), message, w)

  return Input("that is finite and >= 0", values)


class _Computations:
  """What the endpoints compute, in the flow's dtype (`flow.dtype`).

  `labels` (int32 `[n]`, checked) are given for a class-conditional flow
  only; each image is then computed with its label's distribution,
  `flow.given(labels)`.

  The endpoint checks the outputs; `interpolate` checks its latents too,
  since decoding saturates (a non-finite latent can decode to a finite
  image), and `sample` its images before they become `pixels`.
  """

  def __init__(self, flow, calibration):
    self._flow = flow
    self._calibration = calibration
    self._dtype = flow.dtype
    self._image_shape = tuple(flow.image_shape)

  def _given(self, labels):
    """The distribution of each image: the flow, or given its label."""
    return self._flow if labels is None else self._flow.given(labels)

  def _bits(self, log_prob):
    return -log_prob / (math.prod(self._image_shape) * math.log(2.0))

  def _log_probs(self, x, labels):
    """`log_prob`, and with `labels` the `marginal_log_prob` too."""
    log_prob = self._given(labels).log_prob(x)
    if labels is None:
      return {"log_prob": log_prob}
    return {"log_prob": log_prob,
            "marginal_log_prob": self._flow.marginal_log_prob(x)}

  def bits_per_dim(self, images, labels=None):
    """`serving_default`: pixel k is evaluated at the centre of [k, k + 1).
    """
    out = self._log_probs(tf.cast(images, self._dtype) + 0.5, labels)
    for name in list(out):
      out[name.replace("log_prob", "bits_per_dim")] = self._bits(out[name])
    return out

  def log_prob(self, images, labels=None):
    """`log_prob`: the density of dequantized pixels."""
    return self._log_probs(tf.cast(images, self._dtype), labels)

  def _sample(self, distribution, sample_shape, temperature, seed):
    """`pixels` are the 8-bit values of the float32 `images`."""
    images = tfnvp.sample_at_temperature(
        distribution, sample_shape, tf.cast(temperature, self._dtype),
        seed=tf.cast(seed, tf.int32))
    # Checked before `pixels` are computed from them.
    images = finite_output(tf.cast(images, tf.float32), "sample",
                           "output `images`", _SAMPLE_HINT)
    return {"images": images, "pixels": tfnvp.to_uint8(images)}

  def sample(self, num_samples, temperature, seed):
    """`sample`."""
    return self._sample(self._flow, tf.reshape(num_samples, [1]),
                        temperature, seed)

  def sample_given(self, labels, guidance, temperature, seed):
    """`sample` of a class-conditional flow: one image per label."""
    if self._flow.label_dropout == 0:
      guidance = 0.0    # checked to be 0: no guidance to compute
    return self._sample(self._flow.given(labels, guidance), (), temperature,
                        seed)

  def _encode(self, images, labels):
    """Data to latents."""
    return self._given(labels).flow.forward(tf.cast(images, self._dtype))

  def _decode(self, z, labels):
    """Latents to data."""
    return self._given(labels).bijector.forward(tf.cast(z, self._dtype))

  def encode(self, images, labels=None):
    """`encode`."""
    return {"z": self._encode(images, labels)}

  def decode(self, z, labels=None):
    """`decode`."""
    return {"images": self._decode(z, labels)}

  def interpolate(self, images_a, images_b, num_steps, labels=None):
    """`interpolate`: decoded points of the arc from `z_a` to `z_b`, with
    each pair's label."""
    pairs = None if labels is None else tf.concat([labels, labels], 0)
    z = finite_output(self._encode(tf.concat([images_a, images_b], 0), pairs),
                      "interpolate", "latents of `images_a` and `images_b`",
                      _CHECKPOINT_HINT)
    z_a, z_b = tf.split(z, 2)
    phi = tf.linspace(tf.constant(0.0, self._dtype), math.pi / 2, num_steps)
    weights_shape = [1, -1] + [1] * len(self._image_shape)
    path = (tf.reshape(tf.cos(phi), weights_shape) * z_a[:, tf.newaxis] +
            tf.reshape(tf.sin(phi), weights_shape) * z_b[:, tf.newaxis])
    steps = None if labels is None else tf.repeat(labels, num_steps)
    images = self._decode(tf.reshape(path, [-1, *self._image_shape]), steps)
    out_shape = tf.concat([tf.shape(path)[:2], self._image_shape], axis=0)
    return {"images": tf.reshape(images, out_shape)}

  def classify(self, images):
    """`classify`: the Bayes classifier at the pixel centres."""
    log_probs = self._flow.classify(tf.cast(images, self._dtype) + 0.5)
    return {"log_probs": log_probs,
            "label": tf.argmax(log_probs, axis=-1, output_type=tf.int32)}

  def score(self, images):
    """`score`: the calibration's scores and decision."""
    return self._calibration.scores(self._flow, images)


def _conditional_endpoints(endpoints, model, flow, max_samples):
  """The endpoints of a class-conditional `flow`: each takes `labels`, one
  per image of its first input (`sample`: instead of `num_samples`, with
  `guidance`), and `classify`."""
  labels = _labels(flow)
  conditional = []
  for endpoint in endpoints:
    if endpoint.name == "sample":
      endpoint = dataclasses.replace(endpoint, fn=model.sample_given, inputs={
          "labels": _labels(flow, max_samples), "guidance": _guidance(flow),
          **{k: v for k, v in endpoint.inputs.items() if k != "num_samples"}})
    else:
      batch = next(iter(endpoint.inputs))
      endpoint = dataclasses.replace(
          endpoint, inputs={**endpoint.inputs, "labels": labels},
          relations=(*endpoint.relations,
                     _one_label_each(batch, endpoint.inputs[batch].what)))
    conditional.append(dataclasses.replace(endpoint, conditional=True))
  return (*conditional, Endpoint("classify", model.classify,
                                 {"images": Input("image")},
                                 conditional=True))


def serving_endpoints(flow, *, calibration, max_samples,
                      max_interpolation_steps):
  """The table of `flow`'s endpoints (see `build_serving_module`).

  Args:
    flow: a `tfnvp.flows.ImageFlow` in inference mode.
    calibration: a `tfnvp.OutlierCalibration`, or `None` for no `score`.
    max_samples: the largest `num_samples` of `sample` (of a
      class-conditional flow: the most `labels`).
    max_interpolation_steps: the largest `num_steps` of `interpolate`.

  Returns:
    A tuple of `Endpoint`s, in the contract's order: of
    `contract.CONDITIONAL_SIGNATURES` for a class-conditional flow.
  """
  model = _Computations(flow, calibration)
  finite = _values(None, "finite")
  domain = pixels = finite
  if flow.domain is not None:
    low, high = flow.domain
    domain = _values((low, high, False),
                     f"finite and in ({low:.6g}, {high:.6g})")
  if flow.pixels:
    pixels = _values((0.0, 256.0, True), "finite and in [0, 256)")
  endpoints = (
      Endpoint("serving_default", model.bits_per_dim,
               {"images": Input("image")}),
      Endpoint("log_prob", model.log_prob, {"images": Input("image", pixels)}),
      Endpoint("sample", model.sample, {
          "num_samples": _count(1, max_samples),
          "temperature": Input("that is finite and > 0", _positive),
          "seed": Input("two int64 values", _int32_seed)},
               hint=_SAMPLE_HINT),
      Endpoint("encode", model.encode, {"images": Input("image", domain)}),
      Endpoint("decode", model.decode, {"z": Input("latent", finite)}),
      Endpoint("interpolate", model.interpolate, {
          "images_a": Input("image", domain),
          "images_b": Input("image", domain),
          "num_steps": _count(2, max_interpolation_steps)},
               relations=(_same_count,)),
  )
  if getattr(flow, "num_classes", None) is not None:
    endpoints = _conditional_endpoints(endpoints, model, flow, max_samples)
  if calibration is not None:
    endpoints += (Endpoint("score", model.score, {"images": Input("image")}),)
  return endpoints


def build_serving_module(
    flow, *, calibration=None, max_samples=DEFAULT_MAX_SAMPLES,
    max_interpolation_steps=DEFAULT_MAX_INTERPOLATION_STEPS):
  """A `tf.Module` with the serving signatures of `flow`, ready to save.

  The signatures (names, dtypes and shapes in `export.contract.SIGNATURES`,
  or `CONDITIONAL_SIGNATURES`) run `flow` in inference mode (moving
  batch-norm statistics). Every
  request is checked in the graph, so the server returns an error naming
  the argument and the received shape or value instead of NaN or an error
  from deep in the model: a batch `[n, H, W, C]` of another rank or image
  shape, or an empty one (`n = 0`), a count or `temperature` that is not a
  scalar, a `seed` that is not `[2]`, then values out of range. The checks
  run in order (every input's shape, the checks between inputs, every
  input's values), before any op of the model, and read the shape of the
  tensor actually fed: TF Serving does not check a request against the
  signature's shapes. A float output that holds NaN or inf is an error
  naming the signature and the output, whichever outputs are fetched.

  ```none
  serving_default(images: uint8 [n, H, W, C])
      x = images + 0.5                          # pixel k -> centre of [k, k+1)
      -> log_prob = flow.log_prob(x), bits_per_dim = -log_prob / (H W C ln 2)
  log_prob(images: float32 [n, H, W, C] in [0, 256)) -> log_prob
  sample(num_samples in [1, max_samples], temperature > 0, seed: int64 [2])
      -> images = flow.bijector(temperature * z), z ~ N(0, I) drawn with the
         stateless `seed` (each value must fit in int32), pixels = uint8(images)
  encode(images: float32 [n, H, W, C]) -> z = f(images), f data-to-latent
  decode(z) -> images = f^-1(z)
  interpolate(images_a, images_b: [n, H, W, C], num_steps in
              [2, max_interpolation_steps])
      -> images [n, num_steps, H, W, C] = f^-1(cos(phi) z_a + sin(phi) z_b),
         phi = 0 .. pi/2 in equal steps, as in Real NVP's figures of latent
         manifolds [1]; its endpoints are a and b.
  score(images: uint8 [n, H, W, C])              # with a `calibration` only
      -> bits_per_dim = -log2 P(images) / D (`tfnvp.ood.pixel_bits_per_dim`:
         the pixels' probability from the calibration's noise patterns),
         complexity_bits_per_dim,
         ood_score = bits_per_dim - complexity_bits_per_dim, typicality =
         |bits_per_dim - mu| / sigma, is_outlier = score > threshold
         (`tfnvp.ood`; mu, sigma, the threshold and the score it applies to
         are the calibration's, as constants in the graph)
  ```

  A class-conditional flow (`flow.num_classes = K`) gets the signatures of
  `export.contract.CONDITIONAL_SIGNATURES`: each takes `labels`, int32 in
  `[0, K)`, one per image of its batch (the null label `K` of label dropout
  is not a class of a request), and computes with `flow.given(labels)`:

  ```none
  serving_default(images, labels)
      -> log_prob = log p(x | y), bits_per_dim, and marginal_log_prob =
         flow.marginal_log_prob(x) = log p(x), marginal_bits_per_dim
  log_prob(images, labels) -> log_prob, marginal_log_prob
  sample(labels [num_samples], guidance >= 0, temperature, seed)
      -> sample_at_temperature(flow.given(labels, guidance), ...): one image
         per label, num_samples <= max_samples; guidance > 0 only for a flow
         trained with label dropout
  encode(images, labels), decode(z, labels), interpolate(images_a,
         images_b, num_steps, labels)     # f_y of each image's (pair's) label
  classify(images: uint8 [n, H, W, C])
      -> log_probs = flow.classify(images + 0.5) [n, K], label = argmax
  score(images)                            # the marginal density, as above
  ```

  `labels` of another length than the batch, out of range, or a negative,
  NaN or non-scalar `guidance` are refused naming them, before the model.

  `encode` accepts the whole domain of `f` (`flow.domain`): with Real NVP's
  logit preprocessing that is the open interval `(-256 alpha / (1 - 2
  alpha), 256 (1 - alpha) / (1 - 2 alpha))` (which `decode` can return),
  wider than the pixel range `[0, 256)` that `log_prob` requires; Glow's
  is all reals. In float32 the inverse logit rounds
  to an end of that interval once `|logit| > ~16.6`, so `decode` of a
  latent far from the data can return an end value, which `encode` refuses
  (its logit is infinite). The variables are tracked as the raw
  `tf.Variable`s behind the Keras variables; the module holds no Keras
  object, so the session-based loader of TF Serving finds every variable.

  Args:
    flow: a `tfnvp.RealNVP` or `tfnvp.Glow` (a `tfnvp.flows.ImageFlow`).
    calibration: a `tfnvp.OutlierCalibration` of `flow` on in-distribution
      images, or `None` for no `score` signature.
    max_samples: Python `int >= 1`, the largest `num_samples` of `sample`.
    max_interpolation_steps: Python `int >= 2`, the largest `num_steps`.

  Returns:
    A `tf.Module` whose `serving_signatures` attribute maps each signature
    name to a `tf.function`; pass both to `tf.saved_model.save`.

  Raises:
    ValueError: for a flow that is not an image flow in inference mode (or
      is one given labels), or bad limits.
    TypeError: for a `calibration` that is not a
      `tfnvp.OutlierCalibration`.

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """
  if not isinstance(flow, ImageFlow) or flow.training:
    raise ValueError("`flow` must be a tfnvp.RealNVP or tfnvp.Glow in "
                     f"inference mode (training=False); got {flow!r}.")
  if isinstance(flow, ConditionedFlow):
    raise ValueError(
        "`flow` must be the class-conditional flow itself "
        "(`flow.conditional_flow`), whose signatures take the labels of a "
        f"request; got {flow.name}, given fixed labels.")
  for name, value, minimum in (
      ("max_samples", max_samples, 1),
      ("max_interpolation_steps", max_interpolation_steps, 2)):
    if not isinstance(value, int) or isinstance(value, bool) or (
        value < minimum):
      raise ValueError(f"`{name}` must be an int >= {minimum}; got "
                       f"{value!r}.")
  if calibration is not None and not isinstance(
      calibration, tfnvp.OutlierCalibration):
    raise TypeError("`calibration` must be a tfnvp.OutlierCalibration or "
                    f"None; got {type(calibration).__name__}.")
  # Raw `tf.Variable`s only: a module holding a Keras object saves a model
  # that TF Serving's session-based loader cannot restore.
  backing = [getattr(v, "value", v) for v in flow.variables]
  for v, raw in zip(flow.variables, backing):
    if not isinstance(raw, tf.Variable):
      raise ValueError(f"Variable {v.path!r} is not backed by a tf.Variable "
                       f"(got {type(raw).__name__}); cannot export it.")
  sizes = contract.image_sizes(flow.image_shape)
  module = tf.Module(name="tfnvp_serving")
  module.variables_to_serve = backing
  module.serving_signatures = {
      endpoint.name: endpoint.function(sizes)
      for endpoint in serving_endpoints(
          flow, calibration=calibration, max_samples=max_samples,
          max_interpolation_steps=max_interpolation_steps)}
  return module
