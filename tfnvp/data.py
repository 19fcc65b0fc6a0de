"""TFDS image datasets as model inputs: preparation (offline too) and pipelines.

The pipelines yield batches of float32 images of shape `[batch, H, W, C]`
with values in `[0, 256)`: the raw 8-bit pixel values plus uniform
dequantization noise `u ~ U[0, 1)`. Labels are dropped, because the models
are unconditional density models. Scaling to `[0, 1)` and the logit
transform of the Real NVP paper belong to the model, not to this module.

Preprocessing follows Dinh, Sohl-Dickstein and Bengio, *Density estimation
using Real NVP* (ICLR 2017), section 4.1, where it describes it:

* CelebA: an approximately central 148x148 crop, resized to 64x64.
* LSUN (bedroom, tower, church outdoor): downscale so that the smaller side
  is 96 pixels, then take random 64x64 crops.
* Downsampled ImageNet 32x32 and 64x64: used as is.

Random horizontal flips: the choice made here is flips for CIFAR-10, CelebA
and LSUN, and none for downsampled ImageNet. This was decided from what is
remembered of the paper text, a secondary summary of it ("horizontal flips for
CIFAR-10, CelebA, LSUN") and the authors' released code (`tensorflow/models`,
`research/real_nvp`), which flips CelebA and LSUN in training and not
ImageNet. The exact paper sentence could not be checked offline, so treat this
as a best reading, not a quotation. MNIST and Fashion-MNIST are not in the
paper; they are not flipped (digits and clothes are not mirror-symmetric data).

Offline preparation: when a *raw data directory* is found (see
`resolve_raw_data_dir`), `prepare` gives TFDS the original files
through `DownloadConfig(manual_dir=<raw>/<name>)` and uses one
`download_dir` per dataset. A shared `download_dir` lets a dataset silently
reuse another dataset's extracted files when the file names collide (it turns
`fashion_mnist` into MNIST), see `shared/data/README.md`.

Needs TensorFlow Datasets: the `data` extra (`pip install "tfnvp[data]"`).
"""

import dataclasses
import os
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfnvp import ood

__all__ = [
    "DATASETS",
    "DEFAULT_CALIBRATION_EXAMPLES",
    "DEFAULT_EVAL_SEED",
    "DatasetSpec",
    "MAX_DEQUANTIZED_VALUE",
    "RAW_DATA_DIR_ENV",
    "calibrate",
    "dequantize",
    "get_spec",
    "make_dataset",
    "pixel_batches",
    "prepare",
    "preprocess_image",
    "resolve_raw_data_dir",
]

# Environment variable naming the raw data directory (see
# `resolve_raw_data_dir`).
RAW_DATA_DIR_ENV = "TFNVP_RAW_DATA_DIR"

# Seed of the evaluation dequantization noise when `make_dataset` gets no
# `seed`.
DEFAULT_EVAL_SEED = 0

# Images `calibrate` reads by default.
DEFAULT_CALIBRATION_EXAMPLES = 10_000

# Largest float32 value below 256: the largest value `dequantize` returns.
MAX_DEQUANTIZED_VALUE = float(np.nextafter(np.float32(256.0), np.float32(0.0)))

_AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """How one TFDS dataset is turned into model inputs.

  Preprocessing runs in this order: `crop_box` (if set), resize so that
  the smaller side equals `resize_smaller_side` (if set), a crop to
  `image_shape` (random in training, central in evaluation; only when
  `resize_smaller_side` is set), then a random horizontal flip (training
  only, if `horizontal_flip`).

  Attributes:
    name: TFDS name, including the config if any (`"lsun/bedroom"`).
    image_shape: `(height, width, channels)` of the model input.
    train_split: TFDS split used for training.
    eval_split: TFDS split used for evaluation (the one the paper
      reports on, where known).
    horizontal_flip: Whether training uses random horizontal flips.
    crop_box: Optional `(offset_height, offset_width, height, width)`
      crop applied to the stored image first.
    resize_smaller_side: Optional target length of the smaller image side
      (aspect ratio kept) after `crop_box`.
    notes: Free-text provenance of the choices above.
  """

  name: str
  image_shape: tuple[int, int, int]
  train_split: str
  eval_split: str
  horizontal_flip: bool
  crop_box: tuple[int, int, int, int] | None = None
  resize_smaller_side: int | None = None
  notes: str = ""

  def __post_init__(self) -> None:
    if len(self.image_shape) != 3 or min(self.image_shape) <= 0:
      raise ValueError(
          f"image_shape must be 3 positive ints, got {self.image_shape!r}"
      )
    if self.crop_box is not None and (
        len(self.crop_box) != 4
        or min(self.crop_box[:2]) < 0
        or min(self.crop_box[2:]) <= 0
    ):
      raise ValueError(f"invalid crop_box {self.crop_box!r}")
    if self.resize_smaller_side is not None and self.resize_smaller_side < max(
        self.image_shape[:2]
    ):
      raise ValueError(
          f"resize_smaller_side={self.resize_smaller_side} is smaller than "
          f"the target image size {self.image_shape[:2]}"
      )

  @property
  def num_dims(self) -> int:
    """Number of scalar dimensions of one image (`H * W * C`)."""
    height, width, channels = self.image_shape
    return height * width * channels


def _build_specs() -> Mapping[str, DatasetSpec]:
  specs = [
      DatasetSpec(
          name="mnist",
          image_shape=(28, 28, 1),
          train_split="train",
          eval_split="test",
          horizontal_flip=False,
          notes="Not in the Real NVP paper; no flips.",
      ),
      DatasetSpec(
          name="fashion_mnist",
          image_shape=(28, 28, 1),
          train_split="train",
          eval_split="test",
          horizontal_flip=False,
          notes="Not in the Real NVP paper; no flips.",
      ),
      DatasetSpec(
          name="cifar10",
          image_shape=(32, 32, 3),
          train_split="train",
          eval_split="test",
          horizontal_flip=True,
          notes="Paper: random horizontal flips for CIFAR-10.",
      ),
      DatasetSpec(
          name="celeb_a",
          image_shape=(64, 64, 3),
          train_split="train",
          # The authors' code evaluates on 19962 images: the CelebA test
          # partition (validation has 19867).
          eval_split="test",
          horizontal_flip=True,
          # 218x178 aligned images; rows 40..187 and columns 15..162 as in
          # the authors' code ("approximately central crop of 148x148").
          crop_box=(40, 15, 148, 148),
          resize_smaller_side=64,
          notes="Paper: approximately central 148x148 crop resized to 64x64; "
          "flips as in the authors' code.",
      ),
  ]
  for size in (32, 64):
    specs.append(
        DatasetSpec(
            name=f"downsampled_imagenet/{size}x{size}",
            image_shape=(size, size, 3),
            train_split="train",
            eval_split="validation",
            horizontal_flip=False,
            notes="Paper: downsampled ImageNet used as is; the authors' "
            "code does not flip it.",
        )
    )
  for category in ("bedroom", "church_outdoor", "tower"):
    specs.append(
        DatasetSpec(
            name=f"lsun/{category}",
            image_shape=(64, 64, 3),
            train_split="train",
            eval_split="validation",
            horizontal_flip=True,
            resize_smaller_side=96,
            notes="Paper: smaller side downscaled to 96, random 64x64 "
            "crops (central crop for evaluation here, to make it "
            "deterministic); flips as in the authors' code.",
        )
    )
  return MappingProxyType({spec.name: spec for spec in specs})


# Supported datasets: TFDS name -> `DatasetSpec` (read-only mapping).
DATASETS: Mapping[str, DatasetSpec] = _build_specs()


def get_spec(name: str) -> DatasetSpec:
  """Returns the `DatasetSpec` of a supported dataset.

  Args:
    name: TFDS name, e.g. `"mnist"` or `"lsun/bedroom"`.

  Returns:
    The dataset's spec.

  Raises:
    ValueError: If `name` is not in `DATASETS`.
  """
  try:
    return DATASETS[name]
  except (KeyError, TypeError):
    raise ValueError(
        f"Unknown dataset name={name!r}; supported: "
        f"{', '.join(sorted(DATASETS))}"
    ) from None


