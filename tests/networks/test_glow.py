"""Glow's networks: zero-initialized outputs, the sigmoid scale, the prior's
coupling convention, actnorm in training only, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import bijectors
from tfnvp import networks


def _x(shape=(3, 4, 4, 4), seed=0):
  return tf.random.stateless_normal(shape, [seed, 1])


def test_coupling_network_starts_at_glows_initial_scale():
  net = networks.GlowCouplingNetwork(4, hidden_channels=8)
  shift, log_scale = net(_x())
  np.testing.assert_array_equal(shift, 0.0)
  glow = np.log(1 / (1 + np.exp(-2.0)))            # Glow's, -0.127
  np.testing.assert_allclose(log_scale, 4.0 * np.tanh(glow / 4.0), rtol=1e-6)
  np.testing.assert_allclose(log_scale, glow, rtol=1e-3)
  additive = networks.GlowCouplingNetwork(4, 8, coupling="additive")
  additive.build((None, 4, 4, 4))
  kit.randomize_weights(additive, 0)
  shift, log_scale = additive(_x(), training=True)
  np.testing.assert_array_equal(log_scale, 0.0)
  assert np.abs(shift).max() > 0.01


def test_coupling_network_actnorms_initialize_in_training_only():
  net = networks.GlowCouplingNetwork(4, hidden_channels=8)
  flags = [net.norm_in.initialized, net.norm_hidden.initialized]
  net(_x(), training=False)
  assert [float(f) for f in flags] == [0.0, 0.0]
  net(_x(), training=True)
  assert [float(f) for f in flags] == [1.0, 1.0]


def test_coupling_network_output_is_bounded_and_any_batch_shape_works():
  net = networks.GlowCouplingNetwork(4, hidden_channels=8)
  net.build((None, 4, 4, 4))
  kit.randomize_weights(net, 1, stddev=1.0)
  shift, log_scale = net(_x((2, 3, 4, 4, 4)) * 10.0, training=True)
  assert shift.shape == log_scale.shape == (2, 3, 4, 4, 4)
  assert np.all(np.asarray(log_scale) <= 0.0)     # sigmoid scale in (0, 1]
  assert np.all(np.asarray(log_scale) >= -net.log_scale_bound)   # float32
  assert np.asarray(log_scale).min() < -0.9 * net.log_scale_bound, (
      "the input should drive the log-scale to its bound")


def test_log_scale_is_glows_sigmoid_within_its_soft_bound():
  net = networks.GlowCouplingNetwork(4, hidden_channels=8, log_scale_bound=3.0)
  net.build((None, 4, 4, 4))
  kit.randomize_weights(net, 1, stddev=0.3)
  h = _x((2, 4, 4, 4))
  shift, log_scale = net(h)
  out = net.conv_out(net._actnorm_relu(  # pylint: disable=protected-access
      net.norm_hidden, net.conv_hidden(net._actnorm_relu(  # pylint: disable=protected-access
          net.norm_in, net.conv_in(h), False)), False))
  glow = tf.math.log_sigmoid(out[..., 4:] + 2.0)
  np.testing.assert_allclose(shift, out[..., :4], rtol=1e-6)
  np.testing.assert_allclose(log_scale, 3.0 * tf.tanh(glow / 3.0), rtol=1e-5,
                             atol=1e-6)
  small = np.abs(np.asarray(glow)) < 0.1
  assert small.any()
  np.testing.assert_allclose(np.asarray(log_scale)[small],
                             np.asarray(glow)[small], atol=2e-4)


def test_split_prior_standardizes_the_first_half_given_the_second():
  prior = networks.GlowSplitPrior(4)
  prior.build((None, 4, 4, 2))             # it sees the kept half only
  kit.randomize_weights(prior, 2)
  x = _x()
  coupling = bijectors.AffineCoupling("channel", 1, prior)
  y = coupling.forward(x)
  np.testing.assert_array_equal(y[..., 2:], x[..., 2:])
  out = prior.conv(x[..., 2:])
  mean, logs = out[..., :2], out[..., 2:]
  assert np.abs(np.asarray(mean)).max() > 1e-2 and np.abs(
      np.asarray(logs)).max() > 1e-2, "randomized prior should not be N(0, I)"
  np.testing.assert_allclose(y[..., :2], (x[..., :2] - mean) * tf.exp(-logs),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
      coupling.forward_log_det_jacobian(x, event_ndims=3),
      -tf.reduce_sum(logs, axis=[1, 2, 3]), rtol=1e-5)


def test_errors_name_the_argument_and_value():
  with pytest.raises(ValueError, match="`coupling` must be one of"):
    networks.GlowCouplingNetwork(4, 8, coupling="spline")
  with pytest.raises(ValueError, match="`log_scale_bound` must be a finite "
                     "number > 0; got 0"):
    networks.GlowCouplingNetwork(4, 8, log_scale_bound=0)
  with pytest.raises(ValueError, match="`channels` must be even; got 3"):
    networks.GlowSplitPrior(3)
  with pytest.raises(ValueError, match="`filters` must be an int >= 1"):
    networks.ZeroConv2D(0)
