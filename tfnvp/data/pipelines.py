"""Input pipelines of a supported dataset: batches of model inputs.

`make_dataset` yields batches of float32 images of shape `[batch, H, W, C]`
with values in `[0, 256)`: the raw 8-bit pixel values plus uniform
dequantization noise `u ~ U[0, 1)`, preprocessed as the dataset's
`DatasetSpec` says (`tfnvp.data.preprocessing`). Labels are dropped, because
the models are unconditional density models. `pixel_batches` yields the 8-bit
images themselves, the input of `tfnvp.ood`'s scores.

Needs TensorFlow Datasets: the `data` extra (`pip install "tfnvp[data]"`).
"""

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfnvp.data.preparation import prepare
from tfnvp.data.preprocessing import preprocess_image
from tfnvp.data.specs import get_spec
from tfnvp.internal.checks import is_number

__all__ = ["DEFAULT_EVAL_SEED", "make_dataset", "num_classes", "pixel_batches"]

# Seed of the evaluation dequantization noise when `make_dataset` gets no
# `seed`.
DEFAULT_EVAL_SEED = 0

_AUTOTUNE = tf.data.AUTOTUNE


def _check_positive_int(name: str, value: object) -> None:
  if not is_number(value, (int, np.integer)) or value <= 0:
    raise ValueError(f"{name} must be a positive int, got {name}={value!r}")


