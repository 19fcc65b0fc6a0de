"""TFDS datasets faked offline with `tfds.testing.mock_data`, per `--dataset`.

`tfds.testing.mock_data` patches `DatasetBuilder.download_and_prepare` into a
no-op and `FileReaderBuilder._as_dataset` into a generator of fake examples,
and makes every builder read its metadata from the mock's `data_dir` (the
`data_dir` a caller passes is ignored). Two of its defaults do not fit the
input pipeline of `tfnvp.data`:

* Without metadata files (`MockPolicy.AUTO` falls back to `USE_CODE`), the
  builder has no splits at all, so `make_dataset` rejects every split. Here
  `write_metadata` writes a `dataset_info.json` with the dataset's real TFDS
  split names (few examples each), and the mock runs with
  `MockPolicy.USE_FILES`: `builder.is_prepared()` is then True and
  `builder.info.splits` knows the splits, their sizes and slices.
* Its example generator ignores the split (train and test yield the same
  examples, and `train[:8]` yields `num_examples` of them) and fills unknown
  image dimensions with random sizes in [5, 50). The images of `lsun/*`
  and `downsampled_imagenet/*` have unknown height and width in their
  feature spec, so they came out as e.g. 47x17. `fake_as_dataset` replaces
  it: the examples follow the split and its slice (file instructions), and
  images have the sizes TFDS really stores (LSUN: smaller side 256 and a
  random aspect ratio, landscape or portrait; downsampled ImageNet: 32x32
  or 64x64; the others: their fixed feature shape). The other features
  (labels, CelebA attributes, LSUN ids) still come from TFDS's own random
  generator, from the feature spec.
"""

import contextlib
import os
import zlib

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core import naming
from tensorflow_datasets.testing import mocking

__all__ = [
    "SPLIT_SIZES",
    "TFDS_SPLITS",
    "fake_as_dataset",
    "mocked",
    "raw_examples",
    "stored_image",
    "stored_image_shape",
    "undequantize",
    "write_metadata",
]

# The splits each TFDS builder generates (its `_split_generators`, in
# tensorflow_datasets 4.9.10): cifar.py, mnist.py, celeb_a, lsun.py (scene
# categories) and downsampled_imagenet.
TFDS_SPLITS = {
    "mnist": ("train", "test"),
    "fashion_mnist": ("train", "test"),
    "cifar10": ("train", "test"),
    "celeb_a": ("train", "validation", "test"),
    "downsampled_imagenet/32x32": ("train", "validation"),
    "downsampled_imagenet/64x64": ("train", "validation"),
    "lsun/bedroom": ("train", "validation"),
    "lsun/church_outdoor": ("train", "validation"),
    "lsun/tower": ("train", "validation"),
}

# Number of fake examples of every split: enough for a few batches of 4.
SPLIT_SIZES = {"train": 24, "validation": 12, "test": 12}

# LSUN stores its images with the smaller side 256 (longer side up to ~512).
_LSUN_SMALLER_SIDE = 256


def write_metadata(root, name):
  """Writes the metadata of a prepared `name` (no data files) under `root`.

  Args:
    root: the `data_dir` to pass to `mocked`.
    name: TFDS name, a key of `TFDS_SPLITS`.

  Returns:
    The builder's data folder (`root/<name>/<version>`).
  """
  builder = tfds.builder(name, data_dir=root)
  splits = []
  for split in TFDS_SPLITS[name]:
    template = naming.ShardedFileTemplate(
        data_dir=builder.data_dir, dataset_name=builder.name, split=split,
        filetype_suffix="tfrecord")
    splits.append(tfds.core.SplitInfo(
        name=split, shard_lengths=[SPLIT_SIZES[split]], num_bytes=0,
        filename_template=template))
  builder.info.set_splits(tfds.core.SplitDict(splits))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)
  return os.fspath(builder.data_dir)


def _rng(name, split, index, salt=0):
  key = zlib.crc32(f"{name}/{split}".encode())
  return np.random.default_rng([key, index, salt])


