"""Where Glow's samples overflow: trains a Glow on real MNIST, then traces
every bijector of the sampling direction.

The script behind the evidence in BENCHMARKS.md ("Why Glow's samples
overflowed"), its logic as it was run (the data loading now
shared in `raw_mnist.py`). It trains `tfnvp.Glow` h96-d8 (2 levels)
with `FlowModel.fit` on the raw MNIST files for STEPS steps (Adam 1e-3,
optional linear warm-up), prints every 100 steps the bits/dim of 500 test
and 500 training images with the same weights (at pixel centres and with
uniform noise; the training images also in training mode), saves the
weights, then draws 1,000 samples at temperature 1.0 and 0.7 and prints,
for each coupling, actnorm and 1x1 convolution run backwards, the largest
|input|, the largest |output| and the count of non-finite outputs.

  PYTHONPATH=. python bench/diagnostics/glow_overflow_trace.py \
      STEPS OUT_PREFIX [adam|adamax] [WARMUP_STEPS] [lu|nolu]
  # STEPS=0 loads OUT_PREFIX.weights.h5 instead of training.
"""
import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
import tfnvp
from tfnvp import bijectors

__all__ = []

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import raw_mnist  # pylint: disable=g-import-not-at-top,wrong-import-position


train, test = raw_mnist.load()
steps, out = int(sys.argv[1]), sys.argv[2]
opt_name = sys.argv[3] if len(sys.argv) > 3 else "adam"
warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 0
lu = (sys.argv[5] != "nolu") if len(sys.argv) > 5 else True
keras.utils.set_random_seed(0)
flow = tfnvp.Glow((28, 28, 1), num_levels=2, depth=8, hidden_channels=96,
                  lu_decomposed=lu, seed=0)
model = tfnvp.FlowModel(flow, l2=0.0)
class Warm(keras.optimizers.schedules.LearningRateSchedule):
  def get_config(self):
    return {}
  def __call__(self, step):
    return 1e-3 * tf.minimum(1.0, (tf.cast(step, tf.float32) + 1) / max(warmup, 1))
opt = (keras.optimizers.Adamax if opt_name == "adamax" else keras.optimizers.Adam)(Warm())
model.compile(optimizer=opt)
rng = np.random.default_rng(0)
x = train[rng.permutation(len(train))[: steps * 64]]
records = []
def bpd_noise(imgs, m):
  u = rng.uniform(size=imgs.shape).astype(np.float32)
  xs = np.minimum(imgs.astype(np.float32) + u, np.nextafter(imgs.astype(np.float32) + 1, 0))
  return float(np.mean(tfnvp.bits_per_dim(m.flow, xs)))
class Log(keras.callbacks.Callback):
  def on_train_batch_end(self, batch, logs=None):
    if (batch + 1) % 100 == 0:
      r = dict(step=batch + 1, train_running=float(logs["bits_per_dim"]))
      r["val_centre"] = float(np.mean(tfnvp.bits_per_dim(model.flow, test[:500].astype(np.float32) + 0.5)))
      r["val_noise"] = bpd_noise(test[:500], model)
      r["train_centre"] = float(np.mean(tfnvp.bits_per_dim(model.flow, train[:500].astype(np.float32) + 0.5)))
      r["train_noise"] = bpd_noise(train[:500], model)
      r["train_mode_noise"] = float(np.mean(-model.flow.copy(training=True).log_prob(
          np.minimum(train[:500].astype(np.float32) + rng.uniform(size=train[:500].shape).astype(np.float32), 255.999)))) / (784 * np.log(2))
      records.append(r)
      print(r, flush=True)
t0 = time.time()
if steps:
  model.fit(x, batch_size=64, epochs=1, verbose=0, callbacks=[Log()])
else:
  model.load_weights(out + ".weights.h5")
print("train seconds", time.time() - t0, flush=True)
model.save_weights(out + ".weights.h5")

# Trace the sampling direction.
trace = []
def traced(cls, name, augmented):
  """Wraps `cls.name` to append (layer, max |input|, max |output|, #non-finite)."""
  original = getattr(cls, name)
  def wrapper(self, y):
    result = original(self, y)
    outp = result[0] if augmented else result
    trace.append((self.name, float(tf.reduce_max(tf.abs(y))), float(tf.reduce_max(tf.abs(outp))),
                  int(tf.reduce_sum(tf.cast(~tf.math.is_finite(outp), tf.int32)))))
    return result
  setattr(cls, name, wrapper)


traced(bijectors.AffineCoupling, "_augmented_inverse", augmented=True)
traced(bijectors.ActNorm, "_augmented_inverse", augmented=True)
traced(bijectors.InvertibleConv1x1, "_inverse", augmented=False)
result = dict(records=records)
for T in (1.0, 0.7):
  trace.clear()
  s = tfnvp.sample_at_temperature(model.flow, 1000, T, seed=[1, 2]).numpy()
  bad = ~np.isfinite(s).reshape(1000, -1).all(1)
  result[f"nonfinite_samples_T{T}"] = int(bad.sum())
  result[f"trace_T{T}"] = trace[:]
  print(T, "non-finite samples:", int(bad.sum()), flush=True)
  for t in trace:
    print("  ", t)
json.dump(result, open(out + ".json", "w"), indent=1)
