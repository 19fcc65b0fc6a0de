"""Bits/dim at the pixel centres vs the 8-bit images' probability, as OOD scores.

PYTHONPATH=. python bench/diagnostics/pixel_centres.py MODEL_DIR IN_DATASET OUT_DATASET

On the first 2,000 test images of each dataset: the density at the pixel
centres `p(x + 1/2)`, one dequantization pattern, and 8 patterns (mean of
the log-densities, and log of the mean: `tfnvp.ood.pixel_bits_per_dim`),
each as raw bits/dim and minus PNG complexity (`ood_score`), with AUROCs.
"""

import math
import sys

import numpy as np
import tensorflow as tf

from tfnvp import data
from tfnvp import ood
from tfnvp import runs

__all__ = ["main"]


def main(model_dir, inside, outside, num_examples=2000, num_patterns=8):
  flow = runs.load_run(model_dir).flow
  event = list(flow.event_shape)
  to_bits = -1 / (math.prod(event) * math.log(2.0))

  @tf.function(input_signature=[tf.TensorSpec([None, *event], tf.uint8)])
  def scores(images):
    x = tf.cast(images, tf.float32)
    log_probs = tf.stack([flow.log_prob(x + tf.random.stateless_uniform(
        tf.shape(x), [k, 7])) for k in range(num_patterns)])
    return {"centre": to_bits * flow.log_prob(x + 0.5),
            "one pattern": to_bits * log_probs[0],
            "mean of logs": to_bits * tf.reduce_mean(log_probs, 0),
            "log of mean": to_bits * (tf.reduce_logsumexp(log_probs, 0) -
                                      math.log(num_patterns)),
            "complexity": ood.complexity_bits_per_dim(images)}

  def run(name):
    parts = [scores(b) for b in data.pixel_batches(
        name, "test", 500, num_examples=num_examples)]
    return {k: np.concatenate([p[k].numpy() for p in parts])
            for k in parts[0]}

  a, b = run(inside), run(outside)
  for k in ("centre", "one pattern", "mean of logs", "log of mean"):
    print(f"{k:>13}: mean bits/dim {a[k].mean():.3f} / {b[k].mean():.3f}, "
          f"AUROC raw {ood.auroc(a[k], b[k]):.4f}, ood_score "
          f"{ood.auroc(a[k] - a['complexity'], b[k] - b['complexity']):.4f}")


if __name__ == "__main__":
  main(*sys.argv[1:4])
