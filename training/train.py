r"""Trains a Real NVP or Glow model on a TFDS image dataset with Keras `fit`.

```
tfnvp-train --dataset mnist --model-dir runs/mnist --epochs 10
tfnvp-train --preset realnvp-cifar10 --model-dir runs/cifar10 --epochs 100
python -m training.train ...            # the same, from a checkout
```

The run's folder gets `config.json` (the typed `TrainConfig`),
`checkpoints/` (every `--checkpoint-every` steps; a rerun of the same
command resumes from the newest), `logs/` (TensorBoard scalars and sample
grids), `samples/epoch-<k>.png`, `history.csv` and, at the end,
`samples.png`.

Resuming replays the input pipeline up to the checkpoint's step (without
running the model), so an interrupted run sees the same batches in the same
order as an uninterrupted one and ends with the same weights, up to the
float nondeterminism of the hardware.
"""

import csv
import dataclasses
import os
import sys

import keras
import tensorflow as tf

from tfnvp import FlowModel
from tfnvp import ModelConfig
from tfnvp import cli
from tfnvp import presets
from tfnvp import runs
from tfnvp.config import COUPLINGS
from tfnvp.config import MODELS

from . import callbacks as callbacks_lib
from . import checkpoints
from . import config as config_lib
from tfnvp import data
from . import schedules
from . import strategies

__all__ = ["TrainingFailedError", "build_parser", "config_from_args",
           "distributed_dataset", "main", "make_optimizer", "train"]

HISTORY_FILE = "history.csv"
FINAL_SAMPLES = "samples.png"


class TrainingFailedError(RuntimeError):
  """A step failed its checks (NaN/inf data, loss or gradients).

  No weight was updated by that step and the newest checkpoint predates it.
  """


def _steps_per_epoch(config, builder):
  if config.steps_per_epoch:
    return config.steps_per_epoch
  spec = data.get_spec(config.dataset)
  available = builder.info.splits[spec.train_split].num_examples
  num_examples = min(config.num_train_examples or available, available)
  steps = num_examples // config.batch_size
  if steps < 1:
    raise ValueError(
        f"--batch-size={config.batch_size} is larger than the "
        f"{num_examples} training examples; lower it or set "
        "--steps-per-epoch.")
  return steps