def stored_image_shape(name, split, index, static_shape):
  """The shape of the stored image `index` of `split` of `name`.

  Args:
    name: TFDS name.
    split: plain split name.
    index: index of the example in the split.
    static_shape: the image shape of the feature spec (`None` for unknown
      dimensions).
  """
  if None not in static_shape:
    return tuple(static_shape)
  if name.startswith("downsampled_imagenet/"):
    size = int(name.split("/")[1].split("x")[0])
    return (size, size, 3)
  if name.startswith("lsun/"):
    rng = _rng(name, split, index, salt=1)
    longer = int(rng.integers(_LSUN_SMALLER_SIDE, 2 * _LSUN_SMALLER_SIDE))
    if rng.random() < 0.25:
      return (longer, _LSUN_SMALLER_SIDE, 3)  # portrait
    return (_LSUN_SMALLER_SIDE, longer, 3)
  raise KeyError(f"no stored image size known for {name!r}")


def stored_image(name, split, index, shape):
  """A deterministic uint8 image: smooth colour gradients plus noise."""
  rng = _rng(name, split, index)
  height, width, channels = shape
  rows = np.linspace(0.0, 1.0, height)[:, None, None]
  cols = np.linspace(0.0, 1.0, width)[None, :, None]
  slope = rng.uniform(-160, 160, size=(2, channels))
  offset = rng.uniform(48, 208, size=channels)
  image = offset + slope[0] * (rows - 0.5) + slope[1] * (cols - 0.5)
  image = image + rng.normal(0.0, 24.0, size=shape)
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def fake_as_dataset(self, split, decoders=None, read_config=None,
                    shuffle_files=False):
  """Replaces `FileReaderBuilder._as_dataset`: fake examples of `split`.

  The examples are those the split expression selects (`"train[:8]"` gives
  examples 0..7 of `train`), in order; `shuffle_files` has nothing to do
  with one file per split, and `decoders`/`read_config` are not supported.
  """
  del shuffle_files
  if decoders is not None:
    raise NotImplementedError("decoders are not mocked")
  if read_config is not None and read_config.add_tfds_id:
    raise NotImplementedError("add_tfds_id is not mocked")
  name = self.info.full_name.rsplit("/", 1)[0]  # "lsun/bedroom/3.1.0"
  split_of_file = {}
  for base in self.info.splits.keys():
    for instruction in self.info.splits[base].file_instructions:
      split_of_file[os.fspath(instruction.filename)] = base
  keys = []
  for instruction in self.info.splits[split].file_instructions:
    base = split_of_file[os.fspath(instruction.filename)]
    keys += [(base, i) for i in
             range(instruction.skip, instruction.skip + instruction.take)]
  features = self.info.features
  tensor_info = features.get_tensor_info()
  static_shape = tuple(features["image"].shape)

  def generate():
    for base, index in keys:
      other = mocking.RandomFakeGenerator(
          features, num_examples=1, seed=zlib.crc32(f"{base}{index}".encode()))
      example = other[0]
      shape = stored_image_shape(name, base, index, static_shape)
      example["image"] = stored_image(name, base, index, shape)
      yield example

  ds = tf.data.Dataset.from_generator(
      generate,
      output_signature=tf.nest.map_structure(
          lambda t: tf.TensorSpec(t.shape, t.dtype), tensor_info))
  return ds.apply(tf.data.experimental.assert_cardinality(len(keys)))


@contextlib.contextmanager
def mocked(root):
  """Mocks TFDS so that every builder is a prepared fake from `root`.

  Args:
    root: a folder where `write_metadata` wrote the datasets' metadata.

  Yields:
    `root`.
  """
  with tfds.testing.mock_data(
      policy=tfds.testing.MockPolicy.USE_FILES, data_dir=os.fspath(root),
      as_dataset_fn=fake_as_dataset):
    yield root


def raw_examples(name, split):
  """The stored images of `split` of `name`, in order, as a list.

  Call it inside `mocked`.
  """
  builder = tfds.builder(name)
  ds = builder.as_dataset(split=split, shuffle_files=False)
  return [ex["image"] for ex in tfds.as_numpy(ds)]


def undequantize(out):
  """The 8-bit values under dequantized pipeline output `out` (`x + u`, `u`
  in [0, 1)), checked to be float32 values in [0, 256)."""
  out = np.asarray(out)
  assert out.dtype == np.float32
  assert out.min() >= 0.0 and out.max() < 256.0
  return np.floor(out).astype(np.uint8)
