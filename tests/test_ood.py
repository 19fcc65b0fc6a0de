"""tfnvp.ood: the definitions of the scores, the calibration, the metrics."""

import json
import math
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfnvp
from tfnvp import ood
from tests import kit

tfd = tfp.distributions

SHAPE = (8, 6, 1)     # non-square


@pytest.fixture(scope="module")
def flow():
  flow = tfnvp.RealNVP(image_shape=SHAPE, num_scales=1, hidden_channels=4,
                       num_res_blocks=1)
  kit.randomize_weights(flow.layers, 3, stddev=0.05)
  return flow


def _images(n, seed=0, shape=SHAPE):
  """`n` images: noise of a random amplitude on a flat background; the
  first is flat."""
  rng = np.random.default_rng(seed)
  base = rng.integers(0, 256, size=(n, 1, 1, shape[-1]))
  amplitude = rng.integers(0, 128, size=(n, 1, 1, 1))
  amplitude[0] = 0
  noise = rng.integers(-128, 128, size=(n, *shape)) * amplitude // 128
  return np.clip(base + noise, 0, 255).astype(np.uint8)


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
  images = _images(5, 1, shape)
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
  images = _images(3)
  np.testing.assert_array_equal(fn(images),
                                tfnvp.complexity_bits_per_dim(images))
  assert fn(images[:0]).shape == (0,)


@pytest.mark.parametrize("images, error, message", [
    (np.zeros((2, *SHAPE), np.float32), TypeError,
     "`images` must be uint8 .* got a float32 array"),
    (tf.zeros((2, *SHAPE), tf.int32), TypeError,
     "`images` must be uint8 .* got dtype int32"),
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
    tfnvp.complexity_bits_per_dim(_images(1), level)


def test_ood_score_is_bits_per_dim_minus_complexity(flow):
  images = _images(6, 2)
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
      ood.pixel_bits_per_dim(uniform, _images(3), 1), 8.0, rtol=1e-6)


def test_pixel_bits_per_dim_does_not_depend_on_the_batch(flow):
  """The noise patterns are the same for every image: an image's value is
  the same alone, in a batch, and under tf.function with a None batch."""
  images = _images(5, 3)
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
    (dict(num_samples=-1), "`num_samples` must be an int >= 0"),
    (dict(num_samples=2.0), "`num_samples` must be an int >= 0"),
    (dict(seed="a"), "`seed` must be an int; got 'a'"),
])
def test_pixel_bits_per_dim_refuses_bad_arguments(flow, kwargs, message):
  with pytest.raises(ValueError, match=message):
    ood.pixel_bits_per_dim(flow, _images(1), **kwargs)


def test_ood_score_refuses_images_of_another_shape_or_dtype(flow):
  with pytest.raises(ValueError, match=r"`images` must be \[n, 8, 6, 1\] "
                     r"for this flow; got shape \(2, 6, 8, 1\)"):
    tfnvp.ood_score(flow, np.zeros((2, 6, 8, 1), np.uint8))
  with pytest.raises(TypeError, match="uint8"):
    tfnvp.ood_score(flow, np.zeros((2, *SHAPE), np.float32) + 0.5)


def test_typical_set_statistics():
  rng = np.random.default_rng(0)
  bpd = rng.normal(3.0, 0.2, 500)
  typical = tfnvp.TypicalSet.from_bits_per_dim(bpd)
  assert typical.num_examples == 500
  assert typical.mean == pytest.approx(bpd.mean())
  assert typical.stddev == pytest.approx(bpd.std(ddof=1))
  x = np.array([2.6, 3.0, 3.5])
  np.testing.assert_allclose(typical.typicality(x),
                             np.abs(x - bpd.mean()) / bpd.std(ddof=1))
  batch = rng.normal(3.1, 0.2, (4, 25))
  z = np.abs(batch.mean(-1) - typical.mean) / (typical.stddev / 5)
  np.testing.assert_allclose(typical.batch_typicality(batch), z)
  np.testing.assert_allclose(typical.p_value(batch),
                             [math.erfc(v / math.sqrt(2)) for v in z])