def make_dataset(
    name: str,
    split: str,
    global_batch_size: int,
    *,
    training: bool,
    data_dir: str | None = None,
    raw_data_dir: str | None = None,
    shuffle_buffer: int = 10_000,
    seed: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
    num_examples: int | None = None,
    drop_remainder: bool = True,
    repeat: bool | None = None,
    dequantized: bool = True,
    labels: bool = False,
) -> tf.data.Dataset:
  """Builds the input pipeline of one split: batches of dequantized images.

  The dataset is prepared first if needed (see `prepare`). Each
  element is a float32 tensor `[batch, H, W, C]` with values in
  `[0, 256)`, where `batch` is the per-replica batch size; with `labels`,
  each element is `(images, labels)`, labels int32 `[batch]` from the
  dataset's class label (for class-conditional flows).

  Training (`training=True`): examples are shuffled, cropped and flipped
  as the `DatasetSpec` says, and dequantized with fresh uniform
  noise, which changes from epoch to epoch. With a `seed` the whole
  stream is reproducible; without one it is not.

  Evaluation (`training=False`): no shuffling and no flips; random crops
  become central crops. The dequantization noise is still uniform, but it is
  a fixed function of the example's position in the split and of the seed
  (`seed`, or `DEFAULT_EVAL_SEED` when None). Hence every pass,
  and every way of sharding the split, gives the same value for the same
  example, and the evaluation number is deterministic.

  Sharding (`input_context`): the per-replica batch size is
  `input_context.get_per_replica_batch_size(global_batch_size)`, and
  pipeline `input_pipeline_id` of `num_input_pipelines` reads a
  disjoint part of the split. For evaluation, and for training when the
  split has fewer files than pipelines, examples are split with
  `Dataset.shard` (every pipeline reads all the files, in a fixed order,
  and keeps every n-th example). For training on splits with at least as
  many files as pipelines, TFDS assigns whole files to pipelines
  (`tfds.ReadConfig(input_context=...)`), which avoids reading the data
  n times.

  Args:
    name: Supported TFDS name (a key of `DATASETS`).
    split: TFDS split name or split expression (`"train"`,
      `"test[:50%]"`); see the spec's `train_split`/`eval_split`.
    global_batch_size: Batch size summed over all replicas.
    training: Training (random augmentation, shuffling) or evaluation.
    data_dir: TFDS data directory; None uses the TFDS default.
    raw_data_dir: Raw data folder for offline preparation, see
      `resolve_raw_data_dir`.
    shuffle_buffer: Shuffle buffer size (training only).
    seed: Seed of shuffling, augmentation and noise; see above.
    input_context: Distribution input context, or None for one pipeline
      and one replica.
    num_examples: If set, only the first `num_examples` examples of the
      split are used (before sharding); `split` must then be a plain
      split name.
    drop_remainder: Drop the last incomplete batch. Note that with the
      default (True) an evaluation pass may skip up to
      `batch - 1` examples per pipeline; pass False to evaluate on
      all of them.
    repeat: Repeat forever. None means: repeat when `training`.
    dequantized: False yields the 8-bit pixels themselves: uint8 batches,
      preprocessed as above but without the noise (for the scores of
      `tfnvp.ood`, which take the 8-bit images).
    labels: Yield `(images, labels)` batches (see above).

  Returns:
    A `tf.data.Dataset` of float32 (uint8 if not `dequantized`) image
    batches, or of `(images, labels)` batches, prefetched.

  Raises:
    ValueError: If an argument is invalid (unknown dataset or split,
      non-positive sizes, batch size not divisible by the number of
      replicas, `num_examples` larger than the split, ...).
    FileNotFoundError: See `prepare`.
  """
  spec = get_spec(name)
  _check_positive_int("global_batch_size", global_batch_size)
  if training:
    _check_positive_int("shuffle_buffer", shuffle_buffer)
  if num_examples is not None:
    _check_positive_int("num_examples", num_examples)
  if seed is not None and not is_number(seed, (int, np.integer)):
    raise ValueError(f"seed must be an int or None, got seed={seed!r}")
  if not isinstance(split, str) or not split:
    raise ValueError(f"split must be a non-empty string, got split={split!r}")

  num_pipelines, pipeline_id = 1, 0
  batch_size = global_batch_size
  if input_context is not None:
    num_pipelines = int(input_context.num_input_pipelines)
    pipeline_id = int(input_context.input_pipeline_id)
    num_replicas = int(input_context.num_replicas_in_sync)
    if num_pipelines <= 0 or not 0 <= pipeline_id < num_pipelines:
      raise ValueError(
          f"input_context has input_pipeline_id={pipeline_id} and "
          f"num_input_pipelines={num_pipelines}"
      )
    if num_replicas <= 0 or global_batch_size % num_replicas:
      raise ValueError(
          f"global_batch_size={global_batch_size} is not divisible by "
          f"num_replicas_in_sync={num_replicas}"
      )
    batch_size = input_context.get_per_replica_batch_size(global_batch_size)

  builder = prepare(name, data_dir=data_dir, raw_data_dir=raw_data_dir)
  if labels:
    _class_label(builder)
  splits = builder.info.splits
  if num_examples is not None:
    if split not in splits:
      raise ValueError(
          f"With num_examples, split must be one of {sorted(splits)}; "
          f"got split={split!r}"
      )
    available = splits[split].num_examples
    if num_examples > available:
      raise ValueError(
          f"num_examples={num_examples} exceeds the {available} examples "
          f"of split {split!r} of {name!r}"
      )
    split = f"{split}[:{num_examples}]"
  try:
    num_files = len(splits[split].file_instructions)
  except (KeyError, ValueError, AssertionError) as err:
    raise ValueError(
        f"Unknown or invalid split={split!r} for {name!r}; available "
        f"splits: {sorted(splits)}"
    ) from err

  shard_files = training and num_pipelines > 1 and num_files >= num_pipelines
  shard_examples = num_pipelines > 1 and not shard_files
  read_config = tfds.ReadConfig(
      shuffle_seed=seed,
      input_context=input_context if shard_files else None,
  )
  ds = builder.as_dataset(
      split=split,
      # With example-level sharding, all pipelines must read the files in
      # the same order for the shards to be disjoint.
      shuffle_files=training and not shard_examples,
      read_config=read_config,
  )
  if labels:
    ds = ds.map(lambda example: (example["image"],
                                 tf.cast(example["label"], tf.int32)),
                num_parallel_calls=_AUTOTUNE)
  else:
    ds = ds.map(lambda example: example["image"],
                num_parallel_calls=_AUTOTUNE)

  def with_label(element, transform):
    """`transform` applied to the image of `element`, its label kept."""
    if labels:
      return transform(element[0]), element[1]
    return transform(element)

  if training:
    if shard_examples:
      ds = ds.shard(num_pipelines, pipeline_id)
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat is None or repeat:
      ds = ds.repeat()
    # One random int64 per example (a fresh stream every epoch), mixed
    # with the pipeline id so that pipelines draw different noise.
    ds = tf.data.Dataset.zip(
        ds, tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    )

    def train_map(element, rnd: tf.Tensor):
      seed_pair = tf.stack([rnd, tf.constant(pipeline_id, tf.int64)])
      return with_label(element, lambda image: preprocess_image(
          image, spec, training=True, seed=seed_pair,
          dequantized=dequantized))

    ds = ds.map(train_map, num_parallel_calls=_AUTOTUNE)
  else:
    # Index in the (sliced) split, taken before sharding: the noise of an
    # example does not depend on how the split is sharded.
    ds = ds.enumerate()
    if shard_examples:
      ds = ds.shard(num_pipelines, pipeline_id)
    if repeat:
      ds = ds.repeat()
    eval_seed = DEFAULT_EVAL_SEED if seed is None else seed

    def eval_map(index: tf.Tensor, element):
      seed_pair = tf.stack([tf.constant(eval_seed, tf.int64), index])
      return with_label(element, lambda image: preprocess_image(
          image, spec, training=False, seed=seed_pair,
          dequantized=dequantized))

    ds = ds.map(eval_map, num_parallel_calls=_AUTOTUNE)

  ds = ds.batch(batch_size, drop_remainder=drop_remainder)
  return ds.prefetch(_AUTOTUNE)


