"""Atomic, resumable checkpoints of a FlowModel and its optimizer."""

import os
import shutil

import tensorflow as tf

from tfnvp import runs

from . import strategies

__all__ = ["Checkpointer", "latest_intact_checkpoint"]


def latest_intact_checkpoint(model_dir):
  """The newest checkpoint of `model_dir` that reads back whole.

  Returns:
    `(path, corrupted)`: the newest intact checkpoint prefix (or `None`),
    and the list of `(path, reason)` of the newer ones that are truncated
    or corrupted.
  """
  corrupted = []
  for path in runs.checkpoint_paths(model_dir):
    try:
      runs.verify_checkpoint(path)
    except runs.CheckpointError as err:
      corrupted.append((path, str(err)))
      continue
    return path, corrupted
  return None, corrupted


def _set_aside(paths, directory, intact):
  """Renames the files of `paths` to `<file>.corrupted` (nothing is deleted)
  and makes `intact` the newest checkpoint of the index."""
  for path in paths:
    for name in tf.io.gfile.glob(f"{path}.*"):
      if not name.endswith(".corrupted"):
        tf.io.gfile.rename(name, f"{name}.corrupted", overwrite=True)
  state = tf.train.get_checkpoint_state(directory)
  kept = [p for p in state.all_model_checkpoint_paths if
          os.path.join(directory, os.path.basename(p)) not in paths
          and p not in paths]
  tf.compat.v1.train.update_checkpoint_state(
      directory, intact, all_model_checkpoint_paths=kept)


class Checkpointer:
  """Saves and restores the flow's variables and the optimizer's state.

  With Polyak averaging (`FlowModel(ema_decay=...)`) the average of the
  weights is saved and restored with them, so a resumed run continues it.

  Checkpoints go to `<model_dir>/checkpoints/ckpt-<step>`
  (`tfnvp.runs.make_checkpoint`), numbered by the optimizer's step
  counter, the newest `max_to_keep` kept. TF writes a checkpoint's files
  before it updates the `checkpoint` index file, so a run killed while
  saving leaves the previous checkpoint as the latest. A checkpoint whose
  files were truncated or corrupted afterwards is found when resuming: its
  files are renamed to `*.corrupted` (kept, not deleted) and training
  resumes from the newest intact one.

  `extra` variables (the run's own state, such as its wall time) are saved
  with the model under `training_state/<name>` and restored from a
  checkpoint that has them; a checkpoint without them (an older run's)
  leaves them unchanged. `tfnvp.runs.load_run` ignores them.

  Under `MultiWorkerMirroredStrategy` every worker must call `save` at the
  same step (saving may run collective ops); only the chief's files are
  kept, the others write to a scratch folder that is deleted at once.

  Args:
    model: a compiled `tfnvp.FlowModel` whose optimizer is built.
    model_dir: the run's folder.
    strategy: the run's `tf.distribute` strategy, or None for one process.
    max_to_keep: number of checkpoints kept.
    extra: `dict` of name -> `tf.Variable` saved with every checkpoint, or
      None.
  """

  def __init__(self, model, model_dir, strategy=None, max_to_keep=3,
               extra=None):
    self._model = model
    self._model_dir = model_dir
    self.directory = os.path.join(model_dir, runs.CHECKPOINT_SUBDIR)
    self._chief = strategy is None or strategies.is_chief(strategy)
    self._write_dir = self.directory if self._chief else os.path.join(
        self.directory, f".worker-{strategies.worker_index(strategy)}")
    self.checkpoint = runs.make_checkpoint(model, model.optimizer)
    # What is saved: the model's checkpoint and the run's own state. The
    # checkpoint restored holds the model only, so that a checkpoint without
    # the run's state still matches it.
    self._extra = dict(extra or {})
    self._saved = runs.make_checkpoint(model, model.optimizer)
    if self._extra:
      self._saved.training_state = self._extra
    self._max_to_keep = max_to_keep
    self._manager = None
    self.saved_step = None
    self.saved_path = None

  @property
  def step(self):
    """The optimizer's step counter: the number of updates applied."""
    return int(self._model.optimizer.iterations.numpy())

  def restore_latest(self):
    """Restores the newest intact checkpoint; returns its path or None.

    Newer checkpoints that are truncated or corrupted are set aside (their
    files renamed to `*.corrupted`, by the chief) with a warning that names
    them.

    `saved_step` and `saved_path` are then its step and path, and the
    `extra` variables hold its values (those it has).

    Raises:
      ValueError: if no checkpoint is intact although some exist (nothing
        is renamed then), or if the checkpoint does not match the model
        (another architecture); the message names the checkpoint.
    """
    path, corrupted = latest_intact_checkpoint(self._model_dir)
    if corrupted and path is None:
      raise ValueError(
          "No intact checkpoint to resume from: "
          + "; ".join(reason for _, reason in corrupted) +
          ". Use a new --model-dir, or move the checkpoints aside to start "
          "over.")
    for _, reason in corrupted:
      print(f"warning: {reason}; it is renamed to *.corrupted and training "
            f"resumes from {path}.", flush=True)
    if corrupted and self._chief:
      _set_aside([p for p, _ in corrupted], self.directory, path)
    if path is not None:
      try:
        # The run's own state is read apart (`_restore_extra`).
        status = self.checkpoint.restore(path).expect_partial()
        status.assert_existing_objects_matched()
      except AssertionError as err:
        raise ValueError(
            f"checkpoint {path} does not match this run's model: "
            f"{str(err)[:300]}") from None
      self._restore_extra(path)
      self.saved_step, self.saved_path = self.step, path
    return path

  def _restore_extra(self, path):
    reader = tf.train.load_checkpoint(path)
    for name, variable in self._extra.items():
      key = f"training_state/{name}/.ATTRIBUTES/VARIABLE_VALUE"
      if reader.has_tensor(key):
        variable.assign(reader.get_tensor(key))

  def save(self):
    """Writes a checkpoint for the current step; returns its path.

    The path is the chief's checkpoint (the one kept) on every worker;
    `saved_step` and `saved_path` are then the step and the path.
    """
    if self._manager is None:
      # Created after `restore_latest`, which may have rewritten the index.
      self._manager = tf.train.CheckpointManager(
          self._saved, self._write_dir, max_to_keep=self._max_to_keep)
    path = self._manager.save(checkpoint_number=self.step)
    if not self._chief:
      shutil.rmtree(self._write_dir, ignore_errors=True)
    self.saved_step = self.step
    self.saved_path = os.path.join(self.directory, os.path.basename(path))
    return self.saved_path
