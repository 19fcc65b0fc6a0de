"""Typed configuration of a training run, written next to its checkpoints."""

import dataclasses
import json
import math
import os

from tfnvp import ModelConfig
from tfnvp import runs

__all__ = ["CONFIG_FILE", "LR_SCHEDULES", "MIXED_PRECISIONS", "OPTIMIZERS",
           "RECIPES", "STRATEGIES", "TrainConfig", "flag", "load_config",
           "save_config"]

CONFIG_FILE = runs.CONFIG_FILE

STRATEGIES = ("default", "mirrored", "multi_worker")


OPTIMIZERS = ("adam", "adamax")

LR_SCHEDULES = ("constant", "cosine", "exponential")

# `--mixed-precision`: the coupling networks' `tfnvp.ModelConfig.network_dtype`.
MIXED_PRECISIONS = {"off": "float32", "bfloat16": "bfloat16",
                    "float16": "float16"}

# The optimization `tfnvp-train` uses for each model (`--model`) where
# neither a flag nor the preset sets a field: `TrainConfig`'s defaults, then
# these, then the preset's `train`, then the flags given. Any field with a
# `tfnvp-train` flag that a preset may set can go here.
# Measured on MNIST at a 10-minute budget (BENCHMARKS.md, "Bits/dim per
# CPU minute"): Polyak averaging at 0.995 cost Real NVP 0.048 and Glow 0.22
# test bits/dim against their final raw weights under a cosine decay, and
# Glow with Adamax and a 200-step warm-up reached 4.35 where Adam 1e-3
# without one had reached 2.56 (the overflow trace, 800 steps): both off.
# The cosine decay against a constant rate (same run, 2026-12-02): Real NVP
# 1.605 vs 1.580 and 1.593 (two constant runs, whose validation jumps by up
# to 0.07 between epochs), Glow 1.864 vs 1.881; kept for its steady end.
RECIPES = {
    "realnvp": dict(optimizer="adam", learning_rate=1e-3, warmup_steps=0,
                    lr_schedule="cosine", lr_final_fraction=0.01,
                    ema_decay=None, bn_recalibration_batches=50),
    "glow": dict(optimizer="adam", learning_rate=1e-3, warmup_steps=0,
                 lr_schedule="cosine", lr_final_fraction=0.01,
                 ema_decay=None, bn_recalibration_batches=0),
}


def flag(field):
  """The command-line flag of a `TrainConfig` field: `--learning-rate`."""
  return "--" + field.replace("_", "-")


