"""`FlowConfig`: a flow's constructor keywords as one typed, JSON-ready record.

A flow's configuration is its constructor's keywords, as TFP keeps them in
`distribution.parameters` (`dict(locals())`). Each flow family has a frozen
dataclass whose fields are exactly those keywords, less the ones that are
state or behaviour rather than architecture (`NOT_CONFIG`: `training`,
`layers`, `validate_args`, `name`), with the constructor's defaults:

```none
flow = config.make_flow()                 # RealNVP(**fields)
config = FlowConfig.from_flow(flow)       # from flow.parameters
config = FlowConfig.from_dict(config.to_dict())      # JSON round trip
```

The constructor validates its arguments by building its record, so a record
that exists is one the constructor accepts, and every check is written
once. `to_dict` is Keras's serialization layout, `{"class_name": "RealNVP",
"config": {...}}`; `from_dict` also reads the flat model record that tfnvp
0.3 wrote into `config.json` and `.keras` files.

The field metadata (`tfnvp.internal.records.config_field`) documents each
field; the command line of `tfnvp-train` is generated from it.
"""

import dataclasses
import typing

from tfnvp.flows.image_flow import check_flow_dtype
from tfnvp.internal.checks import check_bool
from tfnvp.internal.checks import check_int
from tfnvp.internal.checks import check_number
from tfnvp.internal.shapes import check_image_shape
from tfnvp.internal.precision import resolve_network_dtype
from tfnvp.config import config_field
from tfnvp.config import record_from_fields

__all__ = ["FlowConfig", "NOT_CONFIG"]

# Constructor keywords of a flow that are not part of its configuration.
NOT_CONFIG = ("training", "layers", "validate_args", "name")

# The fields of tfnvp 0.3's single model record (`ModelConfig`), and the
# field that named the family.
_V03_FIELDS = frozenset((
    "name", "image_shape", "num_scales", "hidden_channels", "num_res_blocks",
    "logit_alpha", "batch_norm_momentum", "depth", "coupling",
    "lu_decomposed", "learn_prior", "dtype", "network_dtype"))


