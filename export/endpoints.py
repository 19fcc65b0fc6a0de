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
    relations: functions `(*inputs) -> Assert op`, the checks between
      inputs, run after the shape checks and before the value checks.
    hint: what to check when the model computes a non-finite output, for
      the message.
  """

  name: str
  fn: object
  inputs: dict
  relations: tuple = ()
  hint: str = _CHECKPOINT_HINT

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
    signature = contract.SIGNATURES[self.name]
    names = list(signature.inputs)
    shapes = {name: contract.bind(signature.input_shapes[name], sizes)
              for name in names}
    shape_checks = [
        _on(i, _shape_check(name, shapes[name], self.inputs[name].what))
        for i, name in enumerate(names)]
    value_checks = [
        _on(i, lambda x, name=name: self.inputs[name].values(x, name))
        for i, name in enumerate(names) if self.inputs[name].values]
    checks = [*shape_checks, *self.relations, *value_checks]
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


def _same_count(images_a, images_b, _):
  n_a, n_b = runtime_shape(images_a)[0], runtime_shape(images_b)[0]
  return assert_that(tf.equal(n_a, n_b), "`images_a` and `images_b` must "
                     "hold the same number of images; got", n_a, "and", n_b)


class _Computations:
  """What the endpoints compute, in the flow's dtype (`flow.dtype`).

  The endpoint checks the outputs; `interpolate` checks its latents too,
  since decoding saturates (a non-finite latent can decode to a finite
  image), and `sample` its images before they become `pixels`.
  """

  def __init__(self, flow, calibration):
    self._flow = flow
    self._calibration = calibration
    self._dtype = flow.dtype
    self._image_shape = tuple(flow.image_shape)

  def bits_per_dim(self, images):
    """`serving_default`: pixel k is evaluated at the centre of [k, k + 1).
    """
    log_prob = self._flow.log_prob(tf.cast(images, self._dtype) + 0.5)
    num_dims = math.prod(self._image_shape)
    return {"log_prob": log_prob,
            "bits_per_dim": -log_prob / (num_dims * math.log(2.0))}

  def log_prob(self, images):
    """`log_prob`: the density of dequantized pixels."""
    return {"log_prob": self._flow.log_prob(tf.cast(images, self._dtype))}

  def sample(self, num_samples, temperature, seed):
    """`sample`: `pixels` are the 8-bit values of the float32 `images`."""
    images = tfnvp.sample_at_temperature(
        self._flow, tf.reshape(num_samples, [1]),
        tf.cast(temperature, self._dtype), seed=tf.cast(seed, tf.int32))
    # Checked before `pixels` are computed from them.
    images = finite_output(tf.cast(images, tf.float32), "sample",
                           "output `images`", _SAMPLE_HINT)
    return {"images": images, "pixels": tfnvp.to_uint8(images)}

  def _encode(self, images):
    """Data to latents."""
    return self._flow.flow.forward(tf.cast(images, self._dtype))

  def _decode(self, z):
    """Latents to data."""
    return self._flow.bijector.forward(tf.cast(z, self._dtype))

  def encode(self, images):
    """`encode`."""
    return {"z": self._encode(images)}

  def decode(self, z):
    """`decode`."""
    return {"images": self._decode(z)}

  def interpolate(self, images_a, images_b, num_steps):
    """`interpolate`: decoded points of the arc from `z_a` to `z_b`."""
    z = finite_output(self._encode(tf.concat([images_a, images_b], 0)),
                      "interpolate", "latents of `images_a` and `images_b`",
                      _CHECKPOINT_HINT)
    z_a, z_b = tf.split(z, 2)
    phi = tf.linspace(tf.constant(0.0, self._dtype), math.pi / 2, num_steps)
    weights_shape = [1, -1] + [1] * len(self._image_shape)
    path = (tf.reshape(tf.cos(phi), weights_shape) * z_a[:, tf.newaxis] +
            tf.reshape(tf.sin(phi), weights_shape) * z_b[:, tf.newaxis])
    images = self._decode(tf.reshape(path, [-1, *self._image_shape]))
    out_shape = tf.concat([tf.shape(path)[:2], self._image_shape], axis=0)
    return {"images": tf.reshape(images, out_shape)}

  def score(self, images):
    """`score`: the calibration's scores and decision."""
    return self._calibration.scores(self._flow, images)


def serving_endpoints(flow, *, calibration, max_samples,
                      max_interpolation_steps):
  """The table of `flow`'s endpoints (see `build_serving_module`).

  Args:
    flow: a `tfnvp.flows.ImageFlow` in inference mode.
    calibration: a `tfnvp.OutlierCalibration`, or `None` for no `score`.
    max_samples: the largest `num_samples` of `sample`.
    max_interpolation_steps: the largest `num_steps` of `interpolate`.

  Returns:
    A tuple of `Endpoint`s, in the contract's order.
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
  if calibration is not None:
    endpoints += (Endpoint("score", model.score, {"images": Input("image")}),)
  return endpoints


def build_serving_module(
    flow, *, calibration=None, max_samples=DEFAULT_MAX_SAMPLES,
    max_interpolation_steps=DEFAULT_MAX_INTERPOLATION_STEPS):
  """A `tf.Module` with the serving signatures of `flow`, ready to save.

  The signatures (names, dtypes and shapes in `export.contract.SIGNATURES`)
  run `flow` in inference mode (moving batch-norm statistics). Every
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
    ValueError: for a flow that is not an image flow in inference mode, or
      bad limits.
    TypeError: for a `calibration` that is not a
      `tfnvp.OutlierCalibration`.

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """
  if not isinstance(flow, ImageFlow) or flow.training:
    raise ValueError("`flow` must be a tfnvp.RealNVP or tfnvp.Glow in "
                     f"inference mode (training=False); got {flow!r}.")
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
