r"""Trains a Real NVP or Glow model on a TFDS image dataset with Keras `fit`.

```
python -m training.train --dataset mnist --model-dir runs/mnist \
    --epochs 10 --batch-size 64
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

import argparse
import csv
import dataclasses
import os
import sys

import keras
import tensorflow as tf

from training import callbacks as callbacks_lib
from training import checkpoints
from training import config as config_lib
from training import data
from training import strategies
from training.model import FlowModel

__all__ = ["TrainingFailedError", "build_parser", "config_from_args",
           "distributed_dataset", "main", "train"]

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
  fixed = {"dataset": (saved.dataset, config.dataset),
           "model": (saved.model, config.model),
           "seed": (saved.seed, config.seed),
           "batch_size": (saved.batch_size, config.batch_size)}
  differ = {k: v for k, v in fixed.items() if v[0] != v[1]}
  if differ and checkpoints.latest_checkpoint(model_dir):
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
      (see `training.data.resolve_raw_data_dir`).
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
  if chief:
    config_lib.save_config(config, model_dir)

  keras.utils.set_random_seed(config.seed)
  with strategy.scope():
    model = FlowModel(config.model, l2=config.l2, clip_norm=config.clip_norm)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  jit_compile=config.jit_compile)
    model.optimizer.build(model.trainable_variables)
  checkpointer = checkpoints.Checkpointer(model, model_dir, strategy)
  restored = checkpointer.restore_latest()
  start_step = checkpointer.step
  if restored:
    print(f"Resuming from {restored} (step {start_step} of {total_steps}).")
  if start_step >= total_steps:
    print(f"Nothing to do: step {start_step} >= {total_steps} "
          "(--epochs x --steps-per-epoch).")
    return model

  def train_data(skip_steps):
    return distributed_dataset(strategy, lambda ctx: data.make_dataset(
        config.dataset, spec.train_split, config.batch_size, training=True,
        data_dir=data_dir, raw_data_dir=raw_data_dir, seed=config.seed,
        input_context=ctx, num_examples=config.num_train_examples),
                               skip_steps)

  validation = distributed_dataset(strategy, lambda ctx: data.make_dataset(
      config.dataset, spec.eval_split, config.batch_size, training=False,
      data_dir=data_dir, raw_data_dir=raw_data_dir, input_context=ctx,
      num_examples=config.num_eval_examples))

  run_callbacks = [
      callbacks_lib.CheckpointEvery(checkpointer, config.checkpoint_every),
      callbacks_lib.ElapsedTime(_previous_elapsed_seconds(model_dir))]
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
    latest = checkpoints.latest_checkpoint(model_dir)
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


def build_parser():
  """The command line of `python -m training.train`."""
  defaults = config_lib.TrainConfig()
  model_defaults = defaults.model
  parser = argparse.ArgumentParser(
      prog="python -m training.train",
      description="Train a Real NVP or Glow model on a TFDS image dataset.",
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  add = parser.add_argument
  add("--dataset", default=defaults.dataset,
      help=f"TFDS name, one of: {', '.join(sorted(data.DATASETS))}")
  add("--model-dir", required=True,
      help="folder of the run: config, checkpoints, logs, samples")
  add("--model", default=model_defaults.name, choices=config_lib.MODELS)
  add("--num-scales", type=int, default=model_defaults.num_scales,
      help="scales (Real NVP) or levels (Glow)")
  add("--hidden-channels", type=int, default=model_defaults.hidden_channels)
  add("--num-res-blocks", type=int, default=model_defaults.num_res_blocks,
      help="Real NVP: residual blocks per coupling network")
  add("--depth", type=int, default=model_defaults.depth,
      help="Glow: steps (actnorm, 1x1 conv, coupling) per level")
  add("--coupling", default=model_defaults.coupling,
      choices=config_lib.COUPLINGS, help="Glow: coupling type")
  add("--conv1x1", default="lu", choices=("lu", "plain"),
      help="Glow: parameterization of the invertible 1x1 convolutions")
  add("--prior", default="learned", choices=("learned", "standard"),
      help="Glow: prior of the halves factored out at each split")
  add("--batch-size", type=int, default=defaults.batch_size,
      help="global batch size, split over all replicas")
  add("--epochs", type=int, default=defaults.epochs)
  add("--steps-per-epoch", type=int, default=None,
      help="default: one pass over the training examples")
  add("--learning-rate", type=float, default=defaults.learning_rate)
  add("--l2", type=float, default=defaults.l2,
      help="L2 penalty on weight-norm scales and tanh scales (Real NVP; "
      "Glow has neither)")
  add("--clip-norm", type=float, default=defaults.clip_norm,
      help="gradient clipping by global norm; 0 disables it")
  add("--strategy", default=defaults.strategy, choices=config_lib.STRATEGIES)
  add("--checkpoint-every", type=int, default=defaults.checkpoint_every,
      help="optimizer steps between checkpoints")
  add("--sample-temperature", type=float,
      default=defaults.sample_temperature)
  add("--num-train-examples", type=int, default=None,
      help="use only the first N training examples")
  add("--num-eval-examples", type=int, default=None,
      help="validate on the first N test examples")
  add("--jit-compile", action="store_true",
      help="XLA (single-device runs)")
  add("--seed", type=int, default=defaults.seed)
  add("--raw-data-dir", default=None,
      help="folder of original dataset files for offline TFDS preparation "
      f"(default: ${data.RAW_DATA_DIR_ENV}, else ../shared/data if present, "
      "else TFDS downloads)")
  add("--data-dir", default=None, help="TFDS data folder")
  add("--verbose", default="auto", choices=("auto", "0", "1", "2"),
      help="Keras progress output")
  return parser


def config_from_args(args):
  """The `TrainConfig` of parsed flags (raises ValueError on bad values)."""
  spec = data.get_spec(args.dataset)
  model = config_lib.ModelConfig(
      name=args.model, image_shape=spec.image_shape,
      num_scales=args.num_scales, hidden_channels=args.hidden_channels,
      num_res_blocks=args.num_res_blocks, depth=args.depth,
      coupling=args.coupling, lu_decomposed=args.conv1x1 == "lu",
      learn_prior=args.prior == "learned")
  return config_lib.TrainConfig(
      dataset=args.dataset, model=model, batch_size=args.batch_size,
      epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
      learning_rate=args.learning_rate, l2=args.l2,
      clip_norm=args.clip_norm or None, strategy=args.strategy,
      seed=args.seed, checkpoint_every=args.checkpoint_every,
      sample_temperature=args.sample_temperature,
      num_train_examples=args.num_train_examples,
      num_eval_examples=args.num_eval_examples,
      jit_compile=args.jit_compile)


def main(argv=None):
  parser = build_parser()
  args = parser.parse_args(argv)
  try:
    config = config_from_args(args)
    # Before any other TF op: multi-worker collectives are set up here.
    strategy = strategies.make_strategy(config.strategy)
  except ValueError as err:
    parser.error(str(err))
  try:
    train(config, args.model_dir, strategy=strategy, data_dir=args.data_dir,
          raw_data_dir=args.raw_data_dir,
          verbose=args.verbose if args.verbose == "auto" else int(
              args.verbose))
  except (ValueError, FileNotFoundError) as err:
    parser.error(str(err))
  except TrainingFailedError as err:
    print(f"error: {err}", file=sys.stderr)
    return 1
  print(f"Done. Model, checkpoints and samples in {args.model_dir}; "
        f"config: {dataclasses.asdict(config)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
