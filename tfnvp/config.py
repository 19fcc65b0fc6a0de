"""`ModelConfig`: a flow's architecture as one typed, JSON-ready record."""

import dataclasses

import tensorflow as tf

from tfnvp.flows.glow import Glow
from tfnvp.flows.glow import glow_level_shapes
from tfnvp.flows.real_nvp import RealNVP
from tfnvp.flows.real_nvp import coupling_plan
from tfnvp.internal.checks import check_int
from tfnvp.internal.precision import resolve_network_dtype
from tfnvp.networks.glow import COUPLINGS

__all__ = ["COUPLINGS", "MODELS", "ModelConfig"]

MODELS = ("realnvp", "glow")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The architecture of a `tfnvp.RealNVP` or `tfnvp.Glow`.

  One record for both models, so that a training run's `config.json`, a
  saved `tfnvp.FlowModel` and the command line describe a flow the same
  way. `num_scales` and `hidden_channels` are both models' (Glow's levels
  are its scales); `num_res_blocks`, `logit_alpha` and
  `batch_norm_momentum` are Real NVP's; `depth`, `coupling`,
  `lu_decomposed` and `learn_prior` are Glow's.

  Args:
    name: `"realnvp"` or `"glow"`.
    image_shape: `(H, W, C)`.
    num_scales: scales (Real NVP) or levels (Glow).
    hidden_channels: width of the coupling networks.
    num_res_blocks: Real NVP: residual blocks per coupling network.
    logit_alpha: Real NVP: `alpha` of the logit preprocessing, or `None`.
    batch_norm_momentum: Real NVP: momentum of the moving statistics.
    depth: Glow: steps per level.
    coupling: Glow: `"affine"` or `"additive"`.
    lu_decomposed: Glow: LU-parameterized 1x1 convolutions.
    learn_prior: Glow: a learned prior at each split.
    dtype: `"float32"` or `"float64"`.
    network_dtype: compute dtype of the coupling networks, `"bfloat16"` or
      `"float16"` for mixed precision, `dtype` for none, or `None` to
      follow Keras's global policy when the flow is made (`from_flow`
      records what a flow uses).

  Raises:
    ValueError: for an unknown model, a depth too deep for `image_shape`,
      or another invalid field; the message names the field and value.

  #### Examples

  ```python
  config = tfnvp.ModelConfig(name="glow", image_shape=(32, 32, 3),
                             num_scales=3, depth=32, hidden_channels=512)
  flow = config.make_flow()                       # a tfnvp.Glow
  tfnvp.ModelConfig.from_flow(flow) == dataclasses.replace(
      config, network_dtype="float32")            # True (no mixed policy)
  ```
  """

  name: str = "realnvp"
  image_shape: tuple = (28, 28, 1)
  num_scales: int = 2
  hidden_channels: int = 32
  num_res_blocks: int = 2
  logit_alpha: float | None = 0.05
  batch_norm_momentum: float = 0.95
  depth: int = 8
  coupling: str = "affine"
  lu_decomposed: bool = True
  learn_prior: bool = True
  dtype: str = "float32"
  network_dtype: str | None = None

  def __post_init__(self):
    if self.name not in MODELS:
      raise ValueError(f"`model` must be one of {MODELS}; got {self.name!r}.")
    try:
      object.__setattr__(self, "image_shape", tuple(self.image_shape))
    except TypeError:
      raise ValueError("`image_shape` must be three positive ints (H, W, C); "
                       f"got {self.image_shape!r}.") from None
    check_int("hidden_channels", self.hidden_channels, 1)
    if self.dtype not in ("float32", "float64"):
      raise ValueError(
          f"`dtype` must be 'float32' or 'float64'; got {self.dtype!r}.")
    if self.network_dtype is not None:
      resolve_network_dtype(self.network_dtype, self.dtype)  # raises if bad
    if self.name == "realnvp":
      coupling_plan(self.image_shape, self.num_scales)  # raises if too deep
      check_int("num_res_blocks", self.num_res_blocks, 0)
      if not 0.0 <= self.batch_norm_momentum < 1.0:
        raise ValueError("`batch_norm_momentum` must be in [0, 1); got "
                         f"{self.batch_norm_momentum!r}.")
    else:
      glow_level_shapes(self.image_shape, self.num_scales)
      check_int("depth", self.depth, 1)
      if self.coupling not in COUPLINGS:
        raise ValueError(f"`coupling` must be one of {COUPLINGS}; got "
                         f"{self.coupling!r}.")

  def make_flow(self, training=False, layers=None, **kwargs):
    """The `tfnvp.RealNVP` or `tfnvp.Glow` this config describes.

    Args:
      training: the flow's mode (batch statistics, actnorm initialization).
      layers: the Keras layer holding the variables to use (as `copy()`
        shares them), or `None` for new ones.
      **kwargs: forwarded to the flow (`validate_args`, `name`, ...).

    Returns:
      A `tfnvp.RealNVP` or `tfnvp.Glow`.
    """
    kwargs.update(training=training, layers=layers,
                  dtype=tf.as_dtype(self.dtype),
                  network_dtype=self.network_dtype)
    if self.name == "glow":
      return Glow(self.image_shape, self.num_scales, self.depth,
                  self.hidden_channels, self.coupling, self.lu_decomposed,
                  self.learn_prior, **kwargs)
    return RealNVP(self.image_shape, self.num_scales, self.hidden_channels,
                   self.num_res_blocks, logit_alpha=self.logit_alpha,
                   batch_norm_momentum=self.batch_norm_momentum, **kwargs)

  @classmethod
  def from_flow(cls, flow):
    """The config of a `tfnvp.RealNVP` or `tfnvp.Glow`.

    Raises:
      TypeError: if `flow` is neither.
    """
    p = flow.parameters if isinstance(flow, (RealNVP, Glow)) else None
    if p is None:
      raise TypeError(
          f"`flow` must be a tfnvp.RealNVP or tfnvp.Glow; got {flow!r}.")
    common = dict(image_shape=tuple(p["image_shape"]),
                  hidden_channels=p["hidden_channels"],
                  dtype=tf.as_dtype(p["dtype"]).name,
                  network_dtype=flow.network_dtype)
    if isinstance(flow, Glow):
      return cls(name="glow", num_scales=p["num_levels"], depth=p["depth"],
                 coupling=p["coupling"],
                 lu_decomposed=bool(p["lu_decomposed"]),
                 learn_prior=bool(p["learn_prior"]), **common)
    return cls(name="realnvp", num_scales=p["num_scales"],
               num_res_blocks=p["num_res_blocks"],
               logit_alpha=p["logit_alpha"],
               batch_norm_momentum=p["batch_norm_momentum"], **common)

  def to_dict(self):
    """The fields as a JSON-ready `dict`."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, fields, source="config"):
    """A `ModelConfig` from `to_dict()`'s output.

    Args:
      fields: a `dict` of field values.
      source: what `fields` came from, for error messages (a file name).

    Raises:
      ValueError: if `fields` is not a dict, has unknown fields or invalid
        values; the message names `source`.
    """
    if not isinstance(fields, dict):
      raise ValueError(f"{source}: the model config must be a JSON object; "
                       f"got {fields!r}.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
      raise ValueError(f"{source}: unknown model field(s) {unknown}; known: "
                       f"{sorted(known)}.")
    try:
      return cls(**fields)
    except (TypeError, ValueError) as err:
      raise ValueError(f"{source}: {err}") from None
