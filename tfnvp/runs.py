"""A training run's folder: `config.json` and checkpoints of a `FlowModel`.

```none
<model_dir>/config.json           {"model": FlowConfig.to_dict(),
                                   "optimization": OptimizationConfig
                                     fields, ...the app's fields}
<model_dir>/checkpoints/ckpt-<k>  tf.train.Checkpoint(flow=<flow layers>,
                                    weight_average=<PolyakAverage>,
                                    optimizer=...)
```

`weight_average` (the Polyak average of the raw weights `flow` holds) is
there when the run's `optimization.ema_decay` is set. `read_config` also
reads the layout of tfnvp 0.3 (a flat model record, the optimization fields
at the top level) and returns it in today's.

`tfnvp.training` writes such folders; `load_run` reads them back without
the training stack (no TensorFlow Datasets), for evaluation and export.
"""

import dataclasses
import json
import os

import tensorflow as tf

from tfnvp.flows.config import FlowConfig
from tfnvp.model import FlowModel
from tfnvp.optimization import OptimizationConfig

__all__ = [
    "CHECKPOINT_SUBDIR",
    "CONFIG_FILE",
    "CheckpointError",
    "Run",
    "checkpoint_paths",
    "load_run",
    "make_checkpoint",
    "read_config",
    "run_records",
    "verify_checkpoint",
]

CONFIG_FILE = "config.json"
CHECKPOINT_SUBDIR = "checkpoints"


class CheckpointError(ValueError):
  """A checkpoint is missing, truncated or corrupted; the message names it."""


def read_config(model_dir):
  """The JSON object in `model_dir/config.json`, in today's layout.

  A tfnvp 0.3 file (its optimization fields at the top level) comes back
  with them under `"optimization"`; the model record is returned as
  written (`FlowConfig.from_dict` reads both layouts).

  Raises:
    FileNotFoundError: if there is no such file.
    ValueError: if it is not a JSON object (truncated, corrupted); the
      message names the file.
  """
  path = os.path.join(model_dir, CONFIG_FILE)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(
        f"No training run in `model_dir`={model_dir!r}: {path} does not "
        "exist.")
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      config = json.loads(f.read())
  except (ValueError, UnicodeDecodeError) as err:
    raise ValueError(f"{path} is not valid JSON (corrupted or truncated?): "
                     f"{err}") from None
  if not isinstance(config, dict) or not isinstance(config.get("model"),
                                                    dict):
    raise ValueError(f"{path} must hold a JSON object with a 'model' object; "
                     f"got {str(config)[:200]!r}.")
  if "optimization" not in config:
    names = {f.name for f in dataclasses.fields(OptimizationConfig)}
    config = dict(config)
    config["optimization"] = {k: config.pop(k) for k in sorted(names)
                              if k in config}
  return config


def run_records(config, source):
  """The `FlowConfig` and `OptimizationConfig` of `read_config`'s output.

  Args:
    config: a `dict` from `read_config`.
    source: the file it came from, for messages.

  Raises:
    ValueError: for an invalid record; the message names `source`.
  """
  return (FlowConfig.from_dict(config["model"], source=source),
          OptimizationConfig.from_dict(config["optimization"],
                                       source=source))


def make_checkpoint(model, optimizer=None):
  """The `tf.train.Checkpoint` of a run's `FlowModel`.

  It holds the flow's layers (the raw weights), the model's Polyak average
  of them (`model.weight_average`) when it keeps one, and `optimizer`
  unless it is `None`.
  """
  objects = dict(flow=model.flow_layers)
  if model.weight_average is not None:
    objects["weight_average"] = model.weight_average
  if optimizer is not None:
    objects["optimizer"] = optimizer
  return tf.train.Checkpoint(**objects)


def checkpoint_paths(model_dir):
  """The run's checkpoint prefixes, newest first (`[]` for none)."""
  directory = os.path.join(model_dir, CHECKPOINT_SUBDIR)
  state = tf.train.get_checkpoint_state(directory)
  if state is None:
    return []
  # TF already joins relative entries of the index to `directory`.
  paths = list(state.all_model_checkpoint_paths) or [
      state.model_checkpoint_path]
  return paths[::-1]


