"""Outlier scores on the command line, on real MNIST and Fashion-MNIST:
`tfnvp-export`'s calibration and `tfnvp-evaluate --ood-dataset`."""

import re

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tfnvp import data
from tfnvp import ood
from tfnvp.export import export as export_lib
from tests.cli import cli_error
from tfnvp.export import serving
from tfnvp.training import evaluate as evaluate_lib
from tests.export.conftest import make_run
from tests.export.expected import assert_scores_match

# One scale: the commands' graphs trace in less than half the time of two
# scales', and nothing here depends on the depth.
MODEL = tfnvp.RealNVPConfig(image_shape=(28, 28, 1), num_scales=1,
                            hidden_channels=4, num_res_blocks=1)


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
  """A 28x28 MNIST run folder with random (non-identity) weights."""
  model_dir = str(tmp_path_factory.mktemp("ood") / "run")
  return model_dir, make_run(model_dir, MODEL, step=4)


def test_export_calibrates_on_the_runs_training_images(mnist_run, data_dir,
                                                      tmp_path, capsys):
  model_dir, flow = mnist_run
  output = tmp_path / "models" / "mnist" / "1"
  assert export_lib.main([
      "--model-dir", model_dir, "--output", str(output), "--data-dir",
      data_dir, "--calibration-examples", "200",
      "--false-positive-rate", "0.1"]) == 0
  out = capsys.readouterr().out
  assert "signatures: serving_default, log_prob, sample, encode, decode, " \
      "interpolate, score" in out, out
  assert re.search(r"calibration: mnist train\[:200\]: typical bits/dim "
                   r"[\d.]+ \+- [\d.]+; is_outlier = ood_score > -?[\d.]+ "
                   r"\(false-positive rate 0.1\)", out), out
  saved = tfnvp.OutlierCalibration.load(str(output /
                                            serving.CALIBRATION_FILE))
  want = ood.OutlierCalibration.estimate(
      flow, data.pixel_batches("mnist", "train", num_examples=200,
                               data_dir=data_dir), false_positive_rate=0.1)
  assert saved.typical_set.num_examples == 200
  assert saved.typical_set.mean == pytest.approx(want.typical_set.mean,
                                                 rel=1e-6)
  for name in ood.SCORES:
    assert saved.thresholds[name] == pytest.approx(want.thresholds[name],
                                                   rel=1e-5, abs=1e-5)
  images = next(iter(data.pixel_batches("mnist", "test", 16,
                                        data_dir=data_dir)))
  served = tf.saved_model.load(str(output)).signatures["score"](
      images=images)
  local = saved.scores(flow, images)
  assert_scores_match(served, local, saved)
  # Premise: real digits and random weights give varied scores.
  assert np.ptp(served["ood_score"]) > 0.01


@pytest.mark.parametrize("extra, message", [
    (["--calibration-examples", "10"], "A false-positive rate of 0.05 needs "
     "at least 19 calibration images; got 10"),
    (["--false-positive-rate", "1.5"], "argument --false-positive-rate: must "
     "be a number in (0, 1); got '1.5'"),
    (["--outlier-score", "likelihood"], "argument --outlier-score: invalid "
     "choice: 'likelihood'"),
    (["--calibration-split", "valid"], "split must be one of ['test', "
     "'train']; got split='valid'"),
])
def test_export_calibration_errors_exit_2_and_write_nothing(
    mnist_run, data_dir, tmp_path, capsys, extra, message):
  model_dir, _ = mnist_run
  output = tmp_path / "models" / "mnist" / "1"
  err = cli_error(export_lib.main, [
      "--model-dir", model_dir, "--output", str(output), "--data-dir",
      data_dir, *extra], capsys)
  assert message in err, err
  assert not output.exists()


def test_evaluate_prints_each_scores_auroc_against_another_dataset(
    mnist_run, data_dir, capsys):
  model_dir, flow = mnist_run
  assert evaluate_lib.main([
      "--model-dir", model_dir, "--data-dir", data_dir, "--num-examples",
      "64", "--ood-dataset", "fashion_mnist", "--calibration-examples",
      "100", "--false-positive-rate", "0.1"]) == 0
  out = capsys.readouterr().out
  assert "outliers: fashion_mnist test (64 images) vs 64 test images; " \
      "thresholds at false-positive rate 0.1 on mnist train[:100]" in out
  rows = {m[0]: [float(v) for v in m[1:]] for m in re.findall(
      r"^(\w+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)}
  assert sorted(rows) == sorted(ood.SCORES), out
  calibration = ood.OutlierCalibration.estimate(
      flow, data.pixel_batches("mnist", "train", num_examples=100,
                               data_dir=data_dir), false_positive_rate=0.1)
  inside, outside = (calibration.evaluate(flow, data.pixel_batches(
      name, "test", 64, num_examples=64, data_dir=data_dir))
                     for name in ("mnist", "fashion_mnist"))
  for name, (auroc, fpr, flagged_in, flagged_out) in rows.items():
    assert auroc == pytest.approx(ood.auroc(inside[name], outside[name]),
                                  abs=1e-4)
    assert fpr == pytest.approx(ood.false_positive_rate_at(
        inside[name], outside[name]), abs=1e-4)
    threshold = calibration.thresholds[name]
    assert flagged_in == pytest.approx(np.mean(inside[name] > threshold),
                                       abs=1e-4)
    assert flagged_out == pytest.approx(np.mean(outside[name] > threshold),
                                        abs=1e-4)
  # Premise: the two datasets score differently.
  assert abs(rows["bits_per_dim"][0] - 0.5) > 0.05


def test_evaluate_refuses_an_unknown_ood_dataset(mnist_run, capsys):
  model_dir, _ = mnist_run
  err = cli_error(evaluate_lib.main, [
      "--model-dir", model_dir, "--ood-dataset", "svhn"], capsys)
  assert "argument --ood-dataset: invalid choice: 'svhn'" in err, err


def test_an_ood_dataset_of_other_images_is_named(
    mnist_run, data_dir, capsys):
  model_dir, _ = mnist_run
  err = cli_error(evaluate_lib.main, [
      "--model-dir", model_dir, "--data-dir", data_dir, "--ood-dataset",
      "cifar10"], capsys)
  assert "Dataset 'cifar10' has [32, 32, 3] images; the model's are [28, 28, " \
      "1]" in err, err
