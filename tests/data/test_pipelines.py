"""Tests of tfnvp/data/pipelines.py on the real MNIST and Fashion-MNIST
files (prepared offline by the `data_dir` fixture, conftest.py)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.data.real_data import raw_images
from tfnvp import data


def _numpy(ds: tf.data.Dataset) -> np.ndarray:
  return np.concatenate([batch.numpy() for batch in ds])


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
  raw = raw_images(data_dir, "mnist", "test[:128]").astype(np.float32)
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
  raw = raw_images(data_dir, "fashion_mnist", "train[:64]").astype(np.float32)
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
  raw = raw_images(data_dir, "mnist", "train[:256]").astype(np.float32)
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