def _existing_dir(path: str, source: str) -> str:
  resolved = os.path.abspath(os.path.expanduser(path))
  if not os.path.isdir(resolved):
    if os.path.exists(resolved):
      what = "is not a directory"
    else:
      what = "does not exist"
    raise FileNotFoundError(
        f"Raw data directory {resolved!r} (from {source}) {what}."
    )
  return resolved


def resolve_raw_data_dir(raw_data_dir: str | None = None) -> str | None:
  """Finds the folder holding original dataset files for offline preparation.

  The folder holds one subfolder per dataset (`<dir>/mnist`,
  `<dir>/fashion_mnist`, ...) with the files TFDS would download. Lookup
  order:

  1. `raw_data_dir` if it is not None (`--raw-data-dir`);
  2. the environment variable `TFNVP_RAW_DATA_DIR` if it is set;
  3. None: TFDS downloads the data as usual.

  Nothing is guessed from the working directory or from where the package
  is installed. An empty string (as argument or in the environment
  variable) also returns None.

  Args:
    raw_data_dir: Explicit folder, or None to look further.

  Returns:
    The absolute path of the folder, or None.

  Raises:
    FileNotFoundError: If the explicit argument or the environment
      variable names a path that is not an existing directory. The
      message names the path and where it came from.
  """
  if raw_data_dir is not None:
    if raw_data_dir == "":
      return None
    return _existing_dir(raw_data_dir, "raw_data_dir (--raw-data-dir)")
  from_env = os.environ.get(RAW_DATA_DIR_ENV)
  if from_env:
    return _existing_dir(
        from_env, f"the environment variable {RAW_DATA_DIR_ENV}")
  return None


def prepare(
    name: str,
    data_dir: str | None = None,
    raw_data_dir: str | None = None,
) -> tfds.core.DatasetBuilder:
  """Builds the TFDS builder of a supported dataset and prepares its data.

  If the dataset is already prepared in `data_dir`, nothing is read or
  downloaded. Otherwise, when `resolve_raw_data_dir` finds a raw data
  folder, TFDS prepares the dataset offline from
  `<raw_data_dir>/<name>` (checksums are still verified by TFDS), with the
  per-dataset download folder `<data_dir>/downloads/<name>`. Without a raw
  data folder, TFDS downloads the data as usual.

  Args:
    name: Supported TFDS name (a key of `DATASETS`).
    data_dir: TFDS data directory; None uses the TFDS default
      (`~/tensorflow_datasets` or `$TFDS_DATA_DIR`).
    raw_data_dir: Raw data folder, see `resolve_raw_data_dir`.

  Returns:
    The prepared `tfds.core.DatasetBuilder`.

  Raises:
    ValueError: If `name` is not supported.
    FileNotFoundError: If the raw data folder given (or found) is missing,
      or lacks the subfolder of this dataset while the dataset still
      needs preparing.
  """
  get_spec(name)
  raw_root = resolve_raw_data_dir(raw_data_dir)
  builder = tfds.builder(name, data_dir=data_dir)
  if builder.is_prepared():
    return builder
  if raw_root is None:
    builder.download_and_prepare()
    return builder
  manual_dir = os.path.join(raw_root, name)
  if not os.path.isdir(manual_dir):
    raise FileNotFoundError(
        f"Raw data directory {raw_root!r} has no subfolder for dataset "
        f"{name!r} (expected {manual_dir!r}). Add the original files there, "
        f"point raw_data_dir/{RAW_DATA_DIR_ENV} elsewhere, or set it to '' "
        "to let TFDS download the data."
    )
  # One download folder per dataset: TFDS caches extractions of manual_dir
  # files by file name, and mnist and fashion_mnist share file names.
  download_dir = os.path.join(
      os.fspath(builder.data_dir_root), "downloads", name)
  builder.download_and_prepare(
      download_dir=download_dir,
      download_config=tfds.download.DownloadConfig(
          manual_dir=manual_dir, try_download_gcs=False
      ),
  )
  return builder


