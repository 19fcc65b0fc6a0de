"""Typed configuration of a training run, written next to its checkpoints.

A run is three records: the flow's (`tfnvp.RealNVPConfig` or
`tfnvp.GlowConfig`), the optimization (`tfnvp.OptimizationConfig`) and
`TrainConfig`'s own fields (dataset, length, strategy, checkpoints). Their
field names form one flat namespace, the names of `tfnvp-train`'s flags
and of `config.json`'s keys; `from_values` builds a `TrainConfig` from such
flat values, in the order defaults, the model's `RECIPES` entry, a preset,
the values given.
"""

import dataclasses
import json
import os

import tfnvp
from tfnvp import runs
from tfnvp.flows import FlowConfig
from tfnvp.config import check_choice
from tfnvp.config import check_int
from tfnvp.config import check_number
from tfnvp.config import config_field

__all__ = ["CONFIG_FILE", "RECIPES", "STRATEGIES", "TrainConfig",
           "field_owner", "from_values", "load_config", "save_config"]

CONFIG_FILE = runs.CONFIG_FILE

STRATEGIES = ("default", "mirrored", "multi_worker")

# What `tfnvp-train` uses for each model (`--model`) where neither a flag
# nor the preset sets a field: small coupling networks that train on a CPU,
# and the recipe measured in BENCHMARKS.md ("Bits/dim per CPU minute").
RECIPES = {
    "realnvp": dict(hidden_channels=32, num_res_blocks=2, optimizer="adam",
                    learning_rate=1e-3, warmup_steps=0, lr_schedule="cosine",
                    lr_final_fraction=0.01, ema_decay=None,
                    bn_recalibration_batches=50),
    "glow": dict(hidden_channels=32, optimizer="adam", learning_rate=1e-3,
                 warmup_steps=0, lr_schedule="cosine",
                 lr_final_fraction=0.01, ema_decay=None,
                 bn_recalibration_batches=0),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
  """Everything that determines a training run.

  `model` and `optimization` are tfnvp's records; the other fields are the
  run's. `bn_recalibration_batches > 0` re-estimates Real NVP's moving
  batch-norm statistics over that many training batches, for the weights
  inference uses, before every validation and checkpoint
  (`tfnvp.FlowModel.recalibrate_moving_statistics`); Glow has none.
  `preset` names the `tfnvp.presets` entry the run started from.

  Raises:
    ValueError: for a field out of range or an unknown name; the message
      names the field and the value.
  """

  dataset: str = config_field("mnist", doc="TFDS name of the dataset")
  model: FlowConfig = config_field(
      dataclasses.MISSING, doc="the flow's record", flag=False)
  optimization: tfnvp.OptimizationConfig = config_field(
      doc="the optimization", flag=False,
      default_factory=tfnvp.OptimizationConfig)
  epochs: int = config_field(1, doc="epochs to train")
  steps_per_epoch: int | None = config_field(
      None, doc="optimizer steps per epoch (default: one pass over the "
      "training examples)")
  bn_recalibration_batches: int = config_field(
      0, doc="Real NVP: re-estimate the moving batch-norm statistics over "
      "this many training batches before every validation and checkpoint; "
      "0 keeps the moving averages")
  strategy: str = config_field(
      "default", doc="tf.distribute strategy", choices=STRATEGIES)
  seed: int = config_field(0, doc="seed of the weights, data order and "
                           "samples")
  checkpoint_every: int = config_field(
      100, doc="optimizer steps between checkpoints")
  sample_temperature: float = config_field(
      1.0, doc="temperature of the sample grids")
  num_train_examples: int | None = config_field(
      None, doc="use only the first N training examples")
  num_eval_examples: int | None = config_field(
      None, doc="validate on the first N test examples")
  jit_compile: bool = config_field(
      False, doc="XLA (single-device runs)")
  preset: str | None = config_field(
      None, doc="a configuration of the Real NVP or Glow paper "
      "(tfnvp.presets)", flag=False)

  def __post_init__(self):
    if not isinstance(self.model, FlowConfig):
      raise ValueError("`model` must be a flow record (tfnvp.RealNVPConfig, "
                       f"tfnvp.GlowConfig); got {self.model!r}.")
    if not isinstance(self.optimization, tfnvp.OptimizationConfig):
      raise ValueError("`optimization` must be a tfnvp.OptimizationConfig; "
                       f"got {self.optimization!r}.")
    if (self.optimization.classification_weight and
        self.model.num_classes is None):
      raise ValueError(
          "`classification_weight` needs a class-conditional model "
          f"(`num_classes`); got classification_weight="
          f"{self.optimization.classification_weight!r} with num_classes=None.")
    check_choice("strategy", self.strategy, STRATEGIES)
    for name in ("epochs", "checkpoint_every"):
      check_int(name, getattr(self, name), 1)
    for name in ("steps_per_epoch", "num_train_examples",
                 "num_eval_examples"):
      check_int(name, getattr(self, name), 1, optional=True)
    check_int("seed", self.seed, 0)
    check_int("bn_recalibration_batches", self.bn_recalibration_batches, 0)
    check_number("sample_temperature", self.sample_temperature, 0,
                 low_open=True)
    if self.jit_compile and self.strategy != "default":
      raise ValueError(
          "`jit_compile` (XLA) is for strategy 'default'; got strategy="
          f"{self.strategy!r}. Keras 3.15 fails to compile under a "
          "distribution strategy on CPU devices.")

  def to_dict(self):
    """The run as JSON-ready data (the records nested)."""
    fields = {f.name: getattr(self, f.name)
              for f in dataclasses.fields(self)}
    fields.update(model=self.model.to_dict(),
                  optimization=self.optimization.to_dict())
    return fields


def _record_fields(record_cls):
  """The names of a record's fields that have a flag."""
  return [f.name for f in dataclasses.fields(record_cls)
          if f.metadata.get("flag", True)]


def field_owner(name):
  """Which records have the flat field `name`: a tuple of record classes."""
  owners = [FlowConfig.get(model) for model in FlowConfig.models()]
  owners = [cls for cls in owners if name in _record_fields(cls)]
  for cls in (tfnvp.OptimizationConfig, TrainConfig):
    if name in _record_fields(cls):
      owners.append(cls)
  return tuple(owners)


def from_values(given, image_shape, preset=None, model=None):
  """A `TrainConfig` from flat field values.

  Args:
    given: `dict` of field name -> value, for any field of the model's
      record (but `image_shape`), of `tfnvp.OptimizationConfig` and of
      `TrainConfig`.
    image_shape: `(H, W, C)` of the dataset's images.
    preset: a `tfnvp.presets.Preset` whose values come before `given`, or
      `None`.
    model: the flow's name (`"realnvp"`, `"glow"`), or `None` for the
      preset's (else Real NVP).

  Returns:
    A `TrainConfig`.

  Raises:
    ValueError: for a field of another model than `model`, a model other
      than the preset's, an unknown field or an invalid value; the message
      names the field.
  """
  if preset is not None:
    preset_model = preset.model.class_name.lower()
    if model is not None and FlowConfig.get(model) is not type(preset.model):
      raise ValueError(f"`model`={model!r} differs from the model of the "
                       f"preset {preset.name!r}, {preset_model!r}.")
    model = preset_model
  record_cls = FlowConfig.get(model or "realnvp")
  values = dict(RECIPES[record_cls.flow_class.__name__.lower()])
  if preset is not None:
    preset_fields = preset.model.kwargs()
    values.update({k: preset_fields[k] for k in _record_fields(record_cls)},
                  **preset.optimization.to_dict(), dataset=preset.dataset,
                  preset=preset.name)
  for name in given:
    owners = field_owner(name)
    if not owners:
      raise ValueError(f"unknown field `{name}`.")
    if all(issubclass(o, FlowConfig) for o in owners) and (
        record_cls not in owners):
      others = ", ".join(o.flow_class.__name__ for o in owners)
      raise ValueError(f"`{name}` is a field of {others}, not of "
                       f"{record_cls.flow_class.__name__} (`model`).")
  values.update(given, image_shape=image_shape)

  def pick(names):
    return {name: values[name] for name in names if name in values}

  return TrainConfig(
      model=record_cls(**pick(_record_fields(record_cls) + ["image_shape"])),
      optimization=tfnvp.OptimizationConfig(
          **pick(_record_fields(tfnvp.OptimizationConfig))),
      **pick(_record_fields(TrainConfig) + ["preset"]))


def save_config(config, model_dir):
  """Writes `config` as JSON to `model_dir/config.json`; returns the path.

  The file is written next to its destination and renamed into place, so
  an interrupted write never leaves a truncated `config.json`.
  """
  os.makedirs(model_dir, exist_ok=True)
  path = os.path.join(model_dir, CONFIG_FILE)
  staging = f"{path}.tmp-{os.getpid()}"
  with open(staging, "w", encoding="utf-8") as f:
    json.dump(config.to_dict(), f, indent=2, sort_keys=True)
  os.replace(staging, path)
  return path


def load_config(model_dir):
  """Reads the `TrainConfig` saved in `model_dir` (tfnvp 0.3's too).

  Raises:
    FileNotFoundError: if `model_dir` holds no `config.json`.
    ValueError: if the file is corrupted or holds unknown or invalid
      fields; the message names the file.
  """
  raw = runs.read_config(model_dir)
  path = os.path.join(model_dir, CONFIG_FILE)
  model, optimization = runs.run_records(raw, path)
  fields = {k: v for k, v in raw.items()
            if k not in ("model", "optimization")}
  known = {f.name for f in dataclasses.fields(TrainConfig)}
  unknown = sorted(set(fields) - known)
  if unknown:
    raise ValueError(f"{path}: unknown field(s) {unknown}.")
  try:
    return TrainConfig(model=model, optimization=optimization, **fields)
  except (TypeError, ValueError) as err:
    raise ValueError(f"{path}: {err}") from None