def test_the_batch_p_value_keeps_its_level_and_detects_a_shift():
  """Batches of 20 from the typical distribution: p < 0.05 for about 5% of
  them (binomial: 1,000 batches, 3 sigma is +-2.1 points); a shift of one
  sigma is caught with power P(Z > 1.96 - sqrt(20)) = 0.994."""
  rng = np.random.default_rng(1)
  typical = tfnvp.TypicalSet(mean=2.0, stddev=0.3, num_examples=10_000)
  inside = typical.p_value(rng.normal(2.0, 0.3, (1000, 20))).numpy()
  assert abs(np.mean(inside < 0.05) - 0.05) < 0.021
  shifted = typical.p_value(rng.normal(2.3, 0.3, (1000, 20))).numpy()
  assert np.mean(shifted < 0.05) > 0.98


@pytest.mark.parametrize("kwargs, message", [
    (dict(mean=float("nan"), stddev=1.0, num_examples=5),
     "`mean` must be a finite float; got nan"),
    (dict(mean=1.0, stddev=0.0, num_examples=5), "`stddev` must be > 0"),
    (dict(mean=1.0, stddev=1.0, num_examples=1),
     "`num_examples` must be an int >= 2; got 1"),
])
def test_typical_set_refuses_bad_values(kwargs, message):
  with pytest.raises(ValueError, match=message):
    tfnvp.TypicalSet(**kwargs)


@pytest.mark.parametrize("values, message", [
    ([1.0], "at least 2 values; got shape"),
    ([1.0, float("inf")], "finite; got 1 NaN or inf of 2"),
    ([2.0, 2.0, 2.0], "must not all be equal"),
    ([[1.0, 2.0]], r"a vector .* got shape \(1, 2\)"),
])
def test_typical_set_refuses_bad_bits_per_dim(values, message):
  with pytest.raises(ValueError, match=message):
    tfnvp.TypicalSet.from_bits_per_dim(values)


@pytest.fixture(scope="module")
def calibration(flow):
  return tfnvp.OutlierCalibration.estimate(
      flow, _images(199, 4), false_positive_rate=0.1, source="test")


def test_the_thresholds_are_conformal_quantiles(flow, calibration):
  images = _images(199, 4)
  scores = calibration.evaluate(flow, images)
  bpd = ood.pixel_bits_per_dim(flow, images).numpy()
  assert calibration.num_samples == ood.DEFAULT_NUM_SAMPLES
  assert calibration.typical_set.mean == pytest.approx(bpd.mean(), rel=1e-6)
  # ceil(200 * 0.9) = 180: the 180th smallest; 19 of 199 lie above it.
  for name in ood.SCORES:
    assert calibration.thresholds[name] == pytest.approx(
        np.sort(scores[name])[179], rel=1e-6)
    assert np.sum(scores[name] > calibration.thresholds[name]) == 19
  np.testing.assert_array_equal(
      scores["is_outlier"],
      scores["ood_score"] > calibration.thresholds["ood_score"])
  assert 0 < scores["is_outlier"].sum() < 199      # premise: both classes


def test_held_out_images_keep_the_false_positive_rate(flow, calibration):
  """Exchangeable images: at most 10% flagged in expectation; 1,000 images
  give +-2.9 points at 3 sigma."""
  held_out = calibration.evaluate(flow, _images(1000, 5))
  assert abs(held_out["is_outlier"].mean() - 0.1) < 0.03


def test_scores_in_graph_equal_evaluate(flow, calibration):
  images = _images(7, 6)
  fn = tf.function(lambda x: calibration.scores(flow, x), input_signature=[
      tf.TensorSpec([None, *SHAPE], tf.uint8)])
  graph = fn(images)
  numpy = calibration.evaluate(flow, images, batch_size=3)
  assert graph["is_outlier"].dtype == tf.bool
  for name, value in numpy.items():
    np.testing.assert_allclose(graph[name], value, rtol=1e-5, atol=1e-5,
                               err_msg=name)


def test_calibration_json_round_trip_and_corruption(calibration, tmp_path):
  path = str(tmp_path / "calibration.json")
  calibration.save(path)
  assert tfnvp.OutlierCalibration.load(path) == calibration
  assert json.load(open(path, encoding="utf-8"))["score"] == "ood_score"
  with open(path, "w", encoding="utf-8") as f:
    f.write('{"typical_set": {"mean": 1.0')
  with pytest.raises(ValueError, match="calibration.json' is not valid JSON"):
    tfnvp.OutlierCalibration.load(path)
  value = calibration.to_json()
  value["thresholds"] = {"ood_score": 1.0}
  with pytest.raises(ValueError, match="F is not a valid OutlierCalibration"
                     ": `thresholds` must map each of"):
    tfnvp.OutlierCalibration.from_json(value, "F")


