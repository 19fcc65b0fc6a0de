"""Does Glow's affine preprocessing hold it back on MNIST? Trains
`tfnvp.Glow` h120-d8 (2 levels) on the raw MNIST files twice from the same
seed, with Glow's preprocessing `x / 256 - 1/2` and with Real NVP's
`tfnvp.bijectors.LogitTransform(0.05)` in its place, and prints the
bits/dim of 1,000 test images (uniform dequantization, fixed noise) every
EVERY steps.

Glow's couplings scale by `sigmoid(raw + 2) < 1` from data to latent:
they can only contract, so the narrow peaks of the data density (81% of
MNIST's training pixels are 0, dequantized into [0, 1) of a 256-wide
range) must be widened by the actnorms (one scale per channel) or the
prior alone. The
logit map widens values near 0 and 255 by itself.

  TFNVP_RAW_DATA_DIR=../shared/data PYTHONPATH=. python \
      bench/diagnostics/glow_preprocessing.py [STEPS] [EVERY] [affine,logit]
"""
import os
import sys

import keras
import numpy as np
import tensorflow_probability as tfp
import tfnvp
from tfnvp import bijectors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import raw_mnist  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = ["LogitGlow"]

tfb = tfp.bijectors


class LogitGlow(tfnvp.Glow):
  """`tfnvp.Glow` with Real NVP's logit map as its preprocessing."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    levels = self.flow.bijectors[0]
    self._bijector = tfb.Invert(tfb.Chain(
        [levels, bijectors.LogitTransform(0.05)]))


def main():
  steps = int(sys.argv[1]) if len(sys.argv) > 1 else 600
  every = int(sys.argv[2]) if len(sys.argv) > 2 else 200
  variants = (sys.argv[3] if len(sys.argv) > 3 else "affine,logit").split(",")
  train, test = raw_mnist.load()
  rng = np.random.default_rng(0)
  x = train[rng.permutation(len(train))[:steps * 64]]
  test = test[:1000].astype(np.float32)
  test_noisy = np.minimum(test + rng.uniform(size=test.shape),
                          np.nextafter(test + 1, 0)).astype(np.float32)
  for variant in variants:
    cls = {"affine": tfnvp.Glow, "logit": LogitGlow}[variant]
    # FlowModel rebuilds its flows from their record, which names the class.
    tfnvp.GlowConfig.flow_class = cls
    keras.utils.set_random_seed(0)
    flow = cls((28, 28, 1), num_levels=2, depth=8, hidden_channels=120,
               seed=0)
    model = tfnvp.FlowModel(flow, l2=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    curve = []
    model.fit(x, batch_size=64, epochs=1, verbose=0,
              callbacks=[_Log(curve, every, test_noisy, cls.__name__)])
    print(cls.__name__, "test bits/dim by step:", curve, flush=True)


class _Log(keras.callbacks.Callback):
  """Appends `(step, test bits/dim)` to `curve` every `every` steps."""

  def __init__(self, curve, every, images, label):
    super().__init__()
    self.curve, self.every, self.images, self.label = (curve, every, images,
                                                       label)

  def on_train_batch_end(self, batch, logs=None):
    if (batch + 1) % self.every == 0:
      self.curve.append((batch + 1, float(np.mean(
          tfnvp.bits_per_dim(self.model.flow, self.images)))))
      print(self.label, *self.curve[-1], flush=True)


if __name__ == "__main__":
  main()
