"""How well the outlier scores separate outliers from in-distribution
images: AUROC, false-positive rate at a true-positive rate, flagged rates."""

import math

import numpy as np

from tfnvp.internal.checks import check_finite_vector
from tfnvp.internal.checks import check_fraction
from tfnvp.ood.calibration import SCORES

__all__ = ["auroc", "detection_metrics", "false_positive_rate_at"]

def auroc(in_scores, out_scores):
  """Area under the ROC curve, outliers the positive class.

  `P(s_out > s_in) + P(s_out == s_in) / 2` over all pairs (Mann-Whitney),
  exact. 1 separates perfectly; 0.5 is chance; below 0.5 the score ranks
  the outliers as *more* typical than the data.

  Args:
    in_scores: vector of in-distribution scores (larger = more anomalous).
    out_scores: vector of outlier scores.

  Returns:
    A Python `float`.

  Raises:
    ValueError: empty or non-finite scores.
  """
  inside = check_finite_vector("in_scores", in_scores, 1)
  outside = check_finite_vector("out_scores", out_scores, 1)
  values = np.concatenate([inside, outside])
  order = np.argsort(values, kind="mergesort")
  ranks = np.empty(values.size)
  ranks[order] = np.arange(1, values.size + 1)
  # Average ranks over ties.
  _, inverse, counts = np.unique(values, return_inverse=True,
                                 return_counts=True)
  sums = np.bincount(inverse, weights=ranks)
  ranks = (sums / counts)[inverse]
  rank_sum = ranks[inside.size:].sum()
  n_in, n_out = inside.size, outside.size
  return float((rank_sum - n_out * (n_out + 1) / 2) / (n_in * n_out))


def false_positive_rate_at(in_scores, out_scores, true_positive_rate=0.95):
  """The fraction of in-distribution scores at or above the threshold that
  flags `true_positive_rate` of the outliers.

  The threshold is the largest `t` with `mean(out_scores >= t) >=
  true_positive_rate` (the `ceil(true_positive_rate * n_out)`-th largest
  outlier score).

  Returns:
    A Python `float` in `[0, 1]`; lower is better.

  Raises:
    ValueError: empty or non-finite scores, a rate outside `(0, 1)`.
  """
  check_fraction("true_positive_rate", true_positive_rate)
  inside = check_finite_vector("in_scores", in_scores, 1)
  outside = np.sort(check_finite_vector("out_scores", out_scores, 1))[::-1]
  threshold = outside[math.ceil(true_positive_rate * outside.size) - 1]
  return float(np.mean(inside >= threshold))


def detection_metrics(calibration, inside, outside, true_positive_rate=0.95):
  """How well each score of `SCORES` separates outliers from the data.

  Args:
    calibration: the `OutlierCalibration` whose thresholds to apply.
    inside: `OutlierCalibration.evaluate` of held-out in-distribution
      images (negatives).
    outside: the same of outliers (positives).
    true_positive_rate: of `false_positive_rate_at`.

  Returns:
    `{score: {"auroc", "fpr_at_tpr", "flagged_in", "flagged_out"}}`:
    `flagged_*` are the fractions above the score's threshold (`flagged_in`
    is the false-positive rate on `inside`, `flagged_out` the true-positive
    rate).
  """
  table = {}
  for name in SCORES:
    threshold = calibration.thresholds[name]
    table[name] = {
        "auroc": auroc(inside[name], outside[name]),
        "fpr_at_tpr": false_positive_rate_at(inside[name], outside[name],
                                             true_positive_rate),
        "flagged_in": float(np.mean(inside[name] > threshold)),
        "flagged_out": float(np.mean(outside[name] > threshold))}
  return table
