"""Atomic, resumable checkpoints of a FlowModel and its optimizer."""

import os
import shutil

import tensorflow as tf

from training import strategies

__all__ = ["CHECKPOINT_SUBDIR", "Checkpointer", "latest_checkpoint"]

CHECKPOINT_SUBDIR = "checkpoints"


def latest_checkpoint(model_dir):
  """The newest checkpoint's path prefix in `model_dir`, or None."""
  return tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIR))


class Checkpointer:
  """Saves and restores the flow's variables and the optimizer's state.

  Checkpoints go to `<model_dir>/checkpoints/ckpt-<step>`, numbered by the
  optimizer's step counter, the newest `max_to_keep` kept. TF writes a
  checkpoint's files before it updates the `checkpoint` index file, so a
  run killed while saving leaves the previous checkpoint as the latest:
  there is no half-written checkpoint to resume from.

  Under `MultiWorkerMirroredStrategy` every worker must call `save` at the
  same step (saving may run collective ops); only the chief's files are
  kept, the others write to a scratch folder that is deleted at once.

  Args:
    model: a compiled `training.model.FlowModel` whose optimizer is built.
    model_dir: the run's folder.
    strategy: the run's `tf.distribute` strategy, or None for one process.
    max_to_keep: number of checkpoints kept.
  """

  def __init__(self, model, model_dir, strategy=None, max_to_keep=3):
    self._model = model
    self.directory = os.path.join(model_dir, CHECKPOINT_SUBDIR)
    self._chief = strategy is None or strategies.is_chief(strategy)
    self._write_dir = self.directory if self._chief else os.path.join(
        self.directory, f".worker-{strategies.worker_index(strategy)}")
    self.checkpoint = tf.train.Checkpoint(flow=model.flow_layers,
                                          optimizer=model.optimizer)
    self._manager = tf.train.CheckpointManager(
        self.checkpoint, self._write_dir, max_to_keep=max_to_keep)

  @property
  def step(self):
    """The optimizer's step counter: the number of updates applied."""
    return int(self._model.optimizer.iterations.numpy())

  def restore_latest(self):
    """Restores the newest checkpoint of the chief; returns its path or None.

    Raises:
      AssertionError: if the checkpoint does not match the model (another
        architecture); the message lists what did not match.
    """
    path = tf.train.latest_checkpoint(self.directory)
    if path is not None:
      self.checkpoint.restore(path).assert_existing_objects_matched()
    return path

  def save(self):
    """Writes a checkpoint for the current step; returns its path."""
    path = self._manager.save(checkpoint_number=self.step)
    if not self._chief:
      shutil.rmtree(self._write_dir, ignore_errors=True)
    return path
