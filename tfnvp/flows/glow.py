"""Glow's multi-level flow as a `tfd.TransformedDistribution`."""

import dataclasses

import keras
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfnvp import bijectors
from tfnvp import networks
from tfnvp.flows.conditional import ConditionalImageFlow
from tfnvp.flows.config import FlowConfig
from tfnvp.flows.image_flow import check_layers
from tfnvp.internal.checks import check_bool
from tfnvp.internal.checks import check_choice
from tfnvp.internal.checks import check_int
from tfnvp.internal.precision import network_policy
from tfnvp.config import config_field
from tfnvp.networks.glow import COUPLINGS
from tfnvp.internal.precision import resolve_network_dtype
from tfnvp.internal.shapes import check_image_shape

__all__ = ["Glow", "GlowConfig", "GlowLayers", "glow_level_shapes"]


def glow_level_shapes(image_shape, num_levels):
  """The event shape inside each level (after its squeeze).

  Level `k` sees `[H / 2^(k+1), W / 2^(k+1), 2^(k+2) C / 2^k]`: each level
  squeezes (4x the channels) and every level but the last hands half of its
  channels on.

  Raises:
    ValueError: if `H` and `W` are not divisible by `2 ** num_levels`.
  """
  height, width, channels = check_image_shape(image_shape)
  check_int("num_levels", num_levels, 1)
  factor = 2 ** num_levels
  if height % factor or width % factor:
    raise ValueError(
        f"`num_levels`={num_levels} is too deep for `image_shape`="
        f"{tuple(image_shape)}: {num_levels} squeezes need H and W divisible "
        f"by {factor}.")
  shapes = []
  for _ in range(num_levels):
    height, width, channels = height // 2, width // 2, 4 * channels
    shapes.append((height, width, channels))
    channels //= 2
  return shapes


