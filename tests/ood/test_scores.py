"""tfnvp.ood.scores: the definitions of the complexity, the pixels'
bits/dim and the ood_score."""

import math
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfnvp
from tfnvp import ood
from tests.ood.images import SHAPE
from tests.ood.images import make_images

tfd = tfp.distributions


def _png_chunks(data):
  """`[(type, payload)]` of a PNG file, checking its signature and CRCs."""
  assert data[:8] == b"\x89PNG\r\n\x1a\n"
  chunks, i = [], 8
  while i < len(data):
    length, kind = struct.unpack(">I4s", data[i:i + 8])
    payload = data[i + 8:i + 8 + length]
    crc, = struct.unpack(">I", data[i + 8 + length:i + 12 + length])
    assert crc == zlib.crc32(kind + payload)
    chunks.append((kind, payload))
    i += 12 + length
  return chunks


@pytest.mark.parametrize("shape", [(8, 6, 1), (5, 7, 3), (12, 10, 4)])
def test_complexity_is_the_length_of_a_valid_lossless_png(shape):
  images = make_images(5, 1, shape)
  got = tfnvp.complexity_bits_per_dim(images).numpy()
  assert got.shape == (5,) and got.dtype == np.float32
  for image, bits in zip(images, got):
    data = tf.io.encode_png(image, compression=9).numpy()
    assert bits == pytest.approx(8 * len(data) / math.prod(shape), rel=1e-6)
    # An independent reading of the file: header, and the zlib stream of
    # its filtered rows (one filter byte per row).
    chunks = dict(_png_chunks(data))
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert (height, width) == shape[:2]
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (
        width * shape[-1] + 1)
    np.testing.assert_array_equal(tf.io.decode_png(data, shape[-1]), image)
  # Premise: the images differ in complexity, the noisy ones the most.
  assert got.max() - got.min() > 1.0


def test_complexity_orders_images_and_compression_levels():
  """28x28: a flat image costs PNG's headers (~60 bytes, 0.6 bits/dim) and
  little more; noise does not compress."""
  flat = np.full((1, 28, 28, 1), 100, np.uint8)
  noise = np.random.default_rng(0).integers(0, 256, (1, 28, 28, 1)).astype(
      np.uint8)
  both = np.concatenate([flat, noise])
  best, none = (tfnvp.complexity_bits_per_dim(both, c).numpy()
                for c in (9, 0))
  assert 0.6 < best[0] < 1.0 and 8.0 < best[1]
  # Level 0 stores the rows: at least the 8 raw bits of each value.
  assert np.all(none >= 8.0) and np.all(none >= best)


def test_complexity_runs_under_tf_function_with_a_none_batch():
  fn = tf.function(tfnvp.complexity_bits_per_dim, input_signature=[
      tf.TensorSpec([None, *SHAPE], tf.uint8)])
  images = make_images(3)
  np.testing.assert_array_equal(fn(images),
                                tfnvp.complexity_bits_per_dim(images))
  assert fn(images[:0]).shape == (0,)


def test_complexity_refuses_empty_images_of_unknown_static_size():
  """An `InvalidArgumentError` naming `images`, not the PNG encoder's
  `InternalError`."""
  fn = tf.function(tfnvp.complexity_bits_per_dim, input_signature=[
      tf.TensorSpec([None, None, None, 1], tf.uint8)])
  images = make_images(2)
  np.testing.assert_array_equal(fn(images),
                                tfnvp.complexity_bits_per_dim(images))
  with pytest.raises(tf.errors.InvalidArgumentError, match=(
      r"`images` must hold images of at least one pixel.*got shape\] "
      r"\[2 3 0 1\]")):
    fn(np.zeros((2, 3, 0, 1), np.uint8))


@pytest.mark.parametrize("images, error, message", [
    (np.zeros((2, *SHAPE), np.float32), TypeError,
     "`images` must be uint8 .* got a float32 array"),
    (tf.zeros((2, *SHAPE), tf.int32), TypeError,
     r"`images` must be uint8 .* got dtype int32\. .*check that the values "
     r"are integers in \[0, 255\] \(or clip them explicitly\) before "
     "converting, since a conversion to uint8 wraps 256 to 0"),
    (np.zeros((2, 0, 6, 1), np.uint8), ValueError,
     r"`images` must hold images of at least one pixel, \[n, H, W, C\] "
     r"with H, W >= 1; got shape \(2, 0, 6, 1\)"),
    (np.zeros((2, 8, 0, 3), np.uint8), ValueError,
     r"at least one pixel.*got shape \(2, 8, 0, 3\)"),
    (np.zeros(SHAPE, np.uint8), ValueError,
     r"\[n, H, W, C\] with C in 1..4 .* got shape \(8, 6, 1\)"),
    (np.zeros((2, 8, 6, 5), np.uint8), ValueError,
     r"got shape \(2, 8, 6, 5\)"),
])
def test_complexity_refuses_bad_images(images, error, message):
  with pytest.raises(error, match=message):
    tfnvp.complexity_bits_per_dim(images)


@pytest.mark.parametrize("level", [10, -2, 2.0, True])
def test_complexity_refuses_a_bad_level(level):
  with pytest.raises(ValueError, match=r"`compression` must be an int in "
                     rf"-1..9 .*got {level!r}"):
    tfnvp.complexity_bits_per_dim(make_images(1), level)