def _check_number(config, name, minimum, *, integer, strict=False,
                  optional=False, maximum=None, open_maximum=False):
  """`config.<name>` must be a finite number (an int) >= (>) `minimum`.

  With `maximum`, also <= `maximum` (< with `open_maximum`).
  """
  value = getattr(config, name)
  if optional and value is None:
    return
  if integer:
    ok = isinstance(value, int) and not isinstance(value, bool)
    kind = "an int"
  else:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        math.isfinite(value))
    kind = "a finite number"
  ok = ok and (value > minimum if strict else value >= minimum)
  if maximum is None:
    bound = f"> {minimum}" if strict else f">= {minimum}"
  else:
    ok = ok and (value < maximum if open_maximum else value <= maximum)
    bound = (f"in {'(' if strict else '['}{minimum}, {maximum}"
             f"{')' if open_maximum else ']'}")
  if not ok:
    raise ValueError(f"`{name}` ({flag(name)}) must be {kind} {bound}"
                     f"{' or None' if optional else ''}; got {value!r}.")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything that determines a training run.

  `batch_size` is global: under a distribution strategy each replica gets
  `batch_size / num_replicas` examples, and the run computes what one device
  computes on the whole batch. `optimizer` is `"adam"` (Real NVP's) or
  `"adamax"` (Glow's); the learning rate rises linearly from
  `learning_rate / warmup_steps` to `learning_rate` over the first
  `warmup_steps` optimizer steps, then follows `lr_schedule` over the rest
  of the run (`epochs` x steps per epoch): `"constant"`, or a `"cosine"` or
  `"exponential"` decay to `learning_rate * lr_final_fraction` at the last
  step (`training.schedules.WarmupDecaySchedule`). `ema_decay` turns on
  the Polyak average of the weights (`tfnvp.FlowModel`), used for
  validation, evaluation, sample grids and export; `None` (or 0) is off.
  `bn_recalibration_batches` > 0 re-estimates Real NVP's moving batch-norm
  statistics over that many training batches, for the weights inference
  uses, before every validation and checkpoint
  (`tfnvp.FlowModel.recalibrate_moving_statistics`); Glow has none.
  `preset` names the `tfnvp.presets` entry the run started from (flags
  given beside it override it). `tfnvp-train` takes the optimization
  fields a flag or preset does not set from `RECIPES[model.name]`.

  Raises:
    ValueError: for a field out of range (not finite, not positive, an
      unknown name); the message names the field, its flag and the value.
  """

  dataset: str = "mnist"
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  batch_size: int = 64
  epochs: int = 1
  steps_per_epoch: int | None = None
  optimizer: str = "adam"
  learning_rate: float = 1e-3
  warmup_steps: int = 0
  lr_schedule: str = "constant"
  lr_final_fraction: float = 0.01
  ema_decay: float | None = None
  bn_recalibration_batches: int = 0
  l2: float = 5e-5
  clip_norm: float | None = 100.0
  strategy: str = "default"
  seed: int = 0
  checkpoint_every: int = 100
  sample_temperature: float = 1.0
  num_train_examples: int | None = None
  num_eval_examples: int | None = None
  jit_compile: bool = False
  preset: str | None = None

  def __post_init__(self):
    if isinstance(self.model, dict):
      object.__setattr__(self, "model", ModelConfig.from_dict(self.model))
    if not isinstance(self.model, ModelConfig):
      raise ValueError(
          f"`model` must be a tfnvp.ModelConfig; got {self.model!r}.")
    if self.strategy not in STRATEGIES:
      raise ValueError(f"`strategy` ({flag('strategy')}) must be one of "
                       f"{STRATEGIES}; got {self.strategy!r}.")
    for name, choices in (("optimizer", OPTIMIZERS),
                          ("lr_schedule", LR_SCHEDULES)):
      if getattr(self, name) not in choices:
        raise ValueError(f"`{name}` ({flag(name)}) must be one of {choices}; "
                         f"got {getattr(self, name)!r}.")
    for name in ("batch_size", "epochs", "checkpoint_every"):
      _check_number(self, name, 1, integer=True)
    for name in ("steps_per_epoch", "num_train_examples",
                 "num_eval_examples"):
      _check_number(self, name, 1, integer=True, optional=True)
    _check_number(self, "warmup_steps", 0, integer=True)
    _check_number(self, "seed", 0, integer=True)
    _check_number(self, "bn_recalibration_batches", 0, integer=True)
    _check_number(self, "learning_rate", 0, integer=False, strict=True)
    _check_number(self, "sample_temperature", 0, integer=False, strict=True)
    _check_number(self, "l2", 0, integer=False)
    _check_number(self, "lr_final_fraction", 0, integer=False, strict=True,
                  maximum=1)
    _check_number(self, "ema_decay", 0, integer=False, optional=True,
                  maximum=1, open_maximum=True)
    _check_number(self, "clip_norm", 0, integer=False, strict=True,
                  optional=True)
    if self.jit_compile and self.strategy != "default":
      raise ValueError(
          "`jit_compile` (XLA) is for strategy 'default'; got strategy="
          f"{self.strategy!r}. Keras 3.15 fails to compile under a "
          "distribution strategy on CPU devices.")

  def to_dict(self):
    """The fields as a JSON-ready `dict` (the model's as a nested one)."""
    return dataclasses.asdict(self)


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
  """Reads the `TrainConfig` saved in `model_dir`.

  Raises:
    FileNotFoundError: if `model_dir` holds no `config.json`.
    ValueError: if the file is corrupted or holds unknown or invalid
      fields; the message names the file.
  """
  raw = runs.read_config(model_dir)
  path = os.path.join(model_dir, CONFIG_FILE)
  known = {f.name for f in dataclasses.fields(TrainConfig)}
  unknown = sorted(set(raw) - known)
  if unknown:
    raise ValueError(f"{path}: unknown field(s) {unknown}.")
  raw = dict(raw, model=ModelConfig.from_dict(raw["model"], source=path))
  try:
    return TrainConfig(**raw)
  except (TypeError, ValueError) as err:
    raise ValueError(f"{path}: {err}") from None