def distributed_dataset(strategy, make, skip_steps=0):
  """The input of `fit` or `evaluate` under `strategy`.

  `make(input_context)` builds one input pipeline (`input_context` is None
  for a single device) yielding per-replica batches. The first `skip_steps`
  global steps are dropped, so that a resumed run continues the training
  stream where the checkpoint left it.
  """
  if strategy.num_replicas_in_sync == 1 and not isinstance(
      strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return make(None).skip(skip_steps)

  def dataset_fn(input_context):
    per_pipeline = (input_context.num_replicas_in_sync //
                    input_context.num_input_pipelines)
    return make(input_context).skip(skip_steps * per_pipeline)

  return strategy.distribute_datasets_from_function(dataset_fn)


def make_optimizer(config, total_steps):
  """The Keras optimizer of a `TrainConfig` (Adam or Adamax) on its schedule.

  Args:
    config: a `training.config.TrainConfig`.
    total_steps: the run's optimizer steps (`epochs` x steps per epoch),
      where the learning-rate decay ends.

  Raises:
    ValueError: for a schedule argument out of range.
  """
  rate = schedules.WarmupDecaySchedule(
      config.learning_rate, config.warmup_steps, total_steps,
      decay=config.lr_schedule, final_fraction=config.lr_final_fraction)
  if config.optimizer == "adamax":
    return keras.optimizers.Adamax(rate)
  return keras.optimizers.Adam(rate)


def _previous_elapsed_seconds(model_dir):
  path = os.path.join(model_dir, HISTORY_FILE)
  if not os.path.exists(path):
    return 0.0
  with open(path, encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  return float(rows[-1]["elapsed_seconds"]) if rows else 0.0


def _check_resumable(config, model_dir):
  """A rerun must train the same model on the same data as the saved run."""
  if not os.path.exists(os.path.join(model_dir, config_lib.CONFIG_FILE)):
    return
  saved = config_lib.load_config(model_dir)
  # The checkpoints hold a Polyak average of the weights, or none.
  # The precision of the networks may change: the variables are float32.
  fixed = {"dataset": (saved.dataset, config.dataset),
           "model": (dataclasses.replace(saved.model, network_dtype=None),
                     dataclasses.replace(config.model, network_dtype=None)),
           "seed": (saved.seed, config.seed),
           "batch_size": (saved.batch_size, config.batch_size),
           "ema_decay": (saved.ema_decay or None, config.ema_decay or None)}
  differ = {k: v for k, v in fixed.items() if v[0] != v[1]}
  if differ and runs.checkpoint_paths(model_dir):
    details = "; ".join(f"{k}: saved {a!r}, now {b!r}"
                        for k, (a, b) in differ.items())
    raise ValueError(
        f"--model-dir={model_dir!r} holds a run with other settings "
        f"({details}). Use a new --model-dir, or the saved settings to "
        "resume it.")


def train(config, model_dir, *, strategy=None, data_dir=None,
          raw_data_dir=None, verbose="auto", extra_callbacks=()):
  """Trains (or resumes) the run `config` in `model_dir`.

  Args:
    config: a `training.config.TrainConfig`.
    model_dir: the run's folder (created if needed).
    strategy: the `tf.distribute` strategy; None makes the one
      `config.strategy` names (which must then happen before other TF ops).
    data_dir: TFDS data folder; None for TFDS's default.
    raw_data_dir: folder of original dataset files for offline preparation
      (see `tfnvp.data.resolve_raw_data_dir`).
    verbose: Keras `fit` verbosity.
    extra_callbacks: more Keras callbacks.

  Returns:
    The trained `FlowModel`.

  Raises:
    ValueError: bad settings, or a `model_dir` holding another run.
    FileNotFoundError: a missing raw data folder.
    TrainingFailedError: a step with NaN/inf data, loss or gradients
      (divergence); the newest checkpoint is the last good state.
  """
  strategy = strategy or strategies.make_strategy(config.strategy)
  chief = strategies.is_chief(strategy)
  spec = data.get_spec(config.dataset)
  if tuple(config.model.image_shape) != spec.image_shape:
    raise ValueError(
        f"The model's image_shape {config.model.image_shape} differs from "
        f"{config.dataset}'s {spec.image_shape}.")
  _check_resumable(config, model_dir)
  builder = data.prepare(config.dataset, data_dir=data_dir,
                         raw_data_dir=raw_data_dir)
  steps_per_epoch = _steps_per_epoch(config, builder)
  total_steps = config.epochs * steps_per_epoch

  keras.utils.set_random_seed(config.seed)
  with strategy.scope():
    model = FlowModel(config.model.make_flow(), l2=config.l2,
                      clip_norm=config.clip_norm, ema_decay=config.ema_decay)
    model.compile(optimizer=make_optimizer(config, total_steps),
                  jit_compile=config.jit_compile)
    model.optimizer.build(model.trainable_variables)
  if chief:
    config_lib.save_config(config, model_dir)
  checkpointer = checkpoints.Checkpointer(model, model_dir, strategy)
  restored = checkpointer.restore_latest()
  start_step = checkpointer.step
  if restored:
    print(f"Resuming from {restored} (step {start_step} of {total_steps}).")
  if start_step >= total_steps:
    print(f"Nothing to do: step {start_step} >= {total_steps} "
          "(--epochs x --steps-per-epoch).")
    return model

  def pipeline(split, training, skip_steps=0, **options):
    """A distributed input of `split` (see `data.make_dataset`)."""
    return distributed_dataset(strategy, lambda ctx: data.make_dataset(
        config.dataset, split, config.batch_size, training=training,
        data_dir=data_dir, raw_data_dir=raw_data_dir, input_context=ctx,
        **options), skip_steps)

  def train_data(skip_steps):
    return pipeline(spec.train_split, True, skip_steps, seed=config.seed,
                    num_examples=config.num_train_examples)

  validation = pipeline(spec.eval_split, False,
                        num_examples=config.num_eval_examples)

  def recalibration_data(step):
    # Seeded by the step, so that a resumed run re-estimates the statistics
    # from the same batches as an uninterrupted one.
    return iter(pipeline(spec.train_split, True, seed=config.seed + 1 + step,
                         num_examples=config.num_train_examples))

  recalibration = callbacks_lib.RecalibrateMovingStatistics(
      recalibration_data, config.bn_recalibration_batches, checkpointer)
  train_subset = pipeline(
      spec.train_split, False, num_examples=config.num_eval_examples or
      builder.info.splits[spec.eval_split].num_examples)
  run_callbacks = [
      recalibration,
      callbacks_lib.CheckpointEvery(checkpointer, config.checkpoint_every,
                                    before_save=recalibration.recalibrate),
      callbacks_lib.ElapsedTime(_previous_elapsed_seconds(model_dir)),
      callbacks_lib.TrainSubsetEvaluation(train_subset)]
  if chief:
    log_dir = os.path.join(model_dir, "logs")
    sample_grid = callbacks_lib.SampleGrid(
        os.path.join(model_dir, "samples"), log_dir=log_dir,
        temperature=config.sample_temperature, seed=config.seed)
    # The grid adds `sample_nonfinite_fraction` to the logs the next two
    # write.
    run_callbacks += [
        sample_grid,
        keras.callbacks.TensorBoard(log_dir, update_freq="epoch"),
        keras.callbacks.CSVLogger(os.path.join(model_dir, HISTORY_FILE),
                                  append=True)]
  run_callbacks += list(extra_callbacks)

  # An interrupted epoch is finished first; whole epochs follow.
  epoch, done = divmod(start_step, steps_per_epoch)
  segments = []
  if done:
    segments.append((epoch, epoch + 1, steps_per_epoch - done))
    epoch += 1
  if epoch < config.epochs:
    segments.append((epoch, config.epochs, steps_per_epoch))
  try:
    for first_epoch, end_epoch, steps in segments:
      model.fit(train_data(checkpointer.step), initial_epoch=first_epoch,
                epochs=end_epoch, steps_per_epoch=steps,
                validation_data=validation, callbacks=run_callbacks,
                shuffle=False, verbose=verbose)  # the input is shuffled
  except tf.errors.InvalidArgumentError as err:
    latest = checkpoints.latest_intact_checkpoint(model_dir)[0]
    raise TrainingFailedError(
        f"{err.message.strip()}\nTraining stopped at optimizer step "
        f"{checkpointer.step}; the newest checkpoint, {latest}, was written "
        "before the failure and is intact.") from err
  if chief:
    # The weights have not changed since the last epoch's grid.
    callbacks_lib.write_png(os.path.join(model_dir, FINAL_SAMPLES),
                            sample_grid.last_grid)
  if strategies.is_multi_worker(strategy):
    # Leave together: a worker that exits while the chief still writes makes
    # the coordination service abort the chief.
    strategy.reduce(tf.distribute.ReduceOp.SUM,
                    strategy.run(lambda: tf.constant(1.0)), axis=None)
  return model


# Flags a preset (and, for `_TRAIN_FLAGS`, `config.RECIPES`) sets; given
# beside `--preset` they override it. Their parser default is None so that a
# given flag can be told from a default.
_MODEL_FLAGS = {"model": "name", "num_scales": "num_scales",
                "hidden_channels": "hidden_channels",
                "num_res_blocks": "num_res_blocks", "depth": "depth",
                "coupling": "coupling"}
# `TrainConfig` field: (help, `add_argument` options) of its flag.
_TRAIN_FLAGS = {
    "batch_size": ("global batch size, split over all replicas",
                   dict(type=cli.positive_int)),
    "optimizer": ("", dict(choices=config_lib.OPTIMIZERS)),
    "learning_rate": ("", dict(type=cli.positive_float)),
    "warmup_steps": ("linear learning-rate warm-up over this many optimizer "
                     "steps", dict(type=cli.nonnegative_int)),
    "lr_schedule": ("learning rate after the warm-up: constant, or a cosine "
                    "or exponential decay to --lr-final-fraction x "
                    "--learning-rate at the last step (--epochs x "
                    "--steps-per-epoch)",
                    dict(choices=config_lib.LR_SCHEDULES)),
    "lr_final_fraction": ("final learning rate of a decay over "
                          "--learning-rate, in (0, 1]",
                          dict(type=cli.positive_float)),
    "ema_decay": ("Polyak averaging: decay in [0, 1) of the moving average "
                  "of the weights that validation, samples, tfnvp-evaluate "
                  "and tfnvp-export use; 0 disables it",
                  dict(type=cli.nonnegative_float)),
    "bn_recalibration_batches": (
        "Real NVP: re-estimate the moving batch-norm statistics over this "
        "many training batches before every validation and checkpoint; 0 "
        "keeps the moving averages", dict(type=cli.nonnegative_int)),
    "l2": ("L2 penalty on weight-norm scales and tanh scales (Real NVP; "
           "Glow has neither)", dict(type=cli.nonnegative_float)),
    "clip_norm": ("gradient clipping by global norm; 0 disables it",
                  dict(type=cli.nonnegative_float)),
}


def build_parser():
  """The command line of `tfnvp-train` (`python -m training.train`)."""
  defaults = config_lib.TrainConfig()
  model_defaults = defaults.model
  parser = cli.ArgumentParser(
      prog="tfnvp-train",
      description="Train a Real NVP or Glow model on a TFDS image dataset. "
      "With --preset, the paper's architecture and optimization for a "
      "dataset; any flag given beside it overrides the preset's value.")
  add = parser.add_argument

  def default(value):
    return f"(default: {value}, or the preset's)"

  add("--preset", default=None, choices=sorted(presets.PRESETS),
      help="a configuration of the Real NVP or Glow paper (tfnvp.presets)")
  add("--dataset", default=None,
      help=f"TFDS name, one of: {', '.join(sorted(data.DATASETS))} "
      f"{default(defaults.dataset)}")
  add("--model-dir", required=True,
      help="folder of the run: config, checkpoints, logs, samples")
  add("--model", default=None, choices=MODELS,
      help=default(model_defaults.name))
  add("--num-scales", type=cli.positive_int, default=None,
      help="scales (Real NVP) or levels (Glow) "
      f"{default(model_defaults.num_scales)}")
  add("--hidden-channels", type=cli.positive_int, default=None,
      help=default(model_defaults.hidden_channels))
  add("--num-res-blocks", type=cli.nonnegative_int, default=None,
      help="Real NVP: residual blocks per coupling network "
      f"{default(model_defaults.num_res_blocks)}")
  add("--depth", type=cli.positive_int, default=None,
      help="Glow: steps (actnorm, 1x1 conv, coupling) per level "
      f"{default(model_defaults.depth)}")
  add("--coupling", default=None, choices=COUPLINGS,
      help=f"Glow: coupling type {default(model_defaults.coupling)}")
  add("--conv1x1", default=None, choices=("lu", "plain"),
      help="Glow: parameterization of the invertible 1x1 convolutions "
      "(default: lu, or the preset's)")
  add("--prior", default=None, choices=("learned", "standard"),
      help="Glow: prior of the halves factored out at each split "
      "(default: learned, or the preset's)")
  add("--epochs", type=cli.positive_int, default=defaults.epochs,
      help="(default: %(default)s)")
  add("--steps-per-epoch", type=cli.positive_int, default=None,
      help="(default: one pass over the training examples)")
  for field, (description, options) in _TRAIN_FLAGS.items():
    # Each model's default: its recipe's value, else TrainConfig's.
    values = {name: recipe.get(field, getattr(defaults, field))
              for name, recipe in config_lib.RECIPES.items()}
    if len(set(values.values())) == 1:
      value = values.popitem()[1]
    else:
      value = ", ".join(f"{value} for --model {name}"
                        for name, value in values.items())
    add(config_lib.flag(field), default=None,
        help=f"{description} {default(value)}".lstrip(), **options)
  add("--strategy", default=defaults.strategy, choices=config_lib.STRATEGIES,
      help="(default: %(default)s)")
  add("--checkpoint-every", type=cli.positive_int,
      default=defaults.checkpoint_every,
      help="optimizer steps between checkpoints (default: %(default)s)")
  add("--sample-temperature", type=cli.positive_float,
      default=defaults.sample_temperature, help="(default: %(default)s)")
  add("--num-train-examples", type=cli.positive_int, default=None,
      help="use only the first N training examples")
  add("--num-eval-examples", type=cli.positive_int, default=None,
      help="validate on the first N test examples")
  add("--jit-compile", action="store_true",
      help="XLA (single-device runs)")
  add("--mixed-precision", default="off",
      choices=tuple(config_lib.MIXED_PRECISIONS),
      help="compute the coupling networks in bfloat16 or float16 (float16 "
      "with dynamic loss scaling); the flow's own arithmetic stays float32 "
      "(default: %(default)s)")
  add("--seed", type=cli.nonnegative_int, default=defaults.seed,
      help="(default: %(default)s)")
  add("--raw-data-dir", default=None,
      help="folder of original dataset files for offline TFDS preparation "
      f"(default: ${data.RAW_DATA_DIR_ENV}; unset: TFDS downloads)")
  add("--data-dir", default=None, help="TFDS data folder")
  add("--verbose", default="auto", choices=("auto", "0", "1", "2"),
      help="Keras progress output (default: %(default)s)")
  return parser


def config_from_args(args):
  """The `TrainConfig` of parsed flags (raises ValueError on bad values).

  Defaults, then the model's `config.RECIPES` entry, then the preset's
  values, then the flags given explicitly.
  """
  preset = presets.get_preset(args.preset) if args.preset else None
  model = dict(preset.model) if preset else {}
  dataset = args.dataset or (preset.dataset if preset else
                             config_lib.TrainConfig.dataset)
  for flag, field in _MODEL_FLAGS.items():
    if getattr(args, flag) is not None:
      model[field] = getattr(args, flag)
  if args.conv1x1 is not None:
    model["lu_decomposed"] = args.conv1x1 == "lu"
  if args.prior is not None:
    model["learn_prior"] = args.prior == "learned"
  model["network_dtype"] = config_lib.MIXED_PRECISIONS[
      args.mixed_precision]
  model["image_shape"] = data.get_spec(dataset).image_shape
  train = dict(config_lib.RECIPES[model.get("name", ModelConfig.name)])
  train.update(preset.train if preset else {})
  for field in _TRAIN_FLAGS:
    if getattr(args, field) is not None:
      train[field] = getattr(args, field)
  for field in ("clip_norm", "ema_decay"):   # 0 disables them
    if train.get(field) == 0:
      train[field] = None
  return config_lib.TrainConfig(
      dataset=dataset, model=ModelConfig(**model), epochs=args.epochs,
      steps_per_epoch=args.steps_per_epoch, strategy=args.strategy,
      seed=args.seed, checkpoint_every=args.checkpoint_every,
      sample_temperature=args.sample_temperature,
      num_train_examples=args.num_train_examples,
      num_eval_examples=args.num_eval_examples,
      jit_compile=args.jit_compile, preset=args.preset, **train)


def main(argv=None):
  parser = build_parser()
  args = parser.parse_args(argv)
  with cli.errors_exit(parser):
    config = config_from_args(args)
    # Before any other TF op: multi-worker collectives are set up here.
    strategy = strategies.make_strategy(config.strategy)
  try:
    with cli.errors_exit(parser):
      train(config, args.model_dir, strategy=strategy,
            data_dir=args.data_dir, raw_data_dir=args.raw_data_dir,
            verbose=args.verbose if args.verbose == "auto" else int(
                args.verbose))
  except TrainingFailedError as err:
    print(f"error: {err}", file=sys.stderr)
    return 1
  print(f"Done. Model, checkpoints and samples in {args.model_dir}; "
        f"config: {config.to_dict()}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
