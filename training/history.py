"""A run's record of its epochs, cut back to the checkpoint it resumes from.

Per epoch a run writes a row of `history.csv` (Keras's `CSVLogger`; its
`epoch` column is the epoch's index, from 0), TensorBoard summaries under
`logs/` and a sample grid `samples/epoch-<k>.png`. A run killed or stopped
after its newest checkpoint may have written these for epochs that the
resumed run trains again; `truncate` drops them first, so that the resumed
run's record holds every epoch once, as an uninterrupted run's does.

TensorBoard summaries are matched to epochs by their step: Keras's
`TensorBoard` callback writes `epoch_<metric>` at the epoch's index and
`evaluation_<metric>_vs_iterations` at the optimizer step that ends the
epoch; the sample grids (`callbacks.SampleGrid`) are stepped by the epoch's
index. Summaries of other tags, and records that are not summaries (the
graph), are kept.
"""

import csv
import os

import tensorflow as tf

from tfnvp import runs

from .callbacks import SampleGrid

__all__ = ["HISTORY_FILE", "LOG_SUBDIR", "SAMPLES_SUBDIR",
           "check_restartable", "elapsed_seconds", "read_rows", "truncate"]

HISTORY_FILE = "history.csv"
LOG_SUBDIR = "logs"
SAMPLES_SUBDIR = "samples"


def _read(model_dir):
  """`(fieldnames, rows)` of `history.csv`; `(None, [])` without one."""
  path = os.path.join(model_dir, HISTORY_FILE)
  if not tf.io.gfile.exists(path):
    return None, []
  with tf.io.gfile.GFile(path, "r") as f:
    reader = csv.DictReader(f)
    rows = list(reader)
    return reader.fieldnames, rows


def _epoch(row):
  """A row's epoch index, or None for a row cut short (a killed write)."""
  if None in row or None in row.values():
    return None
  try:
    return int(row["epoch"])
  except (KeyError, ValueError):
    return None


def read_rows(model_dir):
  """The complete rows of the run's `history.csv` (`[]` without one)."""
  return [row for row in _read(model_dir)[1] if _epoch(row) is not None]


def check_restartable(model_dir):
  """Refuses a folder with a history but no checkpoint to resume it from.

  Training it from step 0 would append a second run's epochs to the
  first's.

  Raises:
    ValueError: if `history.csv` has rows and `checkpoints/` has none;
      the message says how to start over.
  """
  rows = read_rows(model_dir)
  if rows and not runs.checkpoint_paths(model_dir):
    raise ValueError(
        f"`model_dir`={model_dir!r} holds the history of a run "
        f"({len(rows)} epoch(s) in {HISTORY_FILE}) but no checkpoint to "
        f"resume it from ({runs.CHECKPOINT_SUBDIR}/ is missing or empty). "
        "To start over, delete the folder or move it aside, or use another "
        "`model_dir`.")


def elapsed_seconds(model_dir):
  """The `elapsed_seconds` of the run's last row (0 without one)."""
  rows = read_rows(model_dir)
  return float(rows[-1]["elapsed_seconds"]) if rows else 0.0


def _truncate_rows(model_dir, num_epochs):
  fieldnames, rows = _read(model_dir)
  kept = [row for row in rows
          if _epoch(row) is not None and _epoch(row) < num_epochs]
  if len(kept) == len(rows):
    return 0
  path = os.path.join(model_dir, HISTORY_FILE)
  staging = f"{path}.tmp-{os.getpid()}"
  with tf.io.gfile.GFile(staging, "w") as f:
    writer = csv.DictWriter(f, fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
  tf.io.gfile.rename(staging, path, overwrite=True)
  return len(rows) - len(kept)


def _kept(tag, step, num_epochs, steps_per_epoch):
  """Whether a summary belongs to the first `num_epochs` epochs or to none."""
  if tag.startswith("epoch_") or tag.startswith("samples/"):
    return step < num_epochs
  if tag.startswith("evaluation_") and tag.endswith("_vs_iterations"):
    return step <= num_epochs * steps_per_epoch
  return True


def _truncate_events(path, num_epochs, steps_per_epoch):
  """Drops the summaries of epochs `>= num_epochs` from one event file
  (and a tail cut short by a killed write); returns how many."""
  records, damaged = [], False
  try:
    for record in tf.data.TFRecordDataset(path):
      records.append(record.numpy())
  except tf.errors.DataLossError:
    damaged = True
  kept, dropped = [], 0
  for record in records:
    event = tf.compat.v1.Event.FromString(record)
    values = [value for value in event.summary.value
              if _kept(value.tag, event.step, num_epochs, steps_per_epoch)]
    dropped += len(event.summary.value) - len(values)
    if len(values) == len(event.summary.value):
      kept.append(record)
    elif values:
      del event.summary.value[:]
      event.summary.value.extend(values)
      kept.append(event.SerializeToString())
  if dropped or damaged:
    staging = f"{path}.tmp-{os.getpid()}"
    with tf.io.TFRecordWriter(staging) as writer:
      for record in kept:
        writer.write(record)
    tf.io.gfile.rename(staging, path, overwrite=True)
  return dropped


def truncate(model_dir, step, steps_per_epoch):
  """Drops what the run recorded of the epochs after checkpoint `step`.

  Keeps the epochs that end at or before optimizer step `step` (the first
  `step // steps_per_epoch`): their rows of `history.csv`, their
  TensorBoard summaries and their sample grids. Files are rewritten whole
  (a new file renamed over the old), so an interrupted call leaves each
  file old or new. A TensorBoard already showing the run shows the dropped
  points until it reloads.

  Args:
    model_dir: the run's folder.
    step: the optimizer step training resumes from (0 to start over).
    steps_per_epoch: Python `int`, the optimizer steps of an epoch.

  Returns:
    A line that says what was dropped, or None if nothing was.
  """
  num_epochs = step // steps_per_epoch
  rows = _truncate_rows(model_dir, num_epochs)
  summaries = 0
  for folder, _, names in tf.io.gfile.walk(os.path.join(model_dir,
                                                         LOG_SUBDIR)):
    for name in sorted(names):
      if name.startswith("events.out.tfevents."):
        summaries += _truncate_events(os.path.join(folder, name),
                                      num_epochs, steps_per_epoch)
  grids = 0
  samples = os.path.join(model_dir, SAMPLES_SUBDIR)
  if tf.io.gfile.isdir(samples):
    for name in sorted(tf.io.gfile.listdir(samples)):
      epoch = SampleGrid.epoch_of(name)
      if epoch is not None and epoch >= num_epochs:
        tf.io.gfile.remove(os.path.join(samples, name))
        grids += 1
  if not rows + summaries + grids:
    return None
  return (f"Dropped what the run logged after step {step}, the epochs it "
          f"trains again: {rows} row(s) of {HISTORY_FILE}, {summaries} "
          f"TensorBoard summaries, {grids} sample grid(s).")