def test_ood_score_is_bits_per_dim_minus_complexity(flow):
  images = make_images(6, 2)
  centres = images.astype(np.float32) + 0.5
  at_centres = tfnvp.bits_per_dim(flow, centres).numpy()
  np.testing.assert_allclose(ood.pixel_bits_per_dim(flow, images, 0),
                             at_centres, rtol=1e-6)
  complexity = tfnvp.complexity_bits_per_dim(images).numpy()
  for k in (0, 4):
    np.testing.assert_allclose(
        tfnvp.ood_score(flow, images, num_samples=k),
        ood.pixel_bits_per_dim(flow, images, k).numpy() - complexity,
        rtol=1e-5, atol=1e-5)
  # Premise: the random weights make the images' bits/dim differ, and the
  # density varies within a pixel's interval.
  assert np.ptp(at_centres) > 0.1
  assert np.abs(ood.pixel_bits_per_dim(flow, images).numpy() -
                at_centres).max() > 1e-3


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_pixel_bits_per_dim_estimates_the_pixels_probability(dtype):
  """One pixel of density N(100.3, 1): P(x) = Phi(x + 0.7 - 100) -
  Phi(x - 100.3), curved enough within a pixel's interval that the density
  at its centre is another number. One pattern of a uniform density is
  exact."""
  normal = tfd.Sample(tfd.Normal(tf.constant(100.3, dtype), 1.0), [1, 1, 1])
  images = np.arange(97, 104, dtype=np.uint8).reshape(-1, 1, 1, 1)
  x = images.reshape(-1).astype(np.float64)
  cdf = tfd.Normal(np.float64(100.3), 1.0).cdf
  exact = -np.log2(cdf(x + 1) - cdf(x))
  # 2**16 patterns: the estimate's standard error is at most ~0.004 bits
  # (at the pixels 3 sigma out, where the density varies 20-fold across
  # the interval).
  got = ood.pixel_bits_per_dim(normal, images, 2**16).numpy()
  np.testing.assert_allclose(got, exact, atol=0.015)
  centres = ood.pixel_bits_per_dim(normal, images, 0).numpy()
  assert np.abs(centres - exact).max() > 0.1       # premise
  uniform = tfd.Sample(tfd.Uniform(tf.constant(0.0, dtype), 256.0), SHAPE)
  np.testing.assert_allclose(
      ood.pixel_bits_per_dim(uniform, make_images(3), 1), 8.0, rtol=1e-6)


def test_pixel_bits_per_dim_does_not_depend_on_the_batch(flow):
  """The noise patterns are the same for every image: an image's value is
  the same alone, in a batch, and under tf.function with a None batch."""
  images = make_images(5, 3)
  batch = ood.pixel_bits_per_dim(flow, images).numpy()
  alone = [ood.pixel_bits_per_dim(flow, images[i:i + 1]).numpy()[0]
           for i in range(5)]
  np.testing.assert_allclose(alone, batch, rtol=1e-5)
  fn = tf.function(lambda x: ood.pixel_bits_per_dim(flow, x),
                   input_signature=[tf.TensorSpec([None, *SHAPE], tf.uint8)])
  np.testing.assert_allclose(fn(images[::-1]), batch[::-1], rtol=1e-5)
  other = ood.pixel_bits_per_dim(flow, images, seed=1).numpy()
  assert np.abs(other - batch).max() > 1e-4       # premise: seeds differ


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_samples=-1),
     r"`num_samples` must be an int in \[0, 2147483647\] .*got -1"),
    (dict(num_samples=2.0), "`num_samples` must be an int in"),
    (dict(num_samples=2**31), "`num_samples` .*got 2147483648"),
    (dict(seed="a"), "`seed` must be an int in int64's range; got 'a'"),
    (dict(seed=2**63), "`seed` must be an int in int64's range"),
    (dict(seed=True), "`seed` must be an int in int64's range; got True"),
])
def test_pixel_bits_per_dim_refuses_bad_arguments(flow, kwargs, message):
  with pytest.raises(ValueError, match=message):
    ood.pixel_bits_per_dim(flow, make_images(1), **kwargs)


def test_pixel_bits_per_dim_takes_every_int64_seed(flow):
  images = make_images(2)
  for seed in (-2**63, 2**63 - 1):
    assert np.all(np.isfinite(ood.pixel_bits_per_dim(flow, images, 1, seed)))


def test_ood_score_refuses_images_of_another_shape_or_dtype(flow):
  with pytest.raises(ValueError, match=r"`images` must be \[n, 8, 6, 1\] "
                     r"for this flow; got shape \(2, 6, 8, 1\)"):
    tfnvp.ood_score(flow, np.zeros((2, 6, 8, 1), np.uint8))
  with pytest.raises(TypeError, match="uint8"):
    tfnvp.ood_score(flow, np.zeros((2, *SHAPE), np.float32) + 0.5)
  with pytest.raises(ValueError, match=r"at least one pixel.*got shape "
                     r"\(1, 0, 6, 1\)"):
    tfnvp.ood_score(flow, np.zeros((1, 0, 6, 1), np.uint8))
