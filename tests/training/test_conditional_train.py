"""tfnvp-train on a class-conditional Glow: labels from MNIST, the hybrid
loss logged, per-class grids, evaluation, and a resumed run equal to an
uninterrupted one, with bfloat16 coupling networks."""

import io
import math
import os
import re
import shutil
from contextlib import redirect_stdout

import numpy as np
import pytest
from PIL import Image

from tests.training.test_train import _history
from tests.training.test_train import _weights
from tfnvp import runs
from tfnvp.training import config as config_lib
from tfnvp.training import evaluate as evaluate_lib
from tfnvp.training import train as train_lib

CONDITIONAL = [
    "--dataset", "mnist", "--model", "glow", "--num-levels", "2", "--depth",
    "1", "--hidden-channels", "8", "--num-classes", "auto",
    "--label-dropout", "0.2", "--classification-weight", "0.01",
    "--network-dtype", "bfloat16", "--batch-size", "16",
    "--num-train-examples", "512", "--num-eval-examples", "128",
    "--steps-per-epoch", "2", "--checkpoint-every", "1", "--lr-schedule",
    "constant", "--verbose", "2"]


def _train(model_dir, data_dir, *flags):
  out = io.StringIO()
  with redirect_stdout(out):
    status = train_lib.main([*CONDITIONAL, "--data-dir", data_dir,
                             "--model-dir", model_dir, *flags])
  assert status == 0, out.getvalue()
  return out.getvalue()


@pytest.fixture(scope="module")
def runs_(data_dir, tmp_path_factory):
  """`(uninterrupted, resumed)`: two epochs in one go, and one epoch then a
  rerun for two, which resumes from the first's checkpoint."""
  root = tmp_path_factory.mktemp("conditional")
  whole, resumed = str(root / "whole"), str(root / "resumed")
  _train(whole, data_dir, "--epochs", "2")
  _train(resumed, data_dir, "--epochs", "1")
  out = _train(resumed, data_dir, "--epochs", "2")
  assert "Resuming from" in out and "(step 2 of 4)" in out, out
  return whole, resumed


def test_auto_takes_the_classes_from_the_labels_and_the_history_logs_both_losses(
    runs_):
  whole, _ = runs_
  config = config_lib.load_config(whole)
  assert (config.model.num_classes, config.model.label_dropout,
          config.model.network_dtype) == (10, 0.2, "bfloat16")
  assert config.optimization.classification_weight == 0.01
  rows = _history(whole)
  for name in ("bits_per_dim", "bits_y", "loss", "val_bits_per_dim",
               "val_marginal_bits_per_dim", "val_bits_y", "val_accuracy"):
    values = [float(row[name]) for row in rows]
    assert all(math.isfinite(v) for v in values), (name, values)
  # bits_y of a uniform guess over 10 classes is log2(10); a Bayes
  # classifier of barely trained densities is near it, not far above.
  assert 0 < float(rows[-1]["val_bits_y"]) < 2 * math.log2(10)
  # The loss is bits_x + 0.01 bits_y, in nats per image.
  row = rows[-1]
  dims = 28 * 28
  np.testing.assert_allclose(
      float(row["val_loss"]),
      (float(row["val_bits_per_dim"]) + 0.01 * float(row["val_bits_y"])) *
      dims * math.log(2), rtol=1e-4)


def test_the_sample_grid_has_a_row_per_class(runs_):
  whole, _ = runs_
  grid = np.asarray(Image.open(os.path.join(whole, "samples.png")))
  # 64 images over 10 classes: 6 per row.
  assert grid.shape[:2] == (10 * 28, 6 * 28)


def test_a_resumed_conditional_run_equals_an_uninterrupted_one(runs_):
  whole, resumed = runs_
  want, got = _weights(whole), _weights(resumed)
  assert len(want) == len(got)
  assert any("class" in name for name, _ in want), [n for n, _ in want]
  for (name, value), (_, value_resumed) in zip(want, got):
    np.testing.assert_allclose(value_resumed, value, rtol=1e-5, atol=1e-6,
                               err_msg=name)
  for expected, row in zip(_history(whole), _history(resumed)):
    for column in row:
      if column != "elapsed_seconds":
        np.testing.assert_allclose(float(row[column]), float(expected[column]),
                                   rtol=1e-5, err_msg=column)


def test_evaluate_prints_the_marginal_the_conditional_and_the_classifier(
    runs_, data_dir, capsys, tmp_path):
  whole, _ = runs_
  model_dir = shutil.copytree(whole, str(tmp_path / "run"))
  assert evaluate_lib.main(["--model-dir", model_dir, "--data-dir", data_dir,
                            "--num-examples", "100"]) == 0
  out = capsys.readouterr().out
  metrics, _ = evaluate_lib.evaluate(model_dir, data_dir=data_dir,
                                     num_examples=100, return_dict=True)
  lines = {
      r"test bits/dim: ([\d.]+) \(marginal, -log p\(x\)\)":
          metrics["marginal_bits_per_dim"],
      r"test bits/dim given the label: ([\d.]+) \(-log p\(x \| y\)\)":
          metrics["bits_per_dim"],
      r"Bayes classifier: accuracy ([\d.]+), ": metrics["accuracy"]}
  for pattern, value in lines.items():
    found = re.search(pattern, out)
    assert found, (pattern, out)
    assert float(found.group(1)) == pytest.approx(value, abs=1e-4)
  bpd, _ = evaluate_lib.evaluate(model_dir, data_dir=data_dir,
                                 num_examples=100)
  assert bpd == metrics["marginal_bits_per_dim"]
  flow = runs.load_run(model_dir).flow
  assert flow.num_classes == 10 and flow.label_dropout == 0.2
