"""Tests of tfnvp/data/preprocessing.py: dequantization and the paper's
crops, resizes and flips, on synthetic images."""

import numpy as np
import pytest
import tensorflow as tf

from tfnvp import data


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


# --- dequantization keeps every pixel in its own interval ---------------------


def test_dequantize_stays_below_the_next_pixel_value():
  """`floor(dequantize(x)) == x`: `x + u` never rounds up to `x + 1`.

  The mock images exposed it: in float32 `x + u` rounds to `x + 1` when `u`
  is within half a float32 spacing of 1, for every `x` (not only 255), a
  few times per million elements; the preprocessed pixel then read `x + 1`.
  """
  shape = (1024, 4096)  # 2**22 elements, each value 0..255 ~16k times
  images = tf.constant(np.arange(np.prod(shape)).reshape(shape) % 256,
                       tf.uint8)
  seed = tf.constant([3, 9], tf.int64)
  noise = tf.random.stateless_uniform(shape, seed=seed, dtype=tf.float32)
  x = images.numpy().astype(np.float32)
  unclamped = (x + noise.numpy()).astype(np.float32)
  rounded_up = unclamped == x + 1
  assert rounded_up[x < 255].sum() > 5, "edge case not reached"

  out = data.dequantize(images, seed=seed).numpy()
  np.testing.assert_array_equal(np.floor(out), x)
  assert out.max() <= data.MAX_DEQUANTIZED_VALUE < 256.0
  np.testing.assert_array_equal(out[~rounded_up], unclamped[~rounded_up])
  np.testing.assert_array_equal(
      out[rounded_up], np.nextafter(x[rounded_up] + 1, np.float32(0)))



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