def test_estimate_takes_any_iterable_of_batches(flow, calibration):
  """A list, a generator or a `tf.data.Dataset` of uint8 batches (of
  any sizes) calibrate as the array of their images does."""
  images = _images(199, 4)
  parts = np.split(images, [50, 51, 120])
  for batches in (parts, (p for p in parts),
                  tf.data.Dataset.from_tensor_slices(images).batch(64)):
    got = tfnvp.OutlierCalibration.estimate(
        flow, batches, false_positive_rate=0.1, source="test")
    assert got.typical_set.num_examples == 199
    assert got.typical_set.mean == pytest.approx(
        calibration.typical_set.mean, rel=1e-6)
    for name in ood.SCORES:
      assert got.thresholds[name] == pytest.approx(
          calibration.thresholds[name], rel=1e-5, abs=1e-5)
  with pytest.raises(TypeError, match="`images` must be uint8 images "
                     r"\[n, H, W, C\] or an iterable of such batches; got 3"):
    tfnvp.OutlierCalibration.estimate(flow, 3)
  with pytest.raises(ValueError, match="`images` holds no image"):
    tfnvp.OutlierCalibration.estimate(flow, [])


@pytest.mark.parametrize("kwargs, n, message", [
    (dict(false_positive_rate=0.01), 50,
     "false-positive rate of 0.01 needs at least 99 calibration images; "
     "got 50"),
    (dict(false_positive_rate=1.5), 50,
     r"`false_positive_rate` must be a float in \(0, 1\); got 1.5"),
    (dict(score="likelihood"), 50, "`score` must be one of"),
])
def test_estimate_refuses_bad_arguments(flow, kwargs, n, message):
  with pytest.raises(ValueError, match=message):
    tfnvp.OutlierCalibration.estimate(flow, _images(n), **kwargs)


def test_auroc_and_fpr_equal_their_definitions_with_ties():
  rng = np.random.default_rng(0)
  inside = rng.integers(0, 20, 300).astype(float)
  outside = rng.integers(5, 30, 200).astype(float)
  pairs = (outside[:, None] > inside[None]).mean() + 0.5 * (
      outside[:, None] == inside[None]).mean()
  assert ood.auroc(inside, outside) == pytest.approx(pairs)
  assert ood.auroc(outside, inside) == pytest.approx(1 - pairs)
  threshold = max(t for t in np.unique(outside)
                  if np.mean(outside >= t) >= 0.95)
  assert ood.false_positive_rate_at(inside, outside) == pytest.approx(
      np.mean(inside >= threshold))
  assert ood.auroc([0.0, 1.0], [2.0, 3.0]) == 1.0
  with pytest.raises(ValueError, match="`out_scores` must be finite"):
    ood.auroc([1.0], [float("nan")])
  with pytest.raises(ValueError, match="`true_positive_rate` must be"):
    ood.false_positive_rate_at([1.0], [2.0], 1.0)


def test_detection_metrics_apply_the_calibrations_thresholds(flow,
                                                             calibration):
  inside = calibration.evaluate(flow, _images(50, 7))
  outside = calibration.evaluate(flow, _images(30, 8, SHAPE) // 4)
  table = ood.detection_metrics(calibration, inside, outside, 0.9)
  assert sorted(table) == sorted(ood.SCORES)
  for name, row in table.items():
    threshold = calibration.thresholds[name]
    assert row == {
        "auroc": ood.auroc(inside[name], outside[name]),
        "fpr_at_tpr": ood.false_positive_rate_at(inside[name],
                                                 outside[name], 0.9),
        "flagged_in": np.mean(inside[name] > threshold),
        "flagged_out": np.mean(outside[name] > threshold)}
  # Premise: darker images (a quarter of the values) are told apart.
  assert abs(table["bits_per_dim"]["auroc"] - 0.5) > 0.1
