"""The real MNIST and Fashion-MNIST files as TFDS prepared them, read
without `tfnvp.data`: what the data tests compare its output with."""

import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

__all__ = ["raw_images", "train_label_counts"]


def raw_images(data_dir: str, name: str, split: str) -> np.ndarray:
  builder = tfds.builder(name, data_dir=data_dir)
  ds = builder.as_dataset(split=split, batch_size=-1)
  return tfds.as_numpy(ds)["image"]


def train_label_counts(data_dir: str, name: str) -> list[int]:
  """Counts the labels in the TFRecord files TFDS wrote for the train split.

  Reading the records in batches of serialized examples is ~15x faster than
  going through `builder.as_dataset` example by example.
  """
  builder = tfds.builder(name, data_dir=data_dir)
  files = [
      os.fspath(instruction.filename)
      for instruction in builder.info.splits["train"].file_instructions
  ]
  label_spec = {"label": tf.io.FixedLenFeature([], tf.int64)}
  labels = tf.data.TFRecordDataset(files).batch(10_000).map(
      lambda records: tf.io.parse_example(records, label_spec)["label"])
  counts = np.zeros(10, np.int64)
  for batch in labels.as_numpy_iterator():
    counts += np.bincount(batch, minlength=10)
  return counts.tolist()