def dequantize(
    images: tf.Tensor,
    seed: tf.Tensor | Sequence[int] | None = None,
) -> tf.Tensor:
  """Uniform dequantization: integer pixels to float32 values in [0, 256).

  Returns `x + u` with `u ~ U[0, 1)` drawn independently per element.
  With a `seed` the noise is `tf.random.stateless_uniform(shape, seed)`
  (float32), so the result is a deterministic function of `(images,
  seed)`; without one it comes from the global TF random state.

  In float32, `x + u` rounds up to exactly `x + 1` when `u` is within half
  a float32 spacing at `x` of 1 (about `2**-17` for `x` in [128, 255],
  `2**-18` in [64, 127], ...), which happens for a few elements per
  million. Such a value would belong to the next pixel value's interval
  (and for `x = 255` leave `[0, 256)`), so the result is clamped to the
  largest float32 below `x + 1`: it always lies in `[x, x + 1)`, hence
  `floor(dequantize(x)) == x`, and it is at most `MAX_DEQUANTIZED_VALUE`
  (the largest float32 below 256).

  Args:
    images: Integer tensor (typically uint8) of pixel values in [0, 255].
    seed: Optional stateless seed, shape `[2]` int32/int64.

  Returns:
    float32 tensor of the same shape, values in `[0, 256)`.

  Raises:
    TypeError: If `images` is not of an integer dtype.
  """
  images = tf.convert_to_tensor(images)
  if not images.dtype.is_integer:
    raise TypeError(
        "dequantize expects integer pixel values, got dtype "
        f"{images.dtype.name}"
    )
  x = tf.cast(images, tf.float32)
  if seed is None:
    noise = tf.random.uniform(tf.shape(x), dtype=tf.float32)
  else:
    noise = tf.random.stateless_uniform(
        tf.shape(x), seed=seed, dtype=tf.float32)
  # The largest float32 below x + 1 (x + 1 is exact for 8-bit values).
  upper = tf.math.nextafter(x + 1.0, x)
  return tf.minimum(x + noise, upper)


def _resize_smaller_side(image: tf.Tensor, target: int) -> tf.Tensor:
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  smaller = tf.minimum(height, width)
  scale = tf.cast(target, tf.float64) / tf.cast(smaller, tf.float64)

  def scaled(side: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.round(tf.cast(side, tf.float64) * scale), tf.int32)

  new_height = tf.where(height == smaller, target, scaled(height))
  new_width = tf.where(width == smaller, target, scaled(width))
  resized = tf.image.resize(
      image, tf.stack([new_height, new_width]), method="bilinear",
      antialias=True)
  # Keep the data 8-bit: dequantization assumes integer pixel values.
  return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def _central_crop(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
  shape = tf.shape(image)
  return tf.image.crop_to_bounding_box(
      image, (shape[0] - height) // 2, (shape[1] - width) // 2, height, width
  )


def preprocess_image(
    image: tf.Tensor,
    spec: DatasetSpec,
    *,
    training: bool,
    seed: tf.Tensor | Sequence[int],
    dequantized: bool = True,
) -> tf.Tensor:
  """Turns one stored image into one model input, as described by `spec`.

  Applies `spec.crop_box`, the smaller-side resize (rounded back to
  8-bit values), the crop to `spec.image_shape` (random in training,
  central otherwise), the random horizontal flip (training and
  `spec.horizontal_flip` only) and `dequantize`. All randomness is
  stateless and derived from `seed`.

  Args:
    image: uint8 tensor `[height, width, channels]` as stored by TFDS.
    spec: The dataset's `DatasetSpec`.
    training: Random crops and flips if True; deterministic otherwise.
    seed: Stateless seed, shape `[2]` int32/int64.
    dequantized: False returns the uint8 pixels, without `dequantize`.

  Returns:
    float32 tensor of shape `spec.image_shape` with values in
    `[0, 256)` (uint8 if not `dequantized`).

  Raises:
    tf.errors.InvalidArgumentError: At run time, if the image does not
      end up with shape `spec.image_shape`.
  """
  height, width, channels = spec.image_shape
  crop_seed, flip_seed, noise_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, num=3)
  )
  if spec.crop_box is not None:
    image = tf.image.crop_to_bounding_box(image, *spec.crop_box)
  if spec.resize_smaller_side is not None:
    image = _resize_smaller_side(image, spec.resize_smaller_side)
    if training:
      image = tf.image.stateless_random_crop(
          image, [height, width, channels], seed=crop_seed
      )
    else:
      image = _central_crop(image, height, width)
  if training and spec.horizontal_flip:
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
  image = tf.ensure_shape(image, spec.image_shape)
  if not dequantized:
    return image
  return dequantize(image, seed=noise_seed)