@dataclasses.dataclass(frozen=True)
class FlowConfig:
  """Base of the config records of tfnvp's flows.

  Every image flow has the fields defined here (`image_shape`, `dtype`,
  `network_dtype` and the class-conditioning ones, `num_classes`,
  `condition_couplings` and `label_dropout`); subclasses set `flow_class`
  and define the others. `FlowConfig.get(name)` finds the record of a flow class by the
  class's name, in any case (`"realnvp"` or `"RealNVP"`).

  Raises:
    ValueError: for an invalid field (see the fields' documentation); the
      message names the field and the value.
  """

  # The flow class the record configures.
  flow_class: typing.ClassVar[type] = None
  # 0.3 field name -> this record's field, where they differ.
  v03_renamed: typing.ClassVar[dict] = {}
  _registry: typing.ClassVar[dict] = {}

  image_shape: tuple = config_field(doc="(H, W, C) of the images",
                                    flag=False)
  dtype: str = config_field(
      "float32", doc="the flow's float dtype", choices=("float32", "float64"))
  network_dtype: str | None = config_field(
      None, doc="compute dtype of the coupling networks (and Glow's learned "
      "priors): bfloat16 or float16 for mixed precision, the flow's dtype "
      "for none, or none for Keras's global policy",
      choices=("float32", "float64", "bfloat16", "float16"))

  num_classes: int | None = config_field(
      None, doc="classes of a class-conditional flow (labels 0 to K - 1), or "
      "none for an unconditional flow")
  condition_couplings: bool = config_field(
      False, doc="whether the coupling networks see the label (a learned "
      "embedding) besides the Gaussian priors; needs num_classes")
  label_dropout: float = config_field(
      0.0, doc="probability that a training label is replaced by the null "
      "label (the unconditional model guidance needs), in [0, 1); needs "
      "num_classes")

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    FlowConfig._registry[cls.flow_class.__name__.lower()] = cls

  def __post_init__(self):
    """Normalizes and checks the fields every image flow has."""
    self._set("image_shape", check_image_shape(self.image_shape))
    self._set("dtype", check_flow_dtype(self.dtype))
    if self.network_dtype is not None:
      self._set("network_dtype",
                resolve_network_dtype(self.network_dtype, self.dtype))
    check_int("num_classes", self.num_classes, 2, optional=True)
    self._set("condition_couplings", check_bool("condition_couplings",
                                                self.condition_couplings))
    check_number("label_dropout", self.label_dropout, 0, 1, high_open=True)
    if self.num_classes is None:
      for name in ("condition_couplings", "label_dropout"):
        if getattr(self, name):
          raise ValueError(f"`{name}` needs `num_classes`; got {name}="
                           f"{getattr(self, name)!r} with num_classes=None.")

  def _set(self, name, value):
    object.__setattr__(self, name, value)

  @property
  def class_name(self):
    """The flow class's name, e.g. `"RealNVP"`."""
    return self.flow_class.__name__

  @classmethod
  def models(cls):
    """The registered flow families, by lower-case class name."""
    return tuple(sorted(cls._registry))

  @classmethod
  def get(cls, name):
    """The record class of the flow class called `name` (case-insensitive).

    Raises:
      ValueError: for an unknown name; the message lists the known ones.
    """
    record = cls._registry.get(str(name).lower()) if isinstance(
        name, str) else None
    if record is None:
      raise ValueError(f"`model` must be one of {cls.models()}; got "
                       f"{name!r}.")
    return record

  def kwargs(self):
    """The fields as the flow constructor's keyword arguments."""
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

  def make_flow(self, training=False, layers=None, validate_args=False,
                name=None):
    """The flow this record configures.

    Args:
      training: Python `bool`, the flow's mode.
      layers: the flow's Keras layer of variables to share (as `copy()`
        does), or `None` for new variables.
      validate_args: Python `bool`.
      name: the distribution's name, or `None` for the class's default.

    Returns:
      A `tfnvp.RealNVP`, `tfnvp.Glow`, ...: `flow_class(**fields, ...)`.
    """
    extra = dict(training=training, layers=layers,
                 validate_args=validate_args)
    if name is not None:
      extra["name"] = name
    return self.flow_class(**self.kwargs(), **extra)

  @classmethod
  def from_flow(cls, flow):
    """The record of a flow, from its `parameters`.

    `network_dtype` is the one the flow resolved (never `None`), so that the
    record rebuilds the same precision whatever Keras's global policy.

    Raises:
      TypeError: if `flow` is not a flow with a record.
    """
    record = next((r for r in cls._registry.values()
                   if isinstance(flow, r.flow_class)), None)
    if record is None:
      names = ", ".join(r.flow_class.__name__ for r in cls._registry.values())
      raise TypeError(f"`flow` must be one of tfnvp's flows ({names}); got "
                      f"{flow!r}.")
    params = flow.parameters
    fields = {f.name: params[f.name] for f in dataclasses.fields(record)}
    fields["network_dtype"] = flow.network_dtype
    return record(**fields)

  def to_dict(self):
    """The record as JSON-ready data: `{"class_name": ..., "config": ...}`."""
    config = {k: list(v) if isinstance(v, tuple) else v
              for k, v in self.kwargs().items()}
    return {"class_name": self.class_name, "config": config}

  @classmethod
  def from_dict(cls, value, source="config"):
    """A record from `to_dict()`'s output, or from tfnvp 0.3's model record.

    Args:
      value: a `dict`.
      source: what `value` came from, for error messages (a file name).

    Returns:
      A `FlowConfig` subclass instance.

    Raises:
      ValueError: if `value` is not such a dict, names an unknown flow or
        field, or holds an invalid value; the message names `source`.
    """
    try:
      if not isinstance(value, dict):
        raise ValueError(f"the model must be a JSON object; got {value!r}.")
      if "class_name" in value:
        if set(value) != {"class_name", "config"}:
          raise ValueError(
              'the model must be {"class_name": ..., "config": {...}}; got '
              f"{value!r}.")
        record, fields = cls.get(value["class_name"]), value["config"]
      else:
        record, fields = cls._from_v03(value)
      return record_from_fields(record, fields, record.flow_class.__name__)
    except ValueError as err:
      raise ValueError(f"{source}: {err}") from None

  @classmethod
  def _from_v03(cls, value):
    """The record class and fields of a tfnvp 0.3 `ModelConfig` dict."""
    unknown = sorted(set(value) - _V03_FIELDS)
    if unknown:
      raise ValueError(f"unknown model field(s) {unknown}.")
    record = cls.get(value.get("name", "realnvp"))
    known = {f.name for f in dataclasses.fields(record)}
    fields = {}
    for key, field_value in value.items():
      key = record.v03_renamed.get(key, key)
      if key in known:
        fields[key] = field_value
    return record, fields
