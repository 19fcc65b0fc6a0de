"""Tests of tfnvp/data.py on the real MNIST and Fashion-MNIST files.

The `data_dir` fixture (conftest.py) prepares both datasets offline, from
`shared/data` next to the repository, into ONE temporary TFDS data_dir. That is the setting in
which a shared TFDS download folder would turn fashion_mnist into MNIST, so
the label-count test below guards against that pitfall.
"""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfnvp import data

MNIST_TRAIN_LABEL_COUNTS = [
    5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
FASHION_MNIST_TRAIN_LABEL_COUNTS = [6000] * 10


def _numpy(ds: tf.data.Dataset) -> np.ndarray:
  return np.concatenate([batch.numpy() for batch in ds])


def _raw_images(data_dir: str, name: str, split: str) -> np.ndarray:
  builder = tfds.builder(name, data_dir=data_dir)
  ds = builder.as_dataset(split=split, batch_size=-1)
  return tfds.as_numpy(ds)["image"]


def _train_label_counts(data_dir: str, name: str) -> list[int]:
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


# --- offline preparation -------------------------------------------------


def test_shared_data_dir_does_not_mix_mnist_and_fashion_mnist(
    data_dir: str) -> None:
  fashion_counts = _train_label_counts(data_dir, "fashion_mnist")
  assert fashion_counts == FASHION_MNIST_TRAIN_LABEL_COUNTS
  assert _train_label_counts(data_dir, "mnist") == MNIST_TRAIN_LABEL_COUNTS
  mnist = _raw_images(data_dir, "mnist", "test[:100]")
  fashion = _raw_images(data_dir, "fashion_mnist", "test[:100]")
  assert not np.array_equal(mnist, fashion)


def test_prepare_reuses_prepared_data_without_raw_files(
    data_dir: str, tmp_path: Path
) -> None:
  # The raw folder is empty, but mnist is prepared already: nothing to read.
  builder = data.prepare("mnist", data_dir=data_dir, raw_data_dir=str(tmp_path))
  assert builder.info.splits["train"].num_examples == 60_000
  assert builder.info.splits["test"].num_examples == 10_000


def test_prepare_raw_dir_without_dataset_subfolder(tmp_path: Path) -> None:
  raw = tmp_path / "raw"
  raw.mkdir()
  with pytest.raises(FileNotFoundError) as info:
    data.prepare(
        "cifar10", data_dir=str(tmp_path / "tfds"), raw_data_dir=str(raw))
  message = str(info.value)
  assert str(raw) in message
  assert "'cifar10'" in message


def test_prepare_unknown_dataset() -> None:
  with pytest.raises(ValueError) as info:
    data.prepare("not_a_dataset")
  message = str(info.value)
  assert "'not_a_dataset'" in message
  for name in ("mnist", "fashion_mnist", "cifar10", "celeb_a", "lsun/bedroom"):
    assert name in message


# --- resolve_raw_data_dir --------------------------------------------------


def test_resolve_explicit_missing_dir(tmp_path: Path) -> None:
  missing = tmp_path / "nope"
  with pytest.raises(FileNotFoundError) as info:
    data.resolve_raw_data_dir(str(missing))
  assert str(missing) in str(info.value)
  assert "raw_data_dir (--raw-data-dir)" in str(info.value)


def test_resolve_env_var_missing_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
  missing = tmp_path / "nope"
  monkeypatch.setenv(data.RAW_DATA_DIR_ENV, str(missing))
  with pytest.raises(FileNotFoundError) as info:
    data.resolve_raw_data_dir(None)
  assert str(missing) in str(info.value)
  assert data.RAW_DATA_DIR_ENV in str(info.value)


def test_resolve_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
  explicit = tmp_path / "explicit"
  from_env = tmp_path / "env"
  explicit.mkdir()
  from_env.mkdir()
  monkeypatch.setenv(data.RAW_DATA_DIR_ENV, str(from_env))
  assert data.resolve_raw_data_dir(str(explicit)) == str(explicit)
  assert data.resolve_raw_data_dir(None) == str(from_env)
  assert data.resolve_raw_data_dir("") is None
  monkeypatch.setenv(data.RAW_DATA_DIR_ENV, "")
  assert data.resolve_raw_data_dir(None) is None


def test_nothing_is_guessed_without_a_flag_or_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
  """Outside a checkout no repository root is guessed: TFDS downloads."""
  monkeypatch.delenv(data.RAW_DATA_DIR_ENV, raising=False)
  work = tmp_path / "checkout"
  (tmp_path / "shared" / "data").mkdir(parents=True)
  work.mkdir()
  monkeypatch.chdir(work)
  assert data.resolve_raw_data_dir() is None


# --- dequantize ------------------------------------------------------------


def test_dequantize_255_with_noise_close_to_one_stays_below_256() -> None:
  # 2**22 draws: about 32 of them exceed 1 - 2**-17, for which 255 + u
  # rounds to 256.0 in float32.
  shape = (1024, 4096)
  seed = tf.constant([7, 11], tf.int64)
  images = tf.fill(shape, tf.constant(255, tf.uint8))
  noise = tf.random.stateless_uniform(shape, seed=seed, dtype=tf.float32)
  unclamped = (np.float32(255.0) + noise.numpy()).astype(np.float32)
  assert (unclamped == np.float32(256.0)).sum() > 0, "edge case not reached"

  out = data.dequantize(images, seed=seed).numpy()
  assert out.dtype == np.float32
  assert out.max() < 256.0
  assert out.min() >= 255.0
  assert out.max() == np.nextafter(np.float32(256.0), np.float32(0.0))
  below = unclamped < 256.0
  np.testing.assert_array_equal(out[below], unclamped[below])


def test_dequantize_range_and_noise() -> None:
  images = tf.constant(np.arange(256, dtype=np.uint8).reshape(16, 16))
  out = data.dequantize(images, seed=[1, 2]).numpy()
  diff = out - np.arange(256, dtype=np.float32).reshape(16, 16)
  assert ((diff >= 0.0) & (diff < 1.0)).all()
  assert len(np.unique(diff)) > 200
  again = data.dequantize(images, seed=[1, 2]).numpy()
  np.testing.assert_array_equal(out, again)
  stateful = data.dequantize(images).numpy()
  assert ((stateful >= 0.0) & (stateful < 256.0)).all()


def test_dequantize_rejects_float_input() -> None:
  with pytest.raises(TypeError, match="float32"):
    data.dequantize(tf.zeros([2, 2]))


# --- preprocessing of the paper's datasets (synthetic images) -------------


def test_celeb_a_center_crop_and_resize() -> None:
  spec = data.DATASETS["celeb_a"]
  image = np.zeros((218, 178, 3), np.uint8)
  image[40:188, 15:163] = 200  # exactly the 148x148 crop box
  out = data.preprocess_image(
      tf.constant(image), spec, training=False, seed=[0, 0]
  ).numpy()
  assert out.shape == (64, 64, 3)
  assert (np.floor(out) == 200).all()  # nothing from outside the box
  # Training flips at random, so an asymmetric image comes out both ways.
  image[40:188, 15:89] = 10
  flips = set()
  for i in range(12):
    out = data.preprocess_image(
        tf.constant(image), spec, training=True, seed=[i, 1]
    ).numpy()
    flips.add(bool(out[0, 0, 0] >= 200))
  assert flips == {False, True}


def test_lsun_resize_and_crop() -> None:
  spec = data.DATASETS["lsun/bedroom"]
  rng = np.random.default_rng(0)
  image = tf.constant(rng.integers(0, 256, (256, 341, 3), dtype=np.uint8))
  evals = [
      data.preprocess_image(image, spec, training=False, seed=[0, i]).numpy()
      for i in range(2)
  ]
  for out in evals:
    assert out.shape == (64, 64, 3)
    assert (out >= 0).all() and (out < 256).all()
  # Evaluation uses the central crop: same pixels, different noise.
  np.testing.assert_array_equal(np.abs(evals[0] - evals[1]) < 1.0, True)
  trains = [
      data.preprocess_image(image, spec, training=True, seed=[i, 3]).numpy()
      for i in range(4)
  ]
  assert any(np.abs(t - trains[0]).max() > 1.0 for t in trains[1:])


def test_dataset_specs() -> None:
  assert data.DATASETS["mnist"].image_shape == (28, 28, 1)
  assert not data.DATASETS["mnist"].horizontal_flip
  assert not data.DATASETS["fashion_mnist"].horizontal_flip
  assert data.DATASETS["cifar10"].horizontal_flip
  assert data.DATASETS["celeb_a"].image_shape == (64, 64, 3)
  assert data.DATASETS["downsampled_imagenet/64x64"].eval_split == "validation"
  assert data.DATASETS["mnist"].num_dims == 784
  with pytest.raises(dataclasses.FrozenInstanceError):
    data.DATASETS["mnist"].horizontal_flip = True  # type: ignore[misc]
  with pytest.raises(TypeError):
    data.DATASETS["foo"] = data.DATASETS["mnist"]  # type: ignore[index]


# --- make_dataset on real data ----------------------------------------------


def test_eval_batches_shape_range_and_determinism(data_dir: str) -> None:
  ds = data.make_dataset(
      "mnist", "test", 32, training=False, data_dir=data_dir, num_examples=128
  )
  assert ds.element_spec.shape.as_list() == [32, 28, 28, 1]
  assert ds.element_spec.dtype == tf.float32
  first = _numpy(ds)
  assert first.shape == (128, 28, 28, 1)
  assert first.min() >= 0.0 and first.max() < 256.0
  assert (first != np.floor(first)).mean() > 0.99  # dequantized
  raw = _raw_images(data_dir, "mnist", "test[:128]").astype(np.float32)
  diff = first - raw
  assert ((diff >= 0.0) & (diff <= 1.0)).all()  # same order, no flips

  np.testing.assert_array_equal(first, _numpy(ds))  # second pass
  rebuilt = data.make_dataset(
      "mnist", "test", 32, training=False, data_dir=data_dir, num_examples=128
  )
  np.testing.assert_array_equal(first, _numpy(rebuilt))
  other_seed = data.make_dataset(
      "mnist", "test", 32, training=False, data_dir=data_dir,
      num_examples=128, seed=5
  )
  assert not np.array_equal(first, _numpy(other_seed))


def test_eval_drop_remainder(data_dir: str) -> None:
  kwargs = dict(training=False, data_dir=data_dir, num_examples=100)
  assert _numpy(data.make_dataset("mnist", "test", 32, **kwargs)).shape[0] == 96
  kept = _numpy(
      data.make_dataset("mnist", "test", 32, drop_remainder=False, **kwargs))
  assert kept.shape[0] == 100


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Pairwise max |a_i - b_j| over pixels, shape [len(a), len(b)]."""
  a = a.reshape(len(a), -1)
  b = b.reshape(len(b), -1)
  return np.abs(a[:, None, :] - b[None, :, :]).max(axis=-1)


def test_training_is_random_and_repeats(data_dir: str) -> None:
  ds = data.make_dataset(
      "fashion_mnist", "train", 16, training=True, data_dir=data_dir,
      num_examples=64
  )
  it = iter(ds)
  batches = [next(it).numpy() for _ in range(8)]  # 128 > 64: repeats
  for batch in batches:
    assert batch.shape == (16, 28, 28, 1) and batch.dtype == np.float32
    assert batch.min() >= 0.0 and batch.max() < 256.0
    assert (batch != np.floor(batch)).mean() > 0.99
  raw = _raw_images(data_dir, "fashion_mnist", "train[:64]").astype(np.float32)
  epoch1 = np.concatenate(batches[:4])
  epoch2 = np.concatenate(batches[4:])
  # Shuffled: the first epoch is not in file order.
  assert not np.all((epoch1 - raw >= 0) & (epoch1 - raw <= 1))
  # Each epoch holds exactly the 64 examples (x + u is within 1 of x) ...
  for epoch in (epoch1, epoch2):
    match = _max_abs_diff(raw, epoch) <= 1.0
    assert match.any(axis=0).all() and match.any(axis=1).all()
  # ... in another order, and with fresh noise.
  assert not np.array_equal(np.floor(epoch1), np.floor(epoch2))
  pairs = _max_abs_diff(epoch1, epoch2)
  assert (pairs > 0).all()


def test_training_seed_reproducible(data_dir: str) -> None:
  def first_batches(seed: int | None) -> np.ndarray:
    ds = data.make_dataset(
        "mnist", "train", 16, training=True, data_dir=data_dir,
        num_examples=64, seed=seed, shuffle_buffer=64,
    )
    return np.concatenate([b.numpy() for b in ds.take(3)])

  np.testing.assert_array_equal(first_batches(3), first_batches(3))
  assert not np.array_equal(first_batches(3), first_batches(4))
  assert not np.array_equal(first_batches(None), first_batches(None))


def test_training_mnist_is_not_flipped(data_dir: str) -> None:
  # shuffle_buffer=1 keeps the file order, so batches line up with the raw data.
  ds = data.make_dataset(
      "mnist", "train", 32, training=True, data_dir=data_dir, num_examples=256,
      shuffle_buffer=1, repeat=False, seed=0,
  )
  out = _numpy(ds)
  raw = _raw_images(data_dir, "mnist", "train[:256]").astype(np.float32)
  diff = out - raw
  assert ((diff >= 0.0) & (diff <= 1.0)).all()
  # The same images flipped would be far off: the check above has teeth.
  assert np.abs(out[:, :, ::-1] - raw).max() > 100


def test_sharding_with_input_context(data_dir: str) -> None:
  full = _numpy(
      data.make_dataset(
          "mnist", "test", 16, training=False, data_dir=data_dir,
          num_examples=64
      )
  )
  shards = []
  for pipeline_id in range(2):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=pipeline_id,
        num_replicas_in_sync=2)
    ds = data.make_dataset(
        "mnist", "test", 16, training=False, data_dir=data_dir,
        num_examples=64, input_context=context,
    )
    assert ds.element_spec.shape.as_list() == [8, 28, 28, 1]
    shards.append(_numpy(ds))
  assert shards[0].shape == shards[1].shape == (32, 28, 28, 1)
  # Disjoint halves: pipeline i holds examples i, i + 2, ..., with the very
  # same noise as the unsharded pass.
  np.testing.assert_array_equal(shards[0], full[0::2])
  np.testing.assert_array_equal(shards[1], full[1::2])
  assert not np.array_equal(shards[0], shards[1])

  for pipeline_id in range(2):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=pipeline_id,
        num_replicas_in_sync=2)
    ds = data.make_dataset(
        "mnist", "train", 16, training=True, data_dir=data_dir,
        num_examples=64, input_context=context, repeat=False, seed=1,
    )
    batches = [b.numpy() for b in ds]
    assert [b.shape for b in batches] == [(8, 28, 28, 1)] * 4


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (dict(global_batch_size=0), "global_batch_size=0"),
        (dict(global_batch_size=-4), "global_batch_size=-4"),
        (dict(shuffle_buffer=0, training=True), "shuffle_buffer=0"),
        (dict(num_examples=0), "num_examples=0"),
        (dict(num_examples=10_001), "num_examples=10001"),
        (dict(split="validation"), "split='validation'"),
        (dict(num_examples=10, split="test[:50%]"), "split='test[:50%]'"),
        (dict(seed=1.5), "seed=1.5"),
        (dict(name="nope"), "name='nope'"),
        (
            dict(
                global_batch_size=15,
                input_context=tf.distribute.InputContext(2, 0, 2),
            ),
            "num_replicas_in_sync=2",
        ),
    ],
)
def test_make_dataset_validation(
    data_dir: str, kwargs: dict, fragment: str) -> None:
  args = dict(
      name="mnist", split="test", global_batch_size=8, training=False,
      data_dir=data_dir,
  )
  args.update(kwargs)
  with pytest.raises(ValueError) as info:
    data.make_dataset(
        args.pop("name"), args.pop("split"), args.pop("global_batch_size"),
        **args)
  assert fragment in str(info.value)
