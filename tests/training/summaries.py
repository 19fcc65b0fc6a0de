"""What the training tests share: a run's TensorBoard summaries."""

import collections
from pathlib import Path

import tensorflow as tf

__all__ = ["summaries"]


def summaries(model_dir):
  """`{(folder, tag): [step, ...]}` of the summaries under `model_dir/logs`,
  `folder` the event file's folder's name, steps in file order."""
  found = collections.defaultdict(list)
  for path in sorted(Path(model_dir, "logs").rglob("events.out.tfevents.*")):
    for record in tf.data.TFRecordDataset(str(path)):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        found[(path.parent.name, value.tag)].append(event.step)
  return dict(found)
