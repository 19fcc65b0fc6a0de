"""Keras callbacks of a training run: checkpoints, sample grids, progress."""

import math
import os
import re
import time

import keras
import numpy as np
import tensorflow as tf

import tfnvp

__all__ = ["CheckpointEvery", "RecalibrateMovingStatistics", "RunProgress",
           "SampleGrid", "TrainSubsetEvaluation", "ends_epoch", "image_grid",
           "write_png"]


def ends_epoch(params, batch):
  """Whether `batch` (an index of Keras's `on_train_batch_end`) is the last
  step of its epoch, given a callback's `params` (one step per batch)."""
  steps = params.get("steps") if params else None
  return steps is not None and batch + 1 >= steps


class CheckpointEvery(keras.callbacks.Callback):
  """Saves a checkpoint every `every_n_steps` optimizer steps and at the end.

  Steps are counted by the optimizer, across epochs and restarts, so a run
  resumed from step `s` saves at the same steps as an uninterrupted one. A
  step that ends an epoch is saved after the epoch's end, once the epoch's
  logs (history.csv, TensorBoard, sample grid) are written: a checkpoint at
  an epoch's end always has its epoch's logs. Put it after the callbacks
  that write them. A step that is already saved (the checkpoint a run
  resumed from) is not saved again.

  Args:
    checkpointer: a `training.checkpoints.Checkpointer`.
    every_n_steps: Python `int` > 0.
    before_save: a callable run before each save, or `None`.
  """

  def __init__(self, checkpointer, every_n_steps, before_save=None):
    super().__init__()
    self.checkpointer = checkpointer
    self.every_n_steps = every_n_steps
    self.before_save = before_save

  def save(self):
    """Saves the current step unless it is saved; returns the checkpoint."""
    if self.checkpointer.saved_step != self.checkpointer.step:
      if self.before_save is not None:
        self.before_save()
      self.checkpointer.save()
    return self.checkpointer.saved_path

  def _due(self):
    return self.checkpointer.step % self.every_n_steps == 0

  def on_train_batch_end(self, batch, logs=None):
    if self._due() and not ends_epoch(self.params, batch):
      self.save()

  def on_epoch_end(self, epoch, logs=None):
    if self._due():
      self.save()

  def on_train_end(self, logs=None):
    self.save()


class RecalibrateMovingStatistics(keras.callbacks.Callback):
  """Re-estimates the moving batch-norm statistics before they are used.

  Before every evaluation (`fit`'s validation) and, through
  `CheckpointEvery(before_save=...)`, before every checkpoint, runs
  `FlowModel.recalibrate_moving_statistics` on `num_batches` training
  batches, once per optimizer step: validation, `tfnvp-evaluate` and
  `tfnvp-export` then use statistics that belong to the weights they use.

  Args:
    make_batches: a callable taking the optimizer step and returning an
      iterator over training batches (of the model's distribution
      strategy), the same for the same step.
    num_batches: Python `int >= 0`; `0` turns the callback off.
    checkpointer: the run's `training.checkpoints.Checkpointer` (its
      `step` is the optimizer step).
  """

  def __init__(self, make_batches, num_batches, checkpointer):
    super().__init__()
    self.make_batches = make_batches
    self.num_batches = num_batches
    self.checkpointer = checkpointer
    self._done_at = None

  def recalibrate(self):
    step = self.checkpointer.step
    if not self.num_batches or self._done_at == step:
      return
    batches = self.make_batches(step)
    self.model.recalibrate_moving_statistics(
        next(batches) for _ in range(self.num_batches))
    self._done_at = step

  def on_test_begin(self, logs=None):
    self.recalibrate()


class TrainSubsetEvaluation(keras.callbacks.Callback):
  """Adds `train_eval_bits_per_dim` to the epoch logs.

  The bits/dim of a fixed subset of the training images (dequantized with
  fixed noise, as the validation images are), evaluated at the end of the
  epoch with the same weights and statistics as the validation: the
  difference to `val_bits_per_dim` is the generalization gap, free of the
  lag of the epoch's running training mean (`bits_per_dim`).

  Args:
    dataset: the training subset, batched for `model.evaluate`.
  """

  def __init__(self, dataset):
    super().__init__()
    self.dataset = dataset

  def on_epoch_end(self, epoch, logs=None):
    if logs is not None:
      result = self.model.evaluate(self.dataset, verbose=0, return_dict=True)
      logs["train_eval_bits_per_dim"] = result["bits_per_dim"]


