"""The multi-scale Real NVP flow as a `tfd.TransformedDistribution`."""

import dataclasses

import keras
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfnvp import bijectors
from tfnvp import networks
from tfnvp.flows.conditional import ConditionalImageFlow
from tfnvp.flows.config import FlowConfig
from tfnvp.flows.image_flow import check_layers
from tfnvp.internal.checks import check_int
from tfnvp.internal.checks import check_number
from tfnvp.internal.precision import network_policy
from tfnvp.config import config_field
from tfnvp.internal.precision import resolve_network_dtype
from tfnvp.internal.shapes import check_image_shape

__all__ = ["CouplingSpec", "RealNVP", "RealNVPConfig", "RealNVPLayers",
           "coupling_plan"]


@dataclasses.dataclass(frozen=True)
class CouplingSpec:
  """One affine coupling of the flow: its mask and the event it acts on."""

  mask_type: str
  parity: int
  event_shape: tuple


def coupling_plan(image_shape, num_scales):
  """Returns the couplings of each scale, in data-to-latent order.

  Every scale but the last: three checkerboard couplings on `[H, W, C]`,
  a squeeze, three channel-wise couplings on `[H/2, W/2, 4C]`, then half of
  the channels are factored out and the next scale sees `[H/2, W/2, 2C]`.
  The last scale: four checkerboard couplings (section 3.6 of Real NVP).

  Args:
    image_shape: `(H, W, C)`.
    num_scales: Python `int >= 1`.

  Returns:
    A list with one list of `CouplingSpec` per scale.

  Raises:
    ValueError: if `num_scales` is too deep for `image_shape`: `H` and `W`
      must be divisible by `2 ** (num_scales - 1)` and the last scale must be
      at least 2x2 for its checkerboard.
  """
  height, width, channels = check_image_shape(image_shape)
  check_int("num_scales", num_scales, 1)
  factor = 2 ** (num_scales - 1)
  if height % factor or width % factor or min(height, width) // factor < 2:
    raise ValueError(
        f"`num_scales`={num_scales} is too deep for `image_shape`="
        f"{tuple(image_shape)}: {num_scales - 1} squeeze(s) need H and W "
        f"divisible by {factor}, leaving at least 2x2 pixels.")
  plan = []
  for scale in range(num_scales):
    if scale == num_scales - 1:
      plan.append([CouplingSpec("checkerboard", p, (height, width, channels))
                   for p in (0, 1, 0, 1)])
      break
    squeezed = (height // 2, width // 2, 4 * channels)
    plan.append(
        [CouplingSpec("checkerboard", p, (height, width, channels))
         for p in (0, 1, 0)] +
        [CouplingSpec("channel", p, squeezed) for p in (0, 1, 0)])
    height, width, channels = height // 2, width // 2, 2 * channels
  return plan


@keras.saving.register_keras_serializable(package="tfnvp")
class RealNVPLayers(keras.layers.Layer):
  """Owns every variable of a `tfnvp.RealNVP` flow.

  Bijectors hold no variables; this Keras layer holds the coupling networks
  (`tfnvp.networks.ResNetShiftAndLogScale`) and the moving statistics of the
  batch-norm bijectors (`tfnvp.networks.MovingMoments`), one of each per
  coupling, in the order of `coupling_plan`. With `num_classes`, also the
  per-label Gaussian of each prior (`class_prior_k`, a
  `tfnvp.networks.ClassGaussianParameters` with `num_classes + 1` rows, the
  last for the null label): one per factor-out and one at the top, in
  data-to-latent order; with `condition_couplings`, each coupling network
  has a label embedding. A Keras model that holds it as an attribute
  tracks, trains, checkpoints and exports them. All variables exist after
  construction.

  Args:
    image_shape: `(H, W, C)`.
    num_scales: number of scales.
    hidden_channels: width of the coupling networks.
    num_res_blocks: residual blocks per coupling network.
    batch_norm_momentum: momentum of all moving statistics.
    batch_norm_epsilon: epsilon of the batch-norm bijectors.
    network_dtype: compute dtype of the coupling networks (their variables
      have the layer's dtype), see `tfnvp.RealNVP`.
    num_classes: `K` of a class-conditional flow, or `None`.
    condition_couplings: Python `bool`, label embeddings in the coupling
      networks (with `num_classes`).
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).
  """

  def __init__(self, image_shape, num_scales, hidden_channels, num_res_blocks,
               batch_norm_momentum=0.95, batch_norm_epsilon=1e-4,
               network_dtype=None, num_classes=None,
               condition_couplings=False, **kwargs):
    super().__init__(**kwargs)
    variable_dtype = self.dtype_policy.variable_dtype
    self.network_dtype = resolve_network_dtype(network_dtype, variable_dtype)
    net_policy = network_policy(self.network_dtype, variable_dtype)
    self.image_shape = check_image_shape(image_shape)
    self.num_scales = num_scales
    self.hidden_channels = hidden_channels
    self.num_res_blocks = num_res_blocks
    self.batch_norm_momentum = batch_norm_momentum
    self.batch_norm_epsilon = batch_norm_epsilon
    self.num_classes = num_classes
    self.condition_couplings = bool(condition_couplings)
    num_labels = None if num_classes is None else num_classes + 1
    plan = coupling_plan(image_shape, num_scales)
    specs = [spec for scale in plan for spec in scale]
    self.num_couplings = len(specs)
    # Named attributes, not lists: TF checkpoints track a Keras 3 layer's
    # attributes but not the lists it holds (keras-team/keras#18398).
    for i, spec in enumerate(specs):
      channels = spec.event_shape[-1]
      # A channel coupling's network sees and outputs half of the channels.
      net_shape = spec.event_shape[:-1] + (
          channels // 2 if spec.mask_type == "channel" else channels,)
      net = networks.ResNetShiftAndLogScale(
          net_shape[-1], hidden_channels, num_res_blocks, batch_norm_momentum,
          num_labels=num_labels if self.condition_couplings else None,
          dtype=net_policy, name=f"coupling_{i}")
      net.build((None,) + net_shape)
      setattr(self, f"coupling_{i}", net)
      setattr(self, f"batch_norm_{i}", networks.MovingMoments(
          channels, batch_norm_momentum, batch_norm_epsilon,
          dtype=self.dtype_policy, name=f"batch_norm_{i}"))
    if num_classes is not None:
      # The factored-out half of each scale but the last (2C of its
      # squeezed 4C channels), then the last scale's output.
      channels = [scale[-1].event_shape[-1] // 2 for scale in plan[:-1]] + [
          plan[-1][-1].event_shape[-1]]
      for k, width in enumerate(channels):
        setattr(self, f"class_prior_{k}", networks.ClassGaussianParameters(
            num_labels, width, dtype=self.dtype_policy,
            name=f"class_prior_{k}"))
    self.built = True  # every weight exists: nothing for Keras to build

  @property
  def coupling_networks(self):
    """The `ResNetShiftAndLogScale` of each coupling, in data-to-latent order."""
    return [getattr(self, f"coupling_{i}") for i in range(self.num_couplings)]

  @property
  def moments(self):
    """The `MovingMoments` of each batch-norm bijector, in the same order."""
    return [getattr(self, f"batch_norm_{i}")
            for i in range(self.num_couplings)]

  def class_prior(self, scale):
    """The `ClassGaussianParameters` of `scale`'s prior (its factored-out
    half, or the last scale's output), or `None` if unconditional."""
    return getattr(self, f"class_prior_{scale}", None)

  def call(self, inputs):
    raise NotImplementedError(
        "RealNVPLayers only holds variables; use tfnvp.RealNVP(layers=...) "
        "to evaluate the flow.")

  def get_config(self):
    config = super().get_config()
    config.update(image_shape=self.image_shape, num_scales=self.num_scales,
                  hidden_channels=self.hidden_channels,
                  num_res_blocks=self.num_res_blocks,
                  batch_norm_momentum=self.batch_norm_momentum,
                  batch_norm_epsilon=self.batch_norm_epsilon,
                  network_dtype=self.network_dtype,
                  num_classes=self.num_classes,
                  condition_couplings=self.condition_couplings)
    return config


def _build_flow(plan, layers, conditioning, validate_args):
  """The data-to-latent bijector of all scales (without preprocessing),
  its label-dependent parts from `conditioning`."""
  nets = iter(zip(layers.coupling_networks, layers.moments))
  training = conditioning.training

  def couple(spec):
    net, moments = next(nets)
    coupling = bijectors.AffineCoupling(
        spec.mask_type, spec.parity, conditioning.network(net),
        validate_args=validate_args)
    norm = bijectors.BatchNorm(moments, training=training,
                               validate_args=validate_args)
    return [coupling, norm]   # in application order

  def scale(index):
    specs = plan[index]
    prior = conditioning.prior(layers.class_prior(index))
    if index == len(plan) - 1:
      steps = [b for spec in specs for b in couple(spec)]
      if prior is not None:
        steps.append(prior)
    else:
      squeeze = bijectors.Squeeze(validate_args=validate_args)
      steps = ([b for spec in specs[:3] for b in couple(spec)] + [squeeze] +
               [b for spec in specs[3:] for b in couple(spec)] +
               [bijectors.FactorOut(scale(index + 1), factored=prior,
                                    validate_args=validate_args),
                tfb.Invert(squeeze)])
    return tfb.Chain(steps[::-1], validate_args=validate_args,
                     name=f"scale_{index}")

  return scale(0)


class RealNVP(ConditionalImageFlow):
  """Real NVP's multi-scale flow over `[H, W, C]` images [1].

  An `ImageFlow`: a standard normal over `[H, W, C]` pushed through the
  inverse of the data-to-latent map

  ```none
  f = scale_0 o LogitTransform(logit_alpha)       # applied right to left
  scale_k  = unsqueeze o FactorOut(scale_{k+1}) o [coupling, batch norm] x 3
             (channel masks) o squeeze o [coupling, batch norm] x 3
             (checkerboard masks)
  scale_last = [coupling, batch norm] x 4 (checkerboard masks)
  log_prob(x) = Normal(f(x)).log_prob + log|det df/dx|
  ```

  Each coupling's `(shift, log_scale)` comes from a
  `tfnvp.networks.ResNetShiftAndLogScale` (weight-normalized residual
  network with batch norm, `tanh`-bounded log-scale with a learned scale,
  zero-initialized so every coupling starts at the identity). The latent
  code `f(x)` has the image's shape: the factored-out halves are unsqueezed
  back into place.

  Support: with `logit_alpha` set, `x` is dequantized 8-bit pixel values
  (integers plus uniform noise) in `[0, 256)^(H*W*C)`, the space of Real
  NVP's bits/dim. The flow is normalized over all of logit space R^D; the
  inverse logit map sends R^D onto the open cube `(a, b)^D` with
  `a = -256 alpha / (1 - 2 alpha)` and `b = 256 (1 - alpha) / (1 - 2 alpha)`
  (`(-14.2, 270.2)` for `alpha = 0.05`), so the pixel-space density
  integrates to 1 over that larger cube and to at most 1 over `[0, 256)^D`.
  Samples can therefore fall slightly outside `[0, 256)` (clip them to show
  them), and bits/dim computed from `log_prob` on `[0, 256)^D` remain an
  upper bound on the discrete model's, as in the paper. With
  `logit_alpha=None` there is no preprocessing and the flow is a density over
  real-valued `[H, W, C]` tensors that integrates to 1 over R^D.

  Training and inference: the flow is in inference mode by default
  (`training=False`): batch norm, in the bijectors and the networks, uses
  moving statistics, and the flow is a fixed bijection. `flow.copy(
  training=True)` returns the same flow (same variables) in training mode:
  `log_prob` then uses and all-reduces batch statistics and updates the
  moving averages. Use it for the loss, and `flow` itself for evaluation and
  sampling.

  Class-conditional (`num_classes=K`): the label `y` sets a Gaussian prior
  per scale, on the half each scale factors out and on the last scale's
  output, and optionally (`condition_couplings=True`) enters every
  coupling network; see `tfnvp.flows.ConditionalImageFlow` for the maths,
  `flow.given(labels)`, `flow.classify` and the marginal that `log_prob`
  becomes, and docs/conditional.md. Train on `flow.copy(training=True).
  given(labels).log_prob(images)`. `num_classes=None` (the default) is the
  unconditional flow, variable for variable.

  Args:
    image_shape: `(H, W, C)`, Python ints.
    num_scales: Python `int >= 1`; `H` and `W` must be divisible by
      `2 ** (num_scales - 1)`.
    hidden_channels: width of the coupling networks.
    num_res_blocks: residual blocks per coupling network.
    logit_alpha: `alpha` of `tfnvp.bijectors.LogitTransform`, or `None` for
      a flow over real-valued tensors.
    batch_norm_momentum: momentum of all moving statistics.
    batch_norm_epsilon: epsilon of the batch-norm bijectors.
    num_classes: Python `int >= 2`, the classes of a class-conditional flow,
      or `None` (the default) for an unconditional flow.
    condition_couplings: Python `bool`, whether the coupling networks see
      the label too (a learned embedding per label); needs `num_classes`.
    label_dropout: Python `float` in `[0, 1)`, the probability that the
      training-mode `given` replaces a label by the null label, which
      learns the unconditional model that guidance needs; needs
      `num_classes`.
    training: Python `bool`, see above.
    layers: a `RealNVPLayers` to share variables with (as `copy()` does), or
      `None` to create one.
    dtype: `tf.float32` or `tf.float64`.
    network_dtype: compute dtype of the coupling networks: `None` (the
      default: Keras's global policy, `"bfloat16"` under
      `"mixed_bfloat16"`, `"float16"` under `"mixed_float16"`, else
      `dtype`), `dtype`, or `"bfloat16"`/`"float16"` for a float32 flow.
      See `tfnvp.flows.ImageFlow` for what stays exact.
    validate_args: Python `bool`; if `True`, `log_prob` checks that its input
      is finite and (with `logit_alpha`) in `[0, 256)`. Shapes, ranks and
      dtypes are always checked.
    name: Python `str`, name of the distribution.

  Raises:
    ValueError: for invalid arguments (see `coupling_plan` for the depth),
      a `layers` built for another configuration, and at call time for an
      input of the wrong rank, shape or dtype.

  #### Examples

  ```python
  flow = tfnvp.RealNVP(image_shape=(28, 28, 1), num_scales=2,
                       hidden_channels=32, num_res_blocks=2)
  train_flow = flow.copy(training=True)      # batch statistics, same weights
  optimizer = keras.optimizers.Adam(1e-3)
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(train_flow.log_prob(images))  # images in [0, 256)
  grads = tape.gradient(loss, flow.trainable_variables)
  optimizer.apply_gradients(zip(grads, flow.trainable_variables))

  bpd = tfnvp.bits_per_dim(flow, images)     # inference mode
  samples = flow.sample(16, seed=[1, 2])     # stateless: reproducible
  ```

  #### References

  [1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
       using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, image_shape, num_scales=2, hidden_channels=64,
               num_res_blocks=8, logit_alpha=0.05, batch_norm_momentum=0.95,
               batch_norm_epsilon=1e-4, num_classes=None,
               condition_couplings=False, label_dropout=0.0, training=False,
               layers=None, dtype=tf.float32, network_dtype=None,
               validate_args=False, name="RealNVP"):
    parameters = dict(locals())
    config = RealNVPConfig(
        image_shape=image_shape, num_scales=num_scales,
        hidden_channels=hidden_channels, num_res_blocks=num_res_blocks,
        logit_alpha=logit_alpha, batch_norm_momentum=batch_norm_momentum,
        batch_norm_epsilon=batch_norm_epsilon, num_classes=num_classes,
        condition_couplings=condition_couplings, label_dropout=label_dropout,
        dtype=dtype, network_dtype=network_dtype)
    image_shape = config.image_shape
    dtype = tf.as_dtype(config.dtype)
    if layers is None:
      layers = RealNVPLayers(image_shape, num_scales, hidden_channels,
                             num_res_blocks, batch_norm_momentum,
                             batch_norm_epsilon, network_dtype=network_dtype,
                             num_classes=num_classes,
                             condition_couplings=config.condition_couplings,
                             dtype=dtype.name, name=f"{name}_layers")
    else:
      expected = dict(image_shape=image_shape, num_scales=num_scales,
                      hidden_channels=hidden_channels,
                      num_res_blocks=num_res_blocks, num_classes=num_classes,
                      condition_couplings=config.condition_couplings)
      check_layers(layers, expected, network_dtype, dtype)
    # So that `copy()` shares the variables (and their precision).
    parameters.update(layers=layers, network_dtype=layers.network_dtype)
    self._logit_alpha = logit_alpha
    self._plan = coupling_plan(image_shape, num_scales)
    super().__init__(layers, image_shape, pixels=logit_alpha is not None,
                     training=training, dtype=dtype,
                     label_dropout=label_dropout,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  def _make_flow(self, conditioning, validate_args):
    flow = _build_flow(self._plan, self._layers, conditioning, validate_args)
    if self._logit_alpha is not None:
      flow = tfb.Chain([flow, bijectors.LogitTransform(
          self._logit_alpha, validate_args=validate_args)], name="real_nvp")
    return flow

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    # As `ImageFlow`'s; TFP warns about inherited ones.
    return dict()

  @property
  def logit_alpha(self):
    return self._logit_alpha

  @property
  def domain(self):
    """The logit map's domain `(-256 a / (1 - 2 a), 256 (1 - a) / (1 - 2 a))`
    for `a = logit_alpha` (wider than `[0, 256)`), or `None` without it."""
    if self._logit_alpha is None:
      return None
    a = self._logit_alpha
    return (-256.0 * a / (1 - 2 * a), 256.0 * (1 - a) / (1 - 2 * a))


@dataclasses.dataclass(frozen=True)
class RealNVPConfig(FlowConfig):
  """The configuration of a `tfnvp.RealNVP`: its constructor's keywords.

  See `tfnvp.flows.FlowConfig`; `tfnvp.RealNVP` validates its arguments
  through this record.

  #### Examples

  ```python
  config = tfnvp.RealNVPConfig(image_shape=(28, 28, 1), hidden_channels=32,
                               num_res_blocks=2)
  flow = config.make_flow()
  tfnvp.flows.FlowConfig.from_flow(flow) == dataclasses.replace(
      config, network_dtype="float32")        # True (no mixed policy)
  ```
  """

  flow_class = RealNVP

  num_scales: int = config_field(
      2, doc="scales; H and W divisible by 2 ** (num_scales - 1)")
  hidden_channels: int = config_field(
      64, doc="width of the coupling networks")
  num_res_blocks: int = config_field(
      8, doc="residual blocks per coupling network")
  logit_alpha: float | None = config_field(
      0.05, doc="alpha of the logit preprocessing, in (0, 0.5), or none "
      "for a flow over real-valued tensors")
  batch_norm_momentum: float = config_field(
      0.95, doc="momentum of the moving batch statistics, in [0, 1)")
  batch_norm_epsilon: float = config_field(
      1e-4, doc="epsilon of the batch-norm bijectors, > 0")

  def __post_init__(self):
    super().__post_init__()
    coupling_plan(self.image_shape, self.num_scales)
    check_int("hidden_channels", self.hidden_channels, 1)
    check_int("num_res_blocks", self.num_res_blocks, 0)
    check_number("logit_alpha", self.logit_alpha, 0, 0.5, low_open=True,
                 high_open=True, optional=True)
    check_number("batch_norm_momentum", self.batch_norm_momentum, 0, 1,
                 high_open=True)
    check_number("batch_norm_epsilon", self.batch_norm_epsilon, 0,
                 low_open=True)
