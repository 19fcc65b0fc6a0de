"""Do Real NVP's moving batch-norm statistics lag its weights?

The script behind the evidence in BENCHMARKS.md ("Real NVP's validation
and the moving statistics"), its logic as it was run (the data loading now
shared in `raw_mnist.py`). It trains `tfnvp.RealNVP`
h32-r2 with `FlowModel.fit` on the raw MNIST files for STEPS steps (Adam
1e-3) and every 100 steps prints the bits/dim of 500 test and 500
training images (fixed uniform noise) with the moving statistics, and with
statistics re-estimated at the same weights as the mean over 50 training
batches (eager, momentum 0 per batch; the library's
`FlowModel.recalibrate_moving_statistics` computes the same mean).

  PYTHONPATH=. python bench/diagnostics/bn_statistics_lag.py STEPS OUT_PREFIX
"""
import json
import os
import sys
import time

import keras
import numpy as np
import tfnvp

__all__ = []

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import raw_mnist  # pylint: disable=g-import-not-at-top,wrong-import-position


train, test = raw_mnist.load()
steps, out = int(sys.argv[1]), sys.argv[2]
keras.utils.set_random_seed(0)
flow = tfnvp.RealNVP((28, 28, 1), num_scales=2, hidden_channels=32, num_res_blocks=2)
model = tfnvp.FlowModel(flow)
model.compile(optimizer=keras.optimizers.Adam(1e-3))
rng = np.random.default_rng(0)
x = train[rng.permutation(len(train))[: steps * 64]]
noise = np.random.default_rng(5).uniform(size=(500, 28, 28, 1)).astype(np.float32) * 0.999
val = test[:500].astype(np.float32) + noise
trainsub = train[-500:].astype(np.float32) + noise

def bn_owners():
  layers = []
  for layer in model.flow_layers._flatten_layers():
    if isinstance(layer, keras.layers.BatchNormalization) or isinstance(layer, tfnvp.networks.MovingMoments):
      layers.append(layer)
  return layers

def bpd(images):
  return float(np.mean(np.concatenate([tfnvp.bits_per_dim(model.flow, images[i:i+250]).numpy() for i in range(0, len(images), 250)])))

def recalibrated(k):
  owners = bn_owners()
  saved = [[v.numpy() for v in (o.moving_mean, o.moving_variance)] for o in owners]
  moms = [o.momentum for o in owners]
  for o in owners:
    o.momentum = 0.0
  sums = [[np.zeros_like(a) for a in s] for s in saved]
  train_flow = model.flow.copy(training=True)
  for _ in range(k):
    b = train[rng.integers(0, len(train), 64)].astype(np.float32) + rng.uniform(size=(64, 28, 28, 1)).astype(np.float32) * 0.999
    train_flow.log_prob(b)
    for s, o in zip(sums, owners):
      s[0] += o.moving_mean.numpy() / k
      s[1] += o.moving_variance.numpy() / k
  for s, o in zip(sums, owners):
    o.moving_mean.assign(s[0])
    o.moving_variance.assign(s[1])
  result = bpd(val), bpd(trainsub)
  for sv, o, m in zip(saved, owners, moms):
    o.moving_mean.assign(sv[0])
    o.moving_variance.assign(sv[1])
    o.momentum = m
  return result

records = []
class Log(keras.callbacks.Callback):
  def on_train_batch_end(self, batch, logs=None):
    if (batch + 1) % 100 == 0:
      r = dict(step=batch + 1, train_running=float(logs["bits_per_dim"]),
               val_moving=bpd(val), train_moving=bpd(trainsub))
      r["val_recal50"], r["train_recal50"] = recalibrated(50)
      records.append(r)
      print(r, flush=True)
t0 = time.time()
model.fit(x, batch_size=64, epochs=1, verbose=0, callbacks=[Log()])
print("train seconds", time.time() - t0)
json.dump(records, open(out + ".json", "w"), indent=1)
