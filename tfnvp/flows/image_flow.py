"""What every tfnvp flow over `[H, W, C]` images shares."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfnvp.internal.checks import check_sample_shape
from tfnvp.internal.dequantization import pixel_range_assertions
from tfnvp.internal.precision import resolve_network_dtype

__all__ = ["ImageFlow", "check_flow_dtype", "check_layers"]


def check_flow_dtype(dtype):
  """The name of a flow's dtype, `"float32"` or `"float64"`, or `ValueError`."""
  try:
    name = tf.as_dtype(dtype).name
  except TypeError:
    name = None
  if name not in ("float32", "float64"):
    raise ValueError(f"`dtype` must be float32 or float64; got {dtype!r}.")
  return name


def check_layers(layers, expected, network_dtype, dtype):
  """`ValueError` unless `layers` (a flow's variable owner, given to share
  its variables) has the `expected` attributes and, if `network_dtype` is
  not `None`, networks computing in it."""
  got = {k: getattr(layers, k, None) for k in expected}
  if got != expected:
    raise ValueError(f"`layers` was built for {got}, not {expected}.")
  if network_dtype is not None:
    wanted = resolve_network_dtype(network_dtype, dtype)
    if wanted != layers.network_dtype:
      raise ValueError(
          f"`layers` has coupling networks in {layers.network_dtype}; got "
          f"network_dtype={network_dtype!r}. Pass network_dtype=None to "
          "share them as they are.")


