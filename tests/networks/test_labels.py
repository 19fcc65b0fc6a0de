"""Per-label weights and labelled batches: the embedding's formula, labels
broadcast with a batch, conditional coupling networks, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import networks


def test_the_embedding_adds_each_labels_row():
  embedding = networks.LabelEmbedding(num_labels=3, channels=2)
  kit.randomize_weights(embedding, 0)
  h = tf.random.stateless_normal([2, 4, 4, 2], [1, 1])
  out = embedding(h, tf.constant([2, 0]))
  table = np.asarray(embedding.table)
  np.testing.assert_allclose(out, h + table[[2, 0]][:, None, None, :],
                             rtol=1e-6)


def test_labels_broadcast_with_the_batch_then_fold():
  inputs = tf.reshape(tf.range(2 * 3 * 2 * 2 * 1, dtype=tf.float32),
                      [2, 1, 2, 2, 3])[..., :1]
  folded, labels, batch_shape, like = networks.fold_labelled_batch(
      inputs, tf.constant([0, 1, 2]), 3, "net")
  assert folded.shape == [6, 2, 2, 1] and like.shape == [2, 3, 2, 2, 1]
  np.testing.assert_array_equal(labels, [0, 1, 2, 0, 1, 2])
  np.testing.assert_array_equal(batch_shape, [2, 3])
  np.testing.assert_array_equal(folded[4], inputs[1, 0])
  with pytest.raises(ValueError, match=r"net: `labels` must be given exactly "
                     r"when the network is conditional; num_labels=None"):
    networks.fold_labelled_batch(inputs, tf.constant([0]), None, "net")
  with pytest.raises(ValueError, match=r"num_labels=3, got labels=None"):
    networks.fold_labelled_batch(inputs, None, 3, "net")


@pytest.mark.parametrize("make", [
    lambda: networks.ResNetShiftAndLogScale(2, 8, 1, num_labels=4),
    lambda: networks.GlowCouplingNetwork(2, 8, num_labels=4),
], ids=["resnet", "glow"])
def test_a_conditional_network_starts_label_blind_and_learns_labels(make):
  net = make()
  net.build((None, 4, 4, 2))
  x = tf.random.stateless_normal([5, 1, 4, 4, 2], [2, 2])
  every = net(x, labels=tf.range(4))            # each image, every label
  assert every[0].shape == [5, 4, 4, 4, 2]
  np.testing.assert_allclose(every[1][:, 0], every[1][:, 3], rtol=1e-6)
  kit.randomize_weights(net, 1, stddev=0.1)
  shift, log_scale = net(x, labels=tf.range(4))
  assert np.abs(log_scale[:, 0] - log_scale[:, 3]).max() > 1e-3
  alone = net(x[:, 0], labels=tf.fill([5], 3))
  np.testing.assert_allclose(shift[:, 3], alone[0], rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="`labels` must be given"):
    net(x)