@keras.saving.register_keras_serializable(package="tfnvp")
class GlowLayers(keras.layers.Layer):
  """Owns every variable of a `tfnvp.Glow` flow.

  Per step `i` (levels in order, `depth` steps each): `actnorm_i`
  (`ActNormParameters`), `conv1x1_i` (`InvertibleConv1x1Parameters`) and
  `coupling_i` (`GlowCouplingNetwork`); per split `k` with
  `learn_prior`: `prior_k` (`GlowSplitPrior`). With `num_classes`, also the
  per-label Gaussian of each prior (`class_prior_k`, a
  `tfnvp.networks.ClassGaussianParameters` with `num_classes + 1` rows, the
  last for the null label): one per split and one at the top; with
  `condition_couplings`, each coupling network has a label embedding. All
  variables exist after construction.

  Args:
    image_shape: `(H, W, C)`.
    num_levels: number of levels.
    depth: steps per level.
    hidden_channels: width of the coupling networks.
    coupling: `"affine"` or `"additive"`.
    lu_decomposed: parameterization of the 1x1 convolutions.
    learn_prior: whether each split has a learned prior.
    seed: Python `int` or `None`: the 1x1 convolutions start from rotations
      seeded `seed + i`.
    network_dtype: compute dtype of the coupling networks and priors
      (their variables have the layer's dtype), see `tfnvp.Glow`.
    num_classes: `K` of a class-conditional flow, or `None`.
    condition_couplings: Python `bool`, label embeddings in the coupling
      networks (with `num_classes`).
    **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`).
  """

  def __init__(self, image_shape, num_levels, depth, hidden_channels,
               coupling="affine", lu_decomposed=True, learn_prior=True,
               seed=None, network_dtype=None, num_classes=None,
               condition_couplings=False, **kwargs):
    super().__init__(**kwargs)
    shapes = glow_level_shapes(image_shape, num_levels)
    check_int("depth", depth, 1)
    check_int("hidden_channels", hidden_channels, 1)
    self.image_shape = check_image_shape(image_shape)
    self.num_levels = num_levels
    self.depth = depth
    self.hidden_channels = hidden_channels
    self.coupling = coupling
    self.lu_decomposed = bool(lu_decomposed)
    self.learn_prior = bool(learn_prior)
    self.seed = seed
    self.num_classes = num_classes
    self.condition_couplings = bool(condition_couplings)
    num_labels = None if num_classes is None else num_classes + 1
    policy = self.dtype_policy
    self.network_dtype = resolve_network_dtype(network_dtype,
                                               policy.variable_dtype)
    net_policy = network_policy(self.network_dtype, policy.variable_dtype)
    step = 0
    for level, shape in enumerate(shapes):
      channels = shape[-1]
      for _ in range(depth):
        # Named attributes, not lists: TF checkpoints track a Keras 3
        # layer's attributes but not the lists it holds (keras#18398).
        setattr(self, f"actnorm_{step}", networks.ActNormParameters(
            channels, dtype=policy, name=f"actnorm_{step}"))
        setattr(self, f"conv1x1_{step}",
                networks.InvertibleConv1x1Parameters(
                    channels, lu_decomposed=lu_decomposed,
                    seed=None if seed is None else seed + step,
                    dtype=policy, name=f"conv1x1_{step}"))
        # The coupling's network sees and outputs half of the channels.
        half = shape[:-1] + (channels // 2,)
        net = networks.GlowCouplingNetwork(
            channels // 2, hidden_channels, coupling,
            num_labels=num_labels if self.condition_couplings else None,
            dtype=net_policy, name=f"coupling_{step}")
        net.build((None,) + half)
        setattr(self, f"coupling_{step}", net)
        step += 1
      if learn_prior and level < num_levels - 1:
        prior = networks.GlowSplitPrior(channels, dtype=net_policy,
                                        name=f"prior_{level}")
        prior.build((None,) + half)
        setattr(self, f"prior_{level}", prior)
    self.num_steps = step
    if num_classes is not None:
      # The half factored out at each split, then the top level's output.
      channels = [shape[-1] // 2 for shape in shapes[:-1]] + [shapes[-1][-1]]
      for k, width in enumerate(channels):
        setattr(self, f"class_prior_{k}", networks.ClassGaussianParameters(
            num_labels, width, dtype=policy, name=f"class_prior_{k}"))
    self.built = True  # every weight exists: nothing for Keras to build

  def step_layers(self, step):
    """`(actnorm, conv1x1, coupling network)` of step `step`."""
    return (getattr(self, f"actnorm_{step}"), getattr(self, f"conv1x1_{step}"),
            getattr(self, f"coupling_{step}"))

  def prior(self, level):
    """The `GlowSplitPrior` of `level`'s split, or `None`."""
    return getattr(self, f"prior_{level}", None)

  def class_prior(self, level):
    """The `ClassGaussianParameters` of `level`'s class prior (the half its
    split factors out, or the top level's output), or `None` if
    unconditional."""
    return getattr(self, f"class_prior_{level}", None)

  def call(self, inputs):
    raise NotImplementedError(
        "GlowLayers only holds variables; use tfnvp.Glow(layers=...) to "
        "evaluate the flow.")

  def get_config(self):
    config = super().get_config()
    config.update(image_shape=self.image_shape, num_levels=self.num_levels,
                  depth=self.depth, hidden_channels=self.hidden_channels,
                  coupling=self.coupling, lu_decomposed=self.lu_decomposed,
                  learn_prior=self.learn_prior, seed=self.seed,
                  network_dtype=self.network_dtype,
                  num_classes=self.num_classes,
                  condition_couplings=self.condition_couplings)
    return config


def _build_flow(layers, conditioning, validate_args):
  """The data-to-latent bijector of all levels (without preprocessing),
  its label-dependent parts from `conditioning`."""
  shapes = glow_level_shapes(layers.image_shape, layers.num_levels)
  steps = iter(range(layers.num_steps))
  training = conditioning.training

  def flow_step(channels):
    actnorm, conv, net = layers.step_layers(next(steps))
    return [
        bijectors.ActNorm(channels, layer=actnorm, training=training,
                          validate_args=validate_args),
        bijectors.InvertibleConv1x1(channels, layer=conv,
                                    validate_args=validate_args),
        bijectors.AffineCoupling("channel", 0, conditioning.network(net),
                                 validate_args=validate_args),
    ]

  def level(index):
    channels = shapes[index][-1]
    squeeze = bijectors.Squeeze(validate_args=validate_args)
    parts = [squeeze]
    for _ in range(layers.depth):
      parts += flow_step(channels)
    class_prior = conditioning.prior(layers.class_prior(index))
    if index < len(shapes) - 1:
      prior = layers.prior(index)
      if prior is not None:
        parts.append(bijectors.AffineCoupling(
            "channel", 1, conditioning.network(prior),
            validate_args=validate_args))
      parts.append(bijectors.FactorOut(level(index + 1), factored=class_prior,
                                       validate_args=validate_args))
    elif class_prior is not None:
      parts.append(class_prior)
    parts.append(tfb.Invert(squeeze))
    return tfb.Chain(parts[::-1], validate_args=validate_args,
                     name=f"level_{index}")

  return level(0)


class Glow(ConditionalImageFlow):
  """Glow's multi-level flow over `[H, W, C]` images [1].

  An `ImageFlow`: a standard normal over `[H, W, C]` pushed through the
  inverse of the data-to-latent map

  ```none
  f = level_0 o preprocess                       # applied right to left
  preprocess(x) = x / 256 - 1/2                  # pixels [0, 256) -> [-1/2, 1/2)
  level_k = unsqueeze o FactorOut(level_{k+1}) o prior_k
            o [coupling o conv1x1 o actnorm] x depth o squeeze
  level_last = unsqueeze o [coupling o conv1x1 o actnorm] x depth o squeeze
  log_prob(x) = Normal(f(x)).log_prob + log|det df/dx|
  ```

  (With `num_classes`, `FactorOut` standardizes the half it factors out,
  and `level_last` its output, by the label's Gaussian, see below.)

  * actnorm: `tfnvp.bijectors.ActNorm`, initialized from the first training
    batch;
  * conv1x1: `tfnvp.bijectors.InvertibleConv1x1` (LU by default);
  * coupling: `tfnvp.bijectors.AffineCoupling` on channel halves with a
    `tfnvp.networks.GlowCouplingNetwork` (sigmoid scale, or additive);
  * prior_k (`learn_prior=True`): the factored-out half is
    `N(mean(x2), exp(logs(x2))^2)` given the kept half, as an affine
    coupling (`tfnvp.networks.GlowSplitPrior`); without it, `N(0, I)`.

  The latent code `f(x)` has the image's shape. The density is over all of
  R^D (the preprocessing is affine); on dequantized 8-bit pixels in
  `[0, 256)^D` its bits/dim are the paper's metric, as for `tfnvp.RealNVP`.

  Training and inference: `training=False` (the default) for evaluation,
  sampling and export; `flow.copy(training=True)` (same variables) for the
  loss: there the actnorms (in the steps and in the coupling networks)
  initialize from the first batch they see, once.

  Sampling runs every coupling backwards, dividing by its sigmoid scale.
  Glow's scale has no lower bound, so on latent draws a briefly trained
  model does not map back to images the division overflowed float32 (all
  samples NaN or inf after 99 steps on MNIST). The coupling networks bound
  its log-scale softly (`tfnvp.networks.GlowCouplingNetwork`), which keeps
  samples finite.

  Class-conditional (`num_classes=K`): Glow's `--ycond` prior, a learned
  Gaussian per class and channel at the top, and here also on the half
  each split factors out (after the learned split prior, which it shifts
  and scales per class); with `condition_couplings=True` the label also
  enters every coupling network. See `tfnvp.flows.ConditionalImageFlow`
  for the maths, `flow.given(labels)`, `flow.classify` and the marginal
  that `log_prob` becomes, and docs/conditional.md. `num_classes=None` (the
  default) is the unconditional flow, variable for variable.

  Args:
    image_shape: `(H, W, C)`, Python ints; `H` and `W` divisible by
      `2 ** num_levels`.
    num_levels: Python `int >= 1`.
    depth: Python `int >= 1`, steps per level.
    hidden_channels: width of the coupling networks.
    coupling: `"affine"` (default) or `"additive"`.
    lu_decomposed: Python `bool`, the 1x1 convolutions' parameterization.
    learn_prior: Python `bool`, a learned prior at each split.
    seed: Python `int` or `None`, seeds the 1x1 convolutions' rotations.
    num_classes: Python `int >= 2`, the classes of a class-conditional flow,
      or `None` (the default) for an unconditional flow.
    condition_couplings: Python `bool`, whether the coupling networks see
      the label too (a learned embedding per label); needs `num_classes`.
    label_dropout: Python `float` in `[0, 1)`, the probability that the
      training-mode `given` replaces a label by the null label, which
      learns the unconditional model that guidance needs; needs
      `num_classes`.
    training: Python `bool`, see above.
    layers: a `GlowLayers` to share variables with, or `None`.
    dtype: `tf.float32` or `tf.float64`.
    network_dtype: compute dtype of the coupling networks and the learned
      priors: `None` (the default: Keras's global policy, `"bfloat16"`
      under `"mixed_bfloat16"`, `"float16"` under `"mixed_float16"`, else
      `dtype`), `dtype`, or `"bfloat16"`/`"float16"` for a float32 flow.
      See `tfnvp.flows.ImageFlow` for what stays exact.
    validate_args: Python `bool`; if `True`, `log_prob` checks that its input
      is finite and in `[0, 256)`.
    name: Python `str`, name of the distribution.

  Raises:
    ValueError: for invalid arguments, a `layers` built for another
      configuration, and at call time for an input of the wrong rank, shape
      or dtype.

  #### Examples

  ```python
  flow = tfnvp.Glow(image_shape=(28, 28, 1), num_levels=2, depth=8,
                    hidden_channels=64)
  loss = -tf.reduce_mean(flow.copy(training=True).log_prob(images))
  samples = tfnvp.sample_at_temperature(flow, 16, 0.7, seed=[1, 2])
  ```

  #### References

  [1]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
       Invertible 1x1 Convolutions. NeurIPS 2018.
       https://arxiv.org/abs/1807.03039
  """

  def __init__(self, image_shape, num_levels=2, depth=8, hidden_channels=128,
               coupling="affine", lu_decomposed=True, learn_prior=True,
               seed=None, num_classes=None, condition_couplings=False,
               label_dropout=0.0, training=False, layers=None,
               dtype=tf.float32, network_dtype=None, validate_args=False,
               name="Glow"):
    parameters = dict(locals())
    config = GlowConfig(
        image_shape=image_shape, num_levels=num_levels, depth=depth,
        hidden_channels=hidden_channels, coupling=coupling,
        lu_decomposed=lu_decomposed, learn_prior=learn_prior, seed=seed,
        num_classes=num_classes, condition_couplings=condition_couplings,
        label_dropout=label_dropout, dtype=dtype, network_dtype=network_dtype)
    image_shape = config.image_shape
    dtype = tf.as_dtype(config.dtype)
    expected = dict(image_shape=image_shape, num_levels=num_levels,
                    depth=depth, hidden_channels=hidden_channels,
                    coupling=coupling, lu_decomposed=bool(lu_decomposed),
                    learn_prior=bool(learn_prior), num_classes=num_classes,
                    condition_couplings=config.condition_couplings)
    if layers is None:
      layers = GlowLayers(dtype=dtype.name, seed=seed,
                          network_dtype=network_dtype, name=f"{name}_layers",
                          **expected)
    else:
      check_layers(layers, expected, network_dtype, dtype)
    # So that `copy()` shares the variables (and their precision).
    parameters.update(layers=layers, network_dtype=layers.network_dtype)
    super().__init__(layers, image_shape, pixels=True,
                     training=training, dtype=dtype,
                     label_dropout=label_dropout,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    # As `ImageFlow`'s; TFP warns about inherited ones.
    return dict()

  def _make_flow(self, conditioning, validate_args):
    dtype = self._layers.dtype_policy.variable_dtype
    preprocess = tfb.Chain([tfb.Shift(tf.constant(-0.5, dtype)),
                            tfb.Scale(tf.constant(1.0 / 256.0, dtype))],
                           name="preprocess")
    return tfb.Chain([_build_flow(self._layers, conditioning, validate_args),
                      preprocess], name="glow")


@dataclasses.dataclass(frozen=True)
class GlowConfig(FlowConfig):
  """The configuration of a `tfnvp.Glow`: its constructor's keywords.

  See `tfnvp.flows.FlowConfig`; `tfnvp.Glow` validates its arguments
  through this record.

  #### Examples

  ```python
  config = tfnvp.GlowConfig(image_shape=(32, 32, 3), num_levels=3, depth=32,
                            hidden_channels=512)
  flow = config.make_flow()
  ```
  """

  flow_class = Glow
  v03_renamed = {"num_scales": "num_levels"}

  num_levels: int = config_field(
      2, doc="levels; H and W divisible by 2 ** num_levels")
  depth: int = config_field(
      8, doc="steps (actnorm, 1x1 convolution, coupling) per level")
  hidden_channels: int = config_field(
      128, doc="width of the coupling networks")
  coupling: str = config_field(
      "affine", doc="coupling type", choices=COUPLINGS)
  lu_decomposed: bool = config_field(
      True, doc="LU-parameterized (else plain) invertible 1x1 convolutions")
  learn_prior: bool = config_field(
      True, doc="a learned prior of the half factored out at each split "
      "(else a standard normal)")
  seed: int | None = config_field(
      None, doc="seed of the 1x1 convolutions' initial rotations", flag=False)

  def __post_init__(self):
    super().__post_init__()
    glow_level_shapes(self.image_shape, self.num_levels)
    check_int("depth", self.depth, 1)
    check_int("hidden_channels", self.hidden_channels, 1)
    check_choice("coupling", self.coupling, COUPLINGS)
    self._set("lu_decomposed", check_bool("lu_decomposed",
                                           self.lu_decomposed))
    self._set("learn_prior", check_bool("learn_prior", self.learn_prior))
    check_int("seed", self.seed, 0, optional=True)
