"""bits_per_dim: the definition and its errors."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfnvp

tfd = tfp.distributions


def test_bits_per_dim_is_negative_log_prob_in_bits_per_dimension():
  dist = tfd.Sample(tfd.Normal(3.0, 2.0), [2, 3, 4])
  x = tf.random.stateless_normal([5, 2, 3, 4], [1, 2])
  np.testing.assert_allclose(tfnvp.bits_per_dim(dist, x),
                             -dist.log_prob(x) / (24 * math.log(2.0)),
                             rtol=1e-6)


def test_uniform_pixels_have_eight_bits_per_dim():
  """A uniform density on [0, 256)^D is exactly 8 bits/dim."""
  dist = tfd.Sample(tfd.Uniform(0.0, 256.0), [4, 4, 3])
  x = tf.random.stateless_uniform([3, 4, 4, 3], [3, 3], 0.0, 256.0)
  np.testing.assert_allclose(tfnvp.bits_per_dim(dist, x), 8.0, rtol=1e-6)


def test_empty_event_shape_is_rejected():
  with pytest.raises(ValueError, match="event shape"):
    tfnvp.bits_per_dim(tfd.Sample(tfd.Normal(0.0, 1.0), [0]), tf.zeros([0]))