def verify_checkpoint(path):
  """Reads every tensor of the checkpoint `path` (checksums included).

  Raises:
    CheckpointError: if its files are missing, truncated or corrupted; the
      message names `path` and what TF reported.
  """
  try:
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  # A truncated data file can also surface as IndexError ("Read less
  # bytes than requested") from TF's reader.
  except (tf.errors.OpError, ValueError, IndexError, OSError) as err:
    message = (getattr(err, "message", None) or str(err)).strip()
    message = message.splitlines()[0] if message else ""
    raise CheckpointError(
        f"checkpoint {path} is missing, truncated or corrupted: "
        f"{type(err).__name__}: {message[:300]}") from None


@dataclasses.dataclass(frozen=True)
class Run:
  """A run's `FlowModel` with a checkpoint's weights, and its config."""

  model: FlowModel
  config: dict
  checkpoint: str

  @property
  def flow(self):
    """The inference-mode flow (`model.flow`)."""
    return self.model.flow


def load_run(model_dir, checkpoint=None, averaged=True, network_dtype=None):
  """The `FlowModel` of a run folder with a checkpoint's weights.

  A run trained with Polyak averaging (`ema_decay` in `config.json`) gives
  a model with its average (`model.weight_average`) restored as well.

  Args:
    model_dir: a folder written by `tfnvp.training` (`config.json` and
      `checkpoints/`).
    checkpoint: a checkpoint path prefix (e.g. `.../checkpoints/ckpt-300`),
      or `None` for the newest.
    averaged: if the run keeps a Polyak average, whether the flow's
      variables get the averaged weights (`model.assign_averaged_weights()`:
      what `tfnvp-evaluate` and `tfnvp-export` use) or keep the raw ones.
      `model.evaluate` and `predict` use the averages either way.
    network_dtype: the coupling networks' precision (`"float32"`,
      `"bfloat16"`, `"float16"`), or `None` for the run's (config.json).
      The checkpoints are the same in every precision.

  Returns:
    A `Run`.

  Raises:
    FileNotFoundError: no `config.json`, no checkpoint, or a `checkpoint`
      that does not exist.
    ValueError: a corrupted `config.json`; `CheckpointError` (a
      `ValueError`) for a truncated or corrupted checkpoint, or one that
      does not match the config's architecture.
  """
  config = read_config(model_dir)
  config_path = os.path.join(model_dir, CONFIG_FILE)
  flow_config, optimization = run_records(config, config_path)
  if network_dtype is not None:
    flow_config = dataclasses.replace(flow_config,
                                      network_dtype=network_dtype)
  if checkpoint is None:
    paths = checkpoint_paths(model_dir)
    if not paths:
      raise FileNotFoundError(
          f"No checkpoint in `model_dir`={model_dir!r} (looked in "
          f"{os.path.join(model_dir, CHECKPOINT_SUBDIR)}); train first.")
    checkpoint = paths[0]
  elif not tf.io.gfile.exists(f"{checkpoint}.index"):
    raise FileNotFoundError(
        f"`checkpoint`={checkpoint!r} does not exist (no "
        f"{checkpoint}.index); the run's checkpoints: "
        f"{checkpoint_paths(model_dir) or 'none'}.")
  verify_checkpoint(checkpoint)
  try:
    model = FlowModel(flow_config.make_flow(),
                      ema_decay=optimization.ema_decay)
  except ValueError as err:
    raise ValueError(f"{config_path}: {err}") from None
  try:
    # The optimizer's state is in the checkpoint too; loading skips it.
    make_checkpoint(model).restore(
        checkpoint).expect_partial().assert_existing_objects_matched()
  except (AssertionError, ValueError) as err:
    # A ValueError: a variable of another shape, e.g. a run of tfnvp 0.2,
    # whose channel couplings' networks saw all channels.
    raise CheckpointError(
        f"checkpoint {checkpoint} does not match the architecture in "
        f"{config_path} (a run of another tfnvp version?): "
        f"{str(err)[:300]}") from None
  if averaged:
    model.assign_averaged_weights()
  return Run(model, config, checkpoint)
