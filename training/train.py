r"""Trains a Real NVP or Glow model on a TFDS image dataset with Keras `fit`.

```
tfnvp-train --dataset mnist --model-dir runs/mnist --epochs 10
tfnvp-train --preset realnvp-cifar10 --model-dir runs/cifar10 --epochs 100
python -m tfnvp.training.train ...            # the same, from a checkout
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
import dataclasses
import os
import signal
import sys

import keras
import tensorflow as tf

import tfnvp
from tfnvp import FlowModel
from tfnvp import data
from tfnvp import presets
from tfnvp import runs
from tfnvp.flows import FlowConfig

from ..export import cli
from . import callbacks as callbacks_lib
from . import checkpoints
from . import cluster
from . import config as config_lib
from . import flags
from . import history
from . import lock
from . import preemption
from . import strategies

__all__ = ["ALIASES", "HISTORY_FILE", "TrainingFailedError", "build_parser",
           "config_from_args", "distributed_dataset", "main", "train"]

HISTORY_FILE = history.HISTORY_FILE
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
  batch_size = config.optimization.batch_size
  steps = num_examples // batch_size
  if steps < 1:
    raise ValueError(
        f"`batch_size`={batch_size} is larger than the {num_examples} "
        "training examples; lower it or set `steps_per_epoch`.")
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
           "batch_size": (saved.optimization.batch_size,
                          config.optimization.batch_size),
           "ema_decay": (saved.optimization.ema_decay,
                         config.optimization.ema_decay)}
  differ = {k: v for k, v in fixed.items() if v[0] != v[1]}
  if differ and runs.checkpoint_paths(model_dir):
    details = "; ".join(f"{k}: saved {a!r}, now {b!r}"
                        for k, (a, b) in differ.items())
    raise ValueError(
        f"`model_dir`={model_dir!r} holds a run with other settings "
        f"({details}). Use a new `model_dir`, or the saved settings to "
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
    ValueError: bad settings (a class-conditional model of another number
      of classes than the dataset's labels, or of a dataset without
      labels), a `model_dir` holding another run, or one holding a history
      but no checkpoint.
    FileNotFoundError: a missing raw data folder.
    TrainingFailedError: a step with NaN/inf data, loss or gradients
      (divergence); the newest checkpoint is the last good state.
    training.preemption.TrainingStopped: SIGTERM or SIGINT (in the main
      thread; under multi-worker, to any worker) stopped training after a
      step, whose checkpoint is saved.
    lock.ModelDirInUseError: another run holds `model_dir` (`training.lock`);
      nothing was written.
    cluster.WorkerLostError: another worker of a multi-worker run stopped.
  """
  strategy = strategy or strategies.make_strategy(config.strategy)
  if config.model.num_classes is not None:
    _check_num_classes(config, data_dir)
  with cluster.report_lost_workers(strategy, model_dir), lock.hold(
      model_dir, strategy):
    return _train(config, model_dir, strategy, data_dir, raw_data_dir,
                  verbose, extra_callbacks)


