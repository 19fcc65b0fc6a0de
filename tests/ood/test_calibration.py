"""tfnvp.ood.calibration: the typical set and the calibrated thresholds."""

import json
import math
import re

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tfnvp import ood
from tests.ood.images import SHAPE
from tests.ood.images import make_images


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
     r"`mean` must be a finite float \(within float32's range\); got nan"),
    (dict(mean=1.0, stddev=0.0, num_examples=5),
     "`stddev` must be a float > 0"),
    (dict(mean=1.0, stddev=1e-46, num_examples=5),    # 0 in float32
     "`stddev` must be a float > 0 .*; got 1e-46"),
    (dict(mean=-1e39, stddev=1.0, num_examples=5),
     "`mean` must be a finite float .*; got -1e[+]39"),
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


def test_the_thresholds_are_conformal_quantiles(flow, calibration):
  images = make_images(199, 4)
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
  held_out = calibration.evaluate(flow, make_images(1000, 5))
  assert abs(held_out["is_outlier"].mean() - 0.1) < 0.03


def test_scores_in_graph_equal_evaluate(flow, calibration):
  images = make_images(7, 6)
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


def _corrupt(value, path, new):
  """`value` (nested dicts) with the field at `path` (keys) set to `new`,
  or deleted if `new` is `_DELETE`."""
  value = json.loads(json.dumps(value))
  *parents, key = path
  field = value
  for parent in parents:
    field = field[parent]
  if new is _DELETE:
    del field[key]
  else:
    field[key] = new
  return value


_DELETE = object()

# (id, path of a field, its new value, message): calibration files that
# `OutlierCalibration.load` refuses, naming the field.
BAD_FILES = [
    ("seed-beyond-int64", ["seed"], 2**64,
     "`seed` must be an int in int64's range; got 18446744073709551616"),
    ("num_samples-beyond-int32", ["num_samples"], 2**31,
     r"`num_samples` must be an int in \[0, 2147483647\]"),
    ("negative-num_samples", ["num_samples"], -1, "`num_samples` must be"),
    ("a-bool-for-compression", ["compression"], True,
     "`compression` must be an int in -1..9 .*got True"),
    ("a-bool-for-num_examples", ["typical_set", "num_examples"], False,
     "`typical_set`: `num_examples` must be an int >= 2; got False"),
    ("a-float-for-seed", ["seed"], 1.0, "`seed` must be an int"),
    ("a-nan-threshold", ["thresholds", "ood_score"], float("nan"),
     r"`thresholds\['ood_score'\]` must be a finite float .*got nan"),
    ("an-infinite-mean", ["typical_set", "mean"], float("inf"),
     "`typical_set`: `mean` must be a finite float"),
    ("a-threshold-beyond-float32", ["thresholds", "bits_per_dim"], 1e39,
     r"`thresholds\['bits_per_dim'\]` must be a finite float \(within "
     r"float32's range\); got 1e\+39"),
    ("an-integer-beyond-float64", ["thresholds", "typicality"], 10**400,
     r"`thresholds\['typicality'\]` must be a finite float .*got 1000"),
    ("a-negative-typicality-threshold", ["thresholds", "typicality"], -0.5,
     r"`thresholds\['typicality'\]` must be >= 0"),
    ("a-string-for-a-float", ["false_positive_rate"], "0.1",
     r"`false_positive_rate` must be a float in \(0, 1\); got '0.1'"),
    ("a-number-for-the-source", ["source"], 5,
     "`source` must be a str; got 5"),
    ("an-unknown-score", ["score"], "likelihood", "`score` must be one of"),
    ("a-list-for-the-score", ["score"], ["ood_score"],
     "`score` must be one of"),
    ("a-rate-the-examples-cannot-give", ["false_positive_rate"], 0.001,
     "A `false_positive_rate` of 0.001 needs at least 999 calibration "
     "images; `typical_set.num_examples` is 199"),
    ("a-missing-field", ["seed"], _DELETE,
     "it lacks the fields seed"),
    ("a-missing-field-of-the-typical-set", ["typical_set", "stddev"],
     _DELETE, "`typical_set`: it lacks the fields stddev"),
    ("an-unknown-field", ["threshold"], 1.0,
     "it has unknown fields threshold"),
    ("a-list-for-the-typical-set", ["typical_set"], [1.0, 0.1, 199],
     "`typical_set`: it must be a JSON object; got list"),
    ("a-list-for-the-thresholds", ["thresholds"], [1.0, 2.0, 3.0],
     "`thresholds` must map each of"),
]


@pytest.mark.parametrize("path, new, message",
                         [case[1:] for case in BAD_FILES],
                         ids=[case[0] for case in BAD_FILES])
def test_calibration_files_are_checked_whole_when_loaded(
    calibration, tmp_path, path, new, message):
  file = str(tmp_path / "calibration.json")
  with open(file, "w", encoding="utf-8") as f:
    json.dump(_corrupt(calibration.to_json(), path, new), f)   # NaN tokens
  with pytest.raises(ValueError, match=re.escape(repr(file)) +
                     f" is not a valid OutlierCalibration: {message}"):
    tfnvp.OutlierCalibration.load(file)


def test_a_calibration_file_that_is_not_an_object_is_refused(tmp_path):
  file = str(tmp_path / "calibration.json")
  with open(file, "w", encoding="utf-8") as f:
    f.write("[1, 2]")
  with pytest.raises(ValueError, match=re.escape(repr(file)) + " is not a "
                     "valid OutlierCalibration: it must be a JSON object; "
                     "got list"):
    tfnvp.OutlierCalibration.load(file)


def test_a_nan_score_is_an_outlier(calibration):
  """`is_outlier` is never false beside a NaN score."""
  below = calibration.threshold - 1.0
  out = calibration.decide(tf.constant([np.nan, below, np.inf]),
                           tf.zeros([3]))
  np.testing.assert_array_equal(out["is_outlier"], [True, False, True])


def test_estimate_takes_any_iterable_of_batches(flow, calibration):
  """A list, a generator or a `tf.data.Dataset` of uint8 batches (of
  any sizes) calibrate as the array of their images does."""
  images = make_images(199, 4)
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
    tfnvp.OutlierCalibration.estimate(flow, make_images(n), **kwargs)