def _class_label(builder) -> int:
  """The number of classes of `builder`'s `label` feature."""
  feature = builder.info.features
  label = feature["label"] if "label" in feature else None
  if not isinstance(label, tfds.features.ClassLabel):
    raise ValueError(
        f"{builder.info.full_name} has no class label (no label feature; "
        f"its features: {', '.join(feature.keys())}): a class-conditional "
        "flow cannot train on it.")
  return label.num_classes


def num_classes(name: str, *, data_dir: str | None = None) -> int:
  """The number of classes of a dataset's label feature.

  Read from the dataset's TFDS metadata, without preparing the data or
  running TensorFlow.

  Args:
    name: Supported TFDS name.
    data_dir: TFDS data directory; None uses the TFDS default.

  Returns:
    Python `int` `K`: labels are `0 .. K - 1`.

  Raises:
    ValueError: for an unknown dataset, or one without a class label.
  """
  get_spec(name)
  return _class_label(tfds.builder(name, data_dir=data_dir))


def pixel_batches(
    name: str,
    split: str | None = None,
    batch_size: int = 256,
    *,
    num_examples: int | None = None,
    image_shape: Sequence[int] | None = None,
    data_dir: str | None = None,
    raw_data_dir: str | None = None,
) -> tf.data.Dataset:
  """uint8 batches of a split, preprocessed for evaluation, undequantized.

  The input of `tfnvp.ood`'s scores and calibration: `make_dataset(...,
  training=False, dequantized=False, drop_remainder=False)`.

  Args:
    name: Supported TFDS name.
    split: TFDS split, or None for the spec's `eval_split`.
    batch_size: Images per batch.
    num_examples: Only the first `num_examples` images of `split`.
    image_shape: If set, the model's `(H, W, C)`, which the dataset's
      images must have.
    data_dir: TFDS data directory.
    raw_data_dir: See `resolve_raw_data_dir`.

  Returns:
    A `tf.data.Dataset` of uint8 `[batch, H, W, C]`.

  Raises:
    ValueError: Another `image_shape` than the dataset's; see
      `make_dataset`.
    FileNotFoundError: See `prepare`.
  """
  spec = get_spec(name)
  if image_shape is not None and tuple(image_shape) != spec.image_shape:
    raise ValueError(
        f"Dataset {name!r} has {list(spec.image_shape)} images; the model's "
        f"are {list(image_shape)}.")
  return make_dataset(
      name, spec.eval_split if split is None else split, batch_size,
      training=False, data_dir=data_dir, raw_data_dir=raw_data_dir,
      num_examples=num_examples, drop_remainder=False, dequantized=False)