class ImageFlow(tfd.TransformedDistribution):
  """A standard normal over `[H, W, C]` pushed through `tfb.Invert(flow)`.

  The base of `tfnvp.RealNVP` and `tfnvp.Glow` (through
  `ConditionalImageFlow`) and of `ConditionedFlow`, a conditional flow
  given labels: `flow` is the data-to-latent bijector, and its variables
  belong to a Keras layer (`layers`). Subclasses build both and call
  `__init__`. Inputs of `log_prob` are checked for
  dtype and shape always, and with `validate_args` for finiteness (and for
  the pixel range `[0, 256)` when `pixels`). `sample` takes a sample shape
  of ints >= 0, as every TFP distribution; an empty one (`sample(0)`) gives
  an empty batch, and `log_prob` of a statically empty batch an empty
  result. (A batch that is empty only at run time, under `tf.function`
  with an unknown batch size, is not supported: TF's oneDNN convolutions
  return wrongly shaped outputs on empty inputs.)

  Passing a flow to a `tf.function`: it is one of TFP's auto-composite
  tensors, with no tensor components (it has no tensor-valued parameters;
  its variables live in `layers`, a Keras layer, which its type spec holds
  as a Python object; a `ConditionedFlow`'s labels, and its guidance when
  a `Tensor`, are its tensor components). The function is traced once per `layers` object and
  reads that layer's variables, so copies that share the variables share
  the trace and another flow's weights retrace it; it never computes with
  the wrong weights (tested).

  Mixed precision (`network_dtype`, or Keras's global policy
  `"mixed_bfloat16"`/`"mixed_float16"`): the coupling networks compute in
  bfloat16 or float16 from float32 variables and return a float32 `shift`
  and `log_scale`; everything else is float32: the couplings' `x *
  exp(log_scale) + shift`, its inverse and the log-det sum, batch norm,
  actnorm, the 1x1 convolutions, the logit map and the base distribution,
  so `log_prob` and `sample` are float32. A coupling evaluates its network
  on the half it passes through, which is the same in both directions, so
  each coupling, and the flow, is still a bijection with an exact
  log-determinant of the function it computes, and `log_prob` is a
  normalized density.

  The round trip is not as exact as in float32. Inverting a chain, a
  coupling's network sees the passed half as the later couplings'
  inverses rebuilt it: equal to the forward pass's up to float32 rounding.
  A float32 network maps that to nearly the same output; a low-precision
  one rounds its input (and its activations) to 8 (bfloat16) or 11
  (float16) significant bits, and where a value sits next to a rounding
  edge the two directions round it apart, a step of up to one low-precision
  unit that the rest of the inverse carries on. Bound stated and tested
  (`tests/flows/test_mixed_precision.py`: a batch of 64 encoded, each image
  decoded alone), in pixel levels: median error below 1e-4 (as in float32),
  99% of the values within 0.2, all within 8; BENCHMARKS.md has the
  figures measured on a trained model. The same function may also round
  differently eagerly and in a traced graph, where TF fuses ops (about 1%
  of a latent value), and it is another function than its float32 twin
  (2-3 significant digits), so bits/dim of the same weights differ slightly
  between precisions. Batch size did not change the latents in the tests
  (an image encoded alone and in a batch of 64).

  Args:
    flow: the data-to-latent `tfb.Bijector` on `image_shape` events.
    layers: the Keras layer that owns every variable of `flow`.
    image_shape: `(H, W, C)`.
    pixels: Python `bool`, whether the support is dequantized pixels.
    training: Python `bool`, the mode `flow` was built in.
    dtype: the float dtype.
    validate_args: Python `bool`.
    parameters: the subclass's constructor arguments (`dict(locals())`),
      with `layers` set so that `copy()` shares the variables.
    name: Python `str`.
  """

  def __init__(self, flow, layers, image_shape, pixels, training, dtype,
               validate_args, parameters, name):
    self._layers = layers
    self._image_shape = image_shape
    self._pixels = bool(pixels)
    self._training = bool(training)
    base = tfd.Sample(
        tfd.Normal(tf.zeros([], dtype), tf.ones([], dtype)),
        sample_shape=image_shape)
    super().__init__(distribution=base, bijector=tfb.Invert(flow),
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    # No tensor-valued parameters: the weights live in `layers`, a Keras
    # layer, which TFP's batch-shape and CompositeTensor machinery cannot
    # handle (see above). Every subclass defines its own, to the same
    # effect: TFP warns about a distribution that inherits them.
    return dict()

  @property
  def image_shape(self):
    return self._image_shape

  @property
  def training(self):
    return self._training

  @property
  def network_dtype(self):
    """The compute dtype of the coupling networks, a name (`"bfloat16"`)."""
    return self._layers.network_dtype

  @property
  def pixels(self):
    """Whether the support is dequantized pixels in `[0, 256)`."""
    return self._pixels

  @property
  def domain(self):
    """`(low, high)`, the open interval of the data-to-latent map's inputs,
    or `None` for all reals."""
    return None

  @property
  def layers(self):
    """The Keras layer that owns this flow's variables."""
    return self._layers

  @property
  def flow(self):
    """The data-to-latent bijector `f` (`bijector` is `tfb.Invert(f)`)."""
    return self.bijector.bijector

  @property
  def trainable_variables(self):
    return tuple(self._layers.trainable_variables)

  @property
  def non_trainable_variables(self):
    return tuple(self._layers.non_trainable_variables)

  @property
  def variables(self):
    return tuple(self._layers.variables)

  def _check_value(self, x, arg_name):
    """Static checks of dtype and shape, always on."""
    if x.dtype != self.dtype:
      raise ValueError(f"{self.name}: `{arg_name}` must have dtype "
                       f"{self.dtype.name}; got {x.dtype.name}.")
    shape = x.shape
    if shape.rank is not None and (
        shape.rank < 3 or not shape[-3:].is_compatible_with(
            self._image_shape)):
      raise ValueError(
          f"{self.name}: `{arg_name}` must have shape [..., "
          f"{', '.join(map(str, self._image_shape))}]; got {shape}.")

  def _call_sample_n(self, sample_shape, seed, **kwargs):
    shape = check_sample_shape(sample_shape)
    batch = self.batch_shape
    if shape is not None and batch.is_fully_defined() and (
        0 in shape or 0 in batch):
      return tf.zeros(shape + batch.as_list() + list(self._image_shape),
                      self.dtype)
    return super()._call_sample_n(sample_shape, seed, **kwargs)

  def _sample_control_dependencies(self, x):
    # The dtype first: the range checks below would fail on an integer
    # tensor with TF's own message.
    self._check_value(tf.convert_to_tensor(x), "value")
    if not self.validate_args:
      return []
    if not self._pixels:
      return [tf.debugging.assert_all_finite(
          x, message=f"{self.name}: `value` must be finite")]
    return pixel_range_assertions(
        x, f"{self.name}: `value` (dequantized pixels) must be finite and in "
        "[0, 256)")

  def _log_prob(self, x, **kwargs):
    self._check_value(x, "value")
    # TFP's bijector cache is keyed by the input tensor and by bijector
    # equality, and bijectors with equal parameters (two LogitTransform(0.05))
    # are equal. When the same `x` is seen from a nested graph first (Keras
    # traces `call` inside its own FuncGraph), a later call from the outer
    # graph would get the nested graph's output back. A fresh tensor per call
    # keeps every entry local to the graph that made it.
    batch = tf.broadcast_static_shape(x.shape[:-3], self.batch_shape)
    if batch.is_fully_defined() and batch.num_elements() == 0:
      return tf.zeros(batch, self.dtype)
    return super()._log_prob(tf.identity(x), **kwargs)