class RunProgress(keras.callbacks.Callback):
  """The run's wall time and its epoch's running means, kept in checkpoints.

  Adds `elapsed_seconds`, the wall time of training, to the epoch logs.
  `variables` (the wall time and the running mean of each metric over the
  epoch's steps so far) are meant to be saved with every checkpoint
  (`training.checkpoints.Checkpointer(extra=...)`), `record()` run before
  each save. A run resumed from a checkpoint then counts the time up to that
  checkpoint, not the time lost after it, and, resumed inside an epoch, logs
  at that epoch's end the mean over all of the epoch's steps, those before
  the checkpoint included, as an uninterrupted run does (the epoch's steps
  are of one batch size each, so the means combine by step counts).

  Args:
    metric_names: the names of the model's running means in the logs
      (`[m.name for m in model.metrics]`).
    steps_per_epoch: Python `int`, the optimizer steps of an epoch.
  """

  def __init__(self, metric_names, steps_per_epoch):
    super().__init__()
    self.metric_names = tuple(metric_names)
    self.steps_per_epoch = steps_per_epoch
    # NaN: not in the checkpoint the run resumed from (or no checkpoint).
    nan = float("nan")
    self.variables = {"elapsed_seconds": tf.Variable(nan, dtype=tf.float64)}
    self.variables.update(
        {f"epoch_mean_{name}": tf.Variable(nan, dtype=tf.float64)
         for name in self.metric_names})
    self._offset = 0.0
    self._start = None
    self._carried = {}
    self._carried_steps = 0
    self._steps = 0
    self._logs = {}

  def resume(self, step, elapsed_seconds=0.0):
    """Continues from the restored `variables` at optimizer step `step`.

    Call it once the checkpoint is restored. `elapsed_seconds` is the wall
    time to start from when the checkpoint has none (an older run's).
    """
    offset = float(self.variables["elapsed_seconds"].numpy())
    self._offset = offset if math.isfinite(offset) else elapsed_seconds
    means = {name: float(self.variables[f"epoch_mean_{name}"].numpy())
             for name in self.metric_names}
    # NaN: a metric that training does not log (evaluation's only).
    means = {name: m for name, m in means.items() if math.isfinite(m)}
    done = step % self.steps_per_epoch
    if done and means:
      self._carried, self._carried_steps = means, done

  def seconds(self):
    """The wall time of training so far, earlier processes' included."""
    start = self._start if self._start is not None else time.perf_counter()
    return self._offset + time.perf_counter() - start

  def _means(self):
    """The running means of the epoch so far, its earlier steps included."""
    means = {}
    for name in self.metric_names:
      if name not in self._logs:
        continue
      mean = float(np.mean(self._logs[name])) if self._steps else 0.0
      if self._carried_steps and name in self._carried:
        mean = ((self._carried[name] * self._carried_steps +
                 mean * self._steps) / (self._carried_steps + self._steps))
      means[name] = mean
    return means

  def record(self):
    """Sets `variables` to the current step's values (NaN for a metric that
    training does not log)."""
    self.variables["elapsed_seconds"].assign(self.seconds())
    means = self._means()
    for name in self.metric_names:
      self.variables[f"epoch_mean_{name}"].assign(
          means.get(name, float("nan")))

  def on_train_begin(self, logs=None):
    if self._start is None:
      self._start = time.perf_counter()

  def on_epoch_begin(self, epoch, logs=None):
    self._steps = 0

  def on_train_batch_end(self, batch, logs=None):
    self._steps += 1
    self._logs = logs or {}

  def on_epoch_end(self, epoch, logs=None):
    if logs is not None:
      if self._carried_steps:
        logs.update(self._means())
      logs["elapsed_seconds"] = self.seconds()
    self._carried, self._carried_steps = {}, 0


def image_grid(images, columns=None):
  """Tiles `uint8` images `[N, H, W, C]` into one `[rows*H, cols*W, C]` image.

  Missing cells of the last row are black. `columns` defaults to
  `ceil(sqrt(N))`.
  """
  images = np.asarray(images)
  if images.ndim != 4:
    raise ValueError(
        f"`images` must have shape [N, H, W, C]; got {images.shape}.")
  num, height, width, channels = images.shape
  columns = columns or math.ceil(math.sqrt(num))
  rows = math.ceil(num / columns)
  grid = np.zeros((rows * height, columns * width, channels), images.dtype)
  for i, image in enumerate(images):
    row, col = divmod(i, columns)
    grid[row * height:(row + 1) * height, col * width:(col + 1) * width] = image
  return grid


