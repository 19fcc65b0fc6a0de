"""Typed configuration of a training run, written next to its checkpoints."""

import dataclasses
import json
import os

from tfnvp.flows import coupling_plan
from tfnvp.flows import glow_level_shapes
from tfnvp.internal.checks import check_int
from tfnvp.networks.glow import COUPLINGS

__all__ = ["COUPLINGS", "CONFIG_FILE", "ModelConfig", "TrainConfig", "load_config",
           "save_config"]

CONFIG_FILE = "config.json"

MODELS = ("realnvp", "glow")
STRATEGIES = ("default", "mirrored", "multi_worker")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Architecture of the flow: `tfnvp.RealNVP` or `tfnvp.Glow`.

  `num_scales` and `hidden_channels` are both models' (Glow's levels are
  its scales); `num_res_blocks`, `logit_alpha` and `batch_norm_momentum`
  are Real NVP's; `depth`, `coupling`, `lu_decomposed` and `learn_prior`
  are Glow's.
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

  def __post_init__(self):
    if self.name not in MODELS:
      raise ValueError(f"`model` must be one of {MODELS}; got {self.name!r}.")
    object.__setattr__(self, "image_shape", tuple(self.image_shape))
    check_int("hidden_channels", self.hidden_channels, 1)
    if self.name == "realnvp":
      coupling_plan(self.image_shape, self.num_scales)  # raises if too deep
      check_int("num_res_blocks", self.num_res_blocks, 0)
    else:
      glow_level_shapes(self.image_shape, self.num_scales)
      check_int("depth", self.depth, 1)
      if self.coupling not in COUPLINGS:
        raise ValueError(f"`coupling` must be one of {COUPLINGS}; got "
                         f"{self.coupling!r}.")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything that determines a training run.

  `batch_size` is global: under a distribution strategy each replica gets
  `batch_size / num_replicas` examples, and the run computes what one device
  computes on the whole batch.
  """

  dataset: str = "mnist"
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  batch_size: int = 64
  epochs: int = 1
  steps_per_epoch: int | None = None
  learning_rate: float = 1e-3
  l2: float = 5e-5
  clip_norm: float | None = 100.0
  strategy: str = "default"
  seed: int = 0
  checkpoint_every: int = 100
  sample_temperature: float = 1.0
  num_train_examples: int | None = None
  num_eval_examples: int | None = None
  jit_compile: bool = False

  def __post_init__(self):
    if isinstance(self.model, dict):
      object.__setattr__(self, "model", ModelConfig(**self.model))
    if self.strategy not in STRATEGIES:
      raise ValueError(
          f"`strategy` must be one of {STRATEGIES}; got {self.strategy!r}.")
    for name in ("batch_size", "epochs", "checkpoint_every"):
      value = getattr(self, name)
      if not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
    if self.jit_compile and self.strategy != "default":
      raise ValueError(
          "`jit_compile` (XLA) is for strategy 'default'; got strategy="
          f"{self.strategy!r}. Keras 3.15 fails to compile under a "
          "distribution strategy on CPU devices.")
    if self.learning_rate <= 0:
      raise ValueError(
          f"`learning_rate` must be > 0; got {self.learning_rate!r}.")
    if self.sample_temperature <= 0:
      raise ValueError("`sample_temperature` must be > 0; got "
                       f"{self.sample_temperature!r}.")


def save_config(config, model_dir):
  """Writes `config` as JSON to `model_dir/config.json`; returns the path."""
  os.makedirs(model_dir, exist_ok=True)
  path = os.path.join(model_dir, CONFIG_FILE)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(dataclasses.asdict(config), f, indent=2, sort_keys=True)
  return path


def load_config(model_dir):
  """Reads the `TrainConfig` saved in `model_dir`.

  Raises:
    FileNotFoundError: if `model_dir` holds no `config.json`.
  """
  path = os.path.join(model_dir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"No training run in --model-dir={model_dir!r}: {path} does not "
        "exist.")
  with open(path, encoding="utf-8") as f:
    return TrainConfig(**json.load(f))
