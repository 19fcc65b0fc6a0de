"""A run's record of its epochs, cut back to the checkpoint it resumes from."""


import numpy as np
import pytest
import tensorflow as tf

from tfnvp import runs
from tfnvp.training import history
from tests.training.summaries import summaries

# Four epochs of four steps: epoch e ends at optimizer step 4 * (e + 1).
STEPS_PER_EPOCH = 4
COLUMNS = "epoch,bits_per_dim,elapsed_seconds,val_bits_per_dim"


def _write_run(model_dir):
  """What four epochs of a run log, as `tfnvp-train` writes it: a row of
  history.csv, Keras's TensorBoard scalars, a sample grid per epoch; and a
  summary of a tag tfnvp does not write."""
  model_dir.mkdir()
  rows = [f"{e},{5 - e / 10},{10.0 * (e + 1)},{5.1 - e / 10}"
          for e in range(4)]
  # The last line was cut short by a killed write.
  (model_dir / "history.csv").write_text(
      "\n".join([COLUMNS, *rows, "4,4.5"]) + "\n")
  logs = model_dir / "logs"
  for folder, tags in (("train", ["epoch_loss"]),
                       ("validation", ["epoch_loss"])):
    with tf.summary.create_file_writer(str(logs / folder)).as_default():
      for epoch in range(4):
        for tag in tags:
          tf.summary.scalar(tag, 1.0 / (epoch + 1), step=epoch)
        if folder == "validation":
          tf.summary.scalar("evaluation_loss_vs_iterations", 1.0,
                            step=STEPS_PER_EPOCH * (epoch + 1))
      tf.summary.scalar("custom_metric", 1.0, step=99)
  with tf.summary.create_file_writer(str(logs)).as_default():
    for epoch in range(4):
      tf.summary.image("samples/temperature_1", tf.zeros([1, 4, 4, 1]),
                       step=epoch)
  samples = model_dir / "samples"
  samples.mkdir()
  for epoch in range(4):
    (samples / f"epoch-{epoch + 1:04d}.png").write_bytes(b"png")
  (samples / "notes.txt").write_text("kept")


def test_truncate_keeps_the_epochs_that_end_at_or_before_the_step(tmp_path):
  model_dir = tmp_path / "run"
  _write_run(model_dir)
  # Step 9 is inside the third epoch: the first two are kept.
  line = history.truncate(str(model_dir), 9, STEPS_PER_EPOCH)
  assert line == ("Dropped what the run logged after step 9, the epochs it "
                  "trains again: 3 row(s) of history.csv, 8 TensorBoard "
                  "summaries, 2 sample grid(s).")
  rows = history.read_rows(str(model_dir))
  assert [row["epoch"] for row in rows] == ["0", "1"]
  assert (model_dir / "history.csv").read_text().splitlines()[0] == COLUMNS
  np.testing.assert_allclose(
      [float(row["val_bits_per_dim"]) for row in rows], [5.1, 5.0])
  assert history.elapsed_seconds(str(model_dir)) == 20.0
  assert summaries(model_dir) == {
      ("train", "epoch_loss"): [0, 1],
      ("train", "custom_metric"): [99],
      ("validation", "epoch_loss"): [0, 1],
      ("validation", "evaluation_loss_vs_iterations"): [4, 8],
      ("validation", "custom_metric"): [99],
      ("logs", "samples/temperature_1"): [0, 1]}
  assert sorted(p.name for p in (model_dir / "samples").iterdir()) == [
      "epoch-0001.png", "epoch-0002.png", "notes.txt"]
  # Nothing more to drop.
  assert history.truncate(str(model_dir), 9, STEPS_PER_EPOCH) is None
  assert not list(model_dir.rglob("*.tmp-*"))


def test_truncate_at_an_epochs_end_keeps_that_epoch(tmp_path):
  model_dir = tmp_path / "run"
  _write_run(model_dir)
  history.truncate(str(model_dir), 8, STEPS_PER_EPOCH)
  assert [row["epoch"] for row in history.read_rows(str(model_dir))] == [
      "0", "1"]
  found = summaries(model_dir)
  assert found[("validation", "evaluation_loss_vs_iterations")] == [4, 8]
  # Starting over drops every epoch and keeps the header.
  history.truncate(str(model_dir), 0, STEPS_PER_EPOCH)
  assert history.read_rows(str(model_dir)) == []
  assert (model_dir / "history.csv").read_text() == COLUMNS + "\n"
  assert set(summaries(model_dir)) == {("train", "custom_metric"),
                                        ("validation", "custom_metric")}
  assert history.elapsed_seconds(str(model_dir)) == 0.0


def test_an_event_file_cut_short_by_a_kill_keeps_its_whole_records(tmp_path):
  model_dir = tmp_path / "run"
  _write_run(model_dir)
  path = next((model_dir / "logs" / "train").glob("events.out.tfevents.*"))
  path.write_bytes(path.read_bytes() + b"\x10\x00\x00\x00\x00\x00\x00\x00ab")
  history.truncate(str(model_dir), 16, STEPS_PER_EPOCH)
  assert summaries(model_dir)[("train", "epoch_loss")] == [0, 1, 2, 3]
  for _ in tf.data.TFRecordDataset(str(path)):   # reads to the end
    pass


def test_a_history_without_a_checkpoint_is_refused(tmp_path):
  model_dir = tmp_path / "run"
  _write_run(model_dir)
  with pytest.raises(ValueError, match=r"holds the history of a run \(4 "
                     r"epoch\(s\) in history.csv\) but no checkpoint.*delete "
                     r"the folder or move it aside"):
    history.check_restartable(str(model_dir))
  checkpoint = tf.train.Checkpoint(v=tf.Variable(1.0))
  tf.train.CheckpointManager(
      checkpoint, str(model_dir / runs.CHECKPOINT_SUBDIR), 1).save()
  history.check_restartable(str(model_dir))
  # A folder without a history (a run stopped before its first epoch's end)
  # may start over.
  history.check_restartable(str(tmp_path / "empty"))