def _check_positive_int(name: str, value: object) -> None:
  is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
  if not is_int or value <= 0:
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
) -> tf.data.Dataset:
  """Builds the input pipeline of one split: batches of dequantized images.

  The dataset is prepared first if needed (see `prepare`). Each
  element is a float32 tensor `[batch, H, W, C]` with values in
  `[0, 256)` (labels are dropped), where `batch` is the per-replica
  batch size.

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

  Returns:
    A `tf.data.Dataset` of float32 (uint8 if not `dequantized`) image
    batches, prefetched.

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
  if seed is not None and (
      isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
  ):
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
  ds = ds.map(lambda example: example["image"], num_parallel_calls=_AUTOTUNE)

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

    def train_map(image: tf.Tensor, rnd: tf.Tensor) -> tf.Tensor:
      seed_pair = tf.stack([rnd, tf.constant(pipeline_id, tf.int64)])
      return preprocess_image(image, spec, training=True, seed=seed_pair,
                              dequantized=dequantized)

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

    def eval_map(index: tf.Tensor, image: tf.Tensor) -> tf.Tensor:
      seed_pair = tf.stack([tf.constant(eval_seed, tf.int64), index])
      return preprocess_image(image, spec, training=False, seed=seed_pair,
                              dequantized=dequantized)

    ds = ds.map(eval_map, num_parallel_calls=_AUTOTUNE)

  ds = ds.batch(batch_size, drop_remainder=drop_remainder)
  return ds.prefetch(_AUTOTUNE)


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

  The input of `tfnvp.ood`'s scores: `make_dataset(..., training=False,
  dequantized=False, drop_remainder=False)`.

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


def calibrate(
    flow,
    name: str,
    split: str | None = None,
    num_examples: int = DEFAULT_CALIBRATION_EXAMPLES,
    *,
    false_positive_rate: float = 0.05,
    score: str = "ood_score",
    batch_size: int = 256,
    data_dir: str | None = None,
    raw_data_dir: str | None = None,
) -> ood.OutlierCalibration:
  """A `tfnvp.OutlierCalibration` of `flow` on images of a dataset.

  Args:
    flow: A `tfnvp.RealNVP` or `tfnvp.Glow` of the dataset's images.
    name: Supported TFDS name.
    split: TFDS split, or None for the spec's `train_split`.
    num_examples: Its first `num_examples` images.
    false_positive_rate: See `OutlierCalibration.estimate`.
    score: See `OutlierCalibration.estimate`.
    batch_size: Images per `log_prob` call.
    data_dir: TFDS data directory.
    raw_data_dir: See `resolve_raw_data_dir`.

  Returns:
    The calibration; its `source` names the dataset and images.

  Raises:
    ValueError: A dataset of other images than `flow`'s, bad arguments.
    FileNotFoundError: See `prepare`.
  """
  split = get_spec(name).train_split if split is None else split
  images = pixel_batches(
      name, split, batch_size, num_examples=num_examples,
      image_shape=flow.image_shape, data_dir=data_dir,
      raw_data_dir=raw_data_dir)
  return ood.OutlierCalibration.estimate(
      flow, images, false_positive_rate=false_positive_rate, score=score,
      source=f"{name} {split}[:{num_examples}]")
