"""Every weight of every flow can learn: none gets an identically zero
gradient (a channel coupling's network sees only the half it conditions on
and outputs only the half it transforms)."""

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests import kit

FLOWS = {
    "realnvp": lambda: tfnvp.RealNVP((8, 8, 1), num_scales=2,
                                     hidden_channels=4, num_res_blocks=1),
    "glow-affine": lambda: tfnvp.Glow((8, 8, 1), num_levels=2, depth=2,
                                      hidden_channels=4),
    "glow-additive": lambda: tfnvp.Glow((8, 8, 1), num_levels=2, depth=2,
                                        hidden_channels=4, coupling="additive",
                                        lu_decomposed=False),
}


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_weight_entry_gets_a_nonzero_gradient(name):
  flow = FLOWS[name]()
  train_flow = flow.copy(training=True)
  images = tf.random.stateless_uniform([16, 8, 8, 1], [3, 4], 0.0, 256.0)
  kit.randomize_weights(flow.layers, 1, stddev=0.1)
  # Glow's actnorms then initialize from the data, as in training, so no
  # hidden unit starts dead (a dead ReLU is not a weight that cannot learn).
  train_flow.log_prob(images)
  variables = flow.layers.trainable_variables
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(train_flow.log_prob(images))
  assert np.isfinite(loss)
  grads = tape.gradient(loss, variables)
  dead = {v.path: (0 if g is None else int(np.sum(np.asarray(g) == 0)),
                   int(np.prod(v.shape)))
          for v, g in zip(variables, grads)
          if g is None or np.any(np.asarray(g) == 0)}
  assert not dead, f"weights with zero gradient entries (zero, size): {dead}"
