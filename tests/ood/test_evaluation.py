"""tfnvp.ood.evaluation: AUROC, FPR at a TPR and the detection table."""

import numpy as np
import pytest

from tfnvp import ood
from tests.ood.images import SHAPE
from tests.ood.images import make_images


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
  inside = calibration.evaluate(flow, make_images(50, 7))
  outside = calibration.evaluate(flow, make_images(30, 8, SHAPE) // 4)
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