def _train(config, model_dir, strategy, data_dir, raw_data_dir, verbose,
           extra_callbacks):
  """`train`, with `model_dir` held."""
  chief = strategies.is_chief(strategy)
  spec = data.get_spec(config.dataset)
  if config.model.image_shape != spec.image_shape:
    raise ValueError(
        f"The model's image_shape {config.model.image_shape} differs from "
        f"{config.dataset}'s {spec.image_shape}.")
  _check_resumable(config, model_dir)
  history.check_restartable(model_dir)
  builder = data.prepare(config.dataset, data_dir=data_dir,
                         raw_data_dir=raw_data_dir)
  labelled = config.model.num_classes is not None
  steps_per_epoch = _steps_per_epoch(config, builder)
  total_steps = config.epochs * steps_per_epoch

  keras.utils.set_random_seed(config.seed)
  with strategy.scope():
    model = FlowModel(config.model.make_flow(),
                      **config.optimization.model_kwargs())
    model.compile(
        optimizer=config.optimization.make_optimizer(total_steps),
        jit_compile=config.jit_compile)
    model.optimizer.build(model.trainable_variables)
  # The record of the flow built: its network precision resolved.
  config = dataclasses.replace(config, model=model.flow_config)
  if chief:
    config_lib.save_config(config, model_dir)
  progress = callbacks_lib.RunProgress([m.name for m in model.metrics],
                                       steps_per_epoch)
  checkpointer = checkpoints.Checkpointer(model, model_dir, strategy,
                                          extra=progress.variables)
  restored = checkpointer.restore_latest()
  start_step = checkpointer.step
  if restored:
    print(f"Resuming from {restored} (step {start_step} of {total_steps}).")
  if chief:
    dropped = history.truncate(model_dir, start_step, steps_per_epoch)
    if dropped:
      print(dropped)
  progress.resume(start_step, history.elapsed_seconds(model_dir))
  if start_step >= total_steps:
    print(f"Nothing to do: step {start_step} >= {total_steps} "
          "(epochs x steps per epoch).")
    return model

  def pipeline(split, training, skip_steps=0, **options):
    """A distributed input of `split` (see `data.make_dataset`)."""
    return distributed_dataset(strategy, lambda ctx: data.make_dataset(
        config.dataset, split, config.optimization.batch_size,
        training=training, labels=labelled,
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

  def before_save():
    recalibration.recalibrate()
    progress.record()

  train_subset = pipeline(
      spec.train_split, False, num_examples=config.num_eval_examples or
      builder.info.splits[spec.eval_split].num_examples)
  # Those that add to an epoch's logs come before those that write them.
  run_callbacks = [recalibration, progress,
                   callbacks_lib.TrainSubsetEvaluation(train_subset)]
  if chief:
    log_dir = os.path.join(model_dir, history.LOG_SUBDIR)
    sample_grid = callbacks_lib.SampleGrid(
        os.path.join(model_dir, history.SAMPLES_SUBDIR), log_dir=log_dir,
        temperature=config.sample_temperature, seed=config.seed)
    # The grid adds `sample_nonfinite_fraction` to the logs the next two
    # write.
    run_callbacks += [
        sample_grid,
        keras.callbacks.TensorBoard(log_dir, update_freq="epoch"),
        keras.callbacks.CSVLogger(os.path.join(model_dir, HISTORY_FILE),
                                  append=True)]
  # A checkpoint at an epoch's end follows the epoch's logs; the stop on a
  # signal follows everything.
  stop = preemption.StopOnSignal(strategy, total_steps)
  run_callbacks += [
      callbacks_lib.CheckpointEvery(checkpointer, config.checkpoint_every,
                                    before_save=before_save),
      *extra_callbacks, stop]

  # An interrupted epoch is finished first; whole epochs follow.
  epoch, done = divmod(start_step, steps_per_epoch)
  segments = []
  if done:
    segments.append((epoch, epoch + 1, steps_per_epoch - done))
    epoch += 1
  if epoch < config.epochs:
    segments.append((epoch, config.epochs, steps_per_epoch))
  try:
    with stop:
      try:
        for first_epoch, end_epoch, steps in segments:
          model.fit(train_data(checkpointer.step), initial_epoch=first_epoch,
                    epochs=end_epoch, steps_per_epoch=steps,
                    validation_data=validation, callbacks=run_callbacks,
                    shuffle=False, verbose=verbose)  # the input is shuffled
      except preemption.StopRequested as request:
        # As at the end of `fit`: the checkpoint of this step is saved, the
        # logs are closed.
        for callback in run_callbacks:
          callback.on_train_end()
        _leave_together(strategy)
        raise request.stopped(checkpointer.step, total_steps,
                              checkpointer.saved_path) from None
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
  _leave_together(strategy)
  return model


def _check_num_classes(config, data_dir):
  """Refuses a class-conditional model whose classes are not its dataset's."""
  classes = data.num_classes(config.dataset, data_dir=data_dir)
  if config.model.num_classes != classes:
    raise ValueError(
        f"`num_classes`={config.model.num_classes} differs from the "
        f"{classes} classes of {config.dataset}'s labels (`num_classes` "
        "auto takes them from the dataset).")


def _leave_together(strategy):
  """Under multi-worker, waits for every worker to get here: a worker that
  exits while the chief still writes makes the coordination service abort
  the chief."""
  if strategies.is_multi_worker(strategy):
    strategies.sum_over_replicas(strategy, 1.0)


# tfnvp 0.3's spellings.
ALIASES = (
    flags.Alias("--conv1x1", "lu_decomposed", {"lu": True, "plain": False},
                "--lu-decomposed/--no-lu-decomposed"),
    flags.Alias("--prior", "learn_prior", {"learned": True,
                                           "standard": False},
                "--learn-prior/--no-learn-prior"),
    flags.Alias("--mixed-precision", "network_dtype",
                {"off": "float32", "bfloat16": "bfloat16",
                 "float16": "float16"}, "--network-dtype"),
    flags.Alias("--num-scales", "num_levels", None, "--num-levels for Glow",
                source="num_scales", model="glow"),
)


def _flat(config):
  """A `TrainConfig`'s fields, its records' included, by name."""
  fields = {f.name: getattr(config, f.name)
            for f in dataclasses.fields(config)}
  fields.update(config.model.kwargs(), **config.optimization.to_dict())
  return fields


def _defaults(names):
  """The help's default of each field: one value, or one per model."""
  per_model = {model: _flat(config_lib.from_values({}, (28, 28, 1),
                                                   model=model))
               for model in FlowConfig.models()}
  texts = {}
  for name in names:
    values = {model: fields[name] for model, fields in per_model.items()
              if name in fields}
    texts[name] = (f"{next(iter(values.values()))}, or the preset's"
                   if len(set(map(repr, values.values()))) == 1 else
                   ", ".join(f"{value} for {model}"
                             for model, value in values.items()))
  return texts


def build_parser():
  """The command line of `tfnvp-train` (`python -m tfnvp.training.train`).

  The model, optimization and run flags are generated from the fields of
  `tfnvp.RealNVPConfig`, `tfnvp.GlowConfig`, `tfnvp.OptimizationConfig`
  and `TrainConfig` (`training.flags`).
  """
  parser = cli.ArgumentParser(
      prog="tfnvp-train",
      description="Train a Real NVP or Glow model on a TFDS image dataset. "
      "With --preset, the paper's architecture and optimization for a "
      "dataset; any flag given beside it overrides the preset's value.")
  records = [FlowConfig.get(model) for model in FlowConfig.models()]
  add = parser.add_argument
  add("--model-dir", required=True,
      help="folder of the run: config, checkpoints, logs, samples")
  add("--preset", default=None, choices=sorted(presets.PRESETS),
      help="a configuration of the Real NVP or Glow paper (tfnvp.presets)")
  add("--model", default=argparse.SUPPRESS, choices=FlowConfig.models(),
      help="the flow (default: realnvp, or the preset's)")
  groups = [
      ("run", None, [config_lib.TrainConfig]),
      ("model", "fields of tfnvp.RealNVPConfig and tfnvp.GlowConfig; a "
       "field of one model only is an error with the other", records),
      ("optimization", "fields of tfnvp.OptimizationConfig",
       [tfnvp.OptimizationConfig])]
  for title, description, classes in groups:
    fields = [f for cls in classes for f in dataclasses.fields(cls)]
    owners = {f.name: [cls.flow_class.__name__ for cls in classes
                       if f.name in {g.name for g in dataclasses.fields(cls)}]
              for f in fields} if classes is records else {}
    flags.add_record_flags(
        parser.add_argument_group(title, description), fields,
        _defaults([f.name for f in fields]),
        {name: f"{names[0]}:" for name, names in owners.items()
         if len(names) == 1}, words=_WORDS)
  for alias in ALIASES:
    if alias.source is None:
      flags.add_alias(parser, alias)
  cli.add_data_flags(parser)
  add("--verbose", default="auto", choices=("auto", "0", "1", "2"),
      help="Keras progress output "
      "(default: %(default)s)")
  return parser


# Values of a field's flag that the command line resolves.
_WORDS = {"num_classes": (("auto", "the classes of the dataset's label"),)}

# Flags that are not config fields.
_NOT_FIELDS = ("model_dir", "preset", "model", "raw_data_dir", "data_dir",
               "verbose")


def config_from_args(args):
  """The `TrainConfig` of parsed flags (raises ValueError on bad values).

  Defaults, then the model's `config.RECIPES` entry, then the preset's
  values, then the flags given explicitly. A deprecated spelling prints a
  warning once the config is valid.
  """
  preset = presets.get_preset(args.preset) if args.preset else None
  model = getattr(args, "model", None)
  resolved = model or (preset.model.class_name.lower() if preset
                       else "realnvp")
  given, warnings = flags.given_values(args, ALIASES, resolved)
  given = {k: v for k, v in given.items() if k not in _NOT_FIELDS}
  dataset = given.get("dataset") or (
      preset.dataset if preset else config_lib.TrainConfig.dataset)
  if given.get("num_classes") == "auto":
    given["num_classes"] = data.num_classes(dataset, data_dir=args.data_dir)
  config = config_lib.from_values(
      given, data.get_spec(dataset).image_shape, preset=preset, model=model)
  for line in warnings:
    print(line, file=sys.stderr)
  return config


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
  except (TrainingFailedError, cluster.WorkerLostError) as err:
    print(f"error: {err}", file=sys.stderr)
    return 1
  except preemption.TrainingStopped as stopped:
    if sys.stdout.isatty():
      print()  # ends Keras's progress bar
    print(stopped, file=sys.stderr)
    return stopped.exit_status
  except KeyboardInterrupt:
    # SIGINT before training, or a second one while stopping.
    print(f"Interrupted: stopped at once. Any checkpoint in "
          f"{args.model_dir} is intact; rerun the same command to resume.",
          file=sys.stderr)
    return 128 + signal.SIGINT
  print(f"Done. Model, checkpoints and samples in {args.model_dir}; "
        f"config: {config.to_dict()}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