def write_png(path, image):
  """Writes a `uint8` `[H, W, C]` image as PNG (any `tf.io.gfile` path)."""
  tf.io.gfile.makedirs(os.path.dirname(path) or ".")
  tf.io.write_file(path, tf.io.encode_png(tf.convert_to_tensor(image)))


class SampleGrid(keras.callbacks.Callback):
  """Samples the flow after each epoch: a PNG grid and a TensorBoard image.

  Every epoch draws the same latents (fixed `seed`), so the grids show how
  the model's mapping of them evolves. A model with a Polyak average
  samples with the averaged weights (`FlowModel.averaged_weights`). Files:
  `<directory>/epoch-<k>.png` for the k-th epoch (`filename`); the
  TensorBoard image's step is the epoch's index, `k - 1`, as Keras's epoch
  scalars'. The newest grid stays in `last_grid`.

  A sample with NaN or inf in it (the inverse of a briefly trained Glow
  can overflow float32, at temperature 1 especially) does not stop
  training: it is drawn black, a warning names the epoch and the count, and
  the epoch's logs (`history.csv`, TensorBoard) get
  `sample_nonfinite_fraction`, the fraction of such samples. A
  class-conditional flow's grid has one row per class, `num_images // K`
  samples of each (at least one).

  Args:
    directory: folder of the PNG files.
    log_dir: TensorBoard folder for the image summary, or None.
    num_images: images per grid.
    temperature: sampling temperature (`tfnvp.sample_at_temperature`).
    seed: stateless seed of the latents.
  """

  def __init__(self, directory, log_dir=None, num_images=64, temperature=1.0,
               seed=0):
    super().__init__()
    self.directory = directory
    self.num_images = num_images
    self.temperature = temperature
    self.seed = seed
    self.last_grid = None
    self._writer = (tf.summary.create_file_writer(log_dir)
                    if log_dir is not None else None)

  @staticmethod
  def filename(epoch):
    """The grid file of the epoch of index `epoch` (0 for the first)."""
    return f"epoch-{epoch + 1:04d}.png"

  @staticmethod
  def epoch_of(filename):
    """The epoch index of a grid file's name, or None for another file."""
    match = re.fullmatch(r"epoch-(\d{4,})\.png", filename)
    return int(match.group(1)) - 1 if match else None

  def grid(self):
    """The current model's sample grid and its number of non-finite samples.

    Returns:
      `(grid, num_nonfinite)`: `uint8` `[rows*H, cols*W, C]`, with every
      sample that holds NaN or inf drawn black, and how many did.
    """
    with self.model.averaged_weights():
      flow, sample_shape, columns = self.model.flow, self.num_images, None
      num_classes = getattr(flow, "num_classes", None)
      if num_classes is not None:
        # One row per class.
        columns = max(1, self.num_images // num_classes)
        flow = flow.given(tf.repeat(tf.range(num_classes), columns))
        sample_shape = ()
      samples = tfnvp.sample_at_temperature(
          flow, sample_shape, self.temperature,
          seed=tf.constant([self.seed, 0]))
    finite = tf.reduce_all(tf.math.is_finite(samples), axis=[1, 2, 3])
    samples = tf.where(finite[:, None, None, None], samples, 0.0)
    num_nonfinite = int(tf.reduce_sum(tf.cast(~finite, tf.int32)))
    return (image_grid(tfnvp.to_uint8(samples).numpy(), columns),
            num_nonfinite)

  def on_epoch_end(self, epoch, logs=None):
    grid, num_nonfinite = self.grid()
    self.last_grid = grid
    if logs is not None:
      logs["sample_nonfinite_fraction"] = num_nonfinite / self.num_images
    if num_nonfinite:
      print(f"warning: epoch {epoch + 1}: {num_nonfinite} of "
            f"{self.num_images} samples at temperature {self.temperature:g} "
            "hold NaN or inf (drawn black in the grid); a lower "
            "--sample-temperature or more training usually cures it.",
            flush=True)
    write_png(os.path.join(self.directory, self.filename(epoch)), grid)
    if self._writer is not None:
      with self._writer.as_default():
        tf.summary.image(f"samples/temperature_{self.temperature:g}",
                         grid[None], step=epoch)
      self._writer.flush()
