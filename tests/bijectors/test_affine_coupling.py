"""AffineCoupling: masks, the exact formula, the numerical kit, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import bijectors
from tfnvp import networks

DTYPES = [tf.float32, tf.float64]
MASKS = [("checkerboard", 0), ("checkerboard", 1), ("channel", 0),
         ("channel", 1)]


def _random_network(channels, dtype, seed):
  net = networks.ResNetShiftAndLogScale(channels, hidden_channels=8,
                                        num_res_blocks=1, dtype=dtype.name)
  net.build((None, 4, 4, channels))
  kit.randomize_weights(net, seed)
  return net


def _images(dtype, seed=0, shape=(3, 4, 4, 2)):
  return tf.random.stateless_normal(shape, [seed, 1], dtype=dtype)


@pytest.mark.parametrize("mask_type,parity", MASKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_numerical_kit(mask_type, parity, dtype):
  # A channel coupling's network sees and outputs half of the 4 channels.
  net = _random_network(2 if mask_type == "channel" else 4, dtype,
                        seed=parity)
  coupling = bijectors.AffineCoupling(mask_type, parity, net)
  x = _images(dtype, shape=(3, 4, 4, 4))
  assert np.abs(np.asarray(coupling.forward(x) - x)).max() > 1e-2, (
      "randomized coupling should not be the identity")
  kit.check_bijector(coupling, x, _images(dtype, seed=9, shape=(3, 4, 4, 4)))


def test_computes_the_documented_formula_for_any_function():
  x = _images(tf.float64)
  mask = bijectors.coupling_mask("checkerboard", 1, [4, 4, 2], tf.float64)

  def fn(h):
    return 0.5 * h + 1.0, tf.sin(3.0 * h)

  coupling = bijectors.AffineCoupling("checkerboard", 1, fn)
  shift, log_scale = fn(mask * x)
  expected_y = mask * x + (1 - mask) * (x * tf.exp(log_scale) + shift)
  expected_fldj = tf.reduce_sum((1 - mask) * log_scale, axis=[-3, -2, -1])
  np.testing.assert_allclose(coupling.forward(x), expected_y, rtol=1e-12)
  np.testing.assert_allclose(
      coupling.forward_log_det_jacobian(tf.identity(x), event_ndims=3),
      expected_fldj, rtol=1e-12)


@pytest.mark.parametrize("parity", [0, 1])
def test_channel_coupling_splits_the_channels(parity):
  """The network sees only the passed half and shifts/scales the other."""
  x = _images(tf.float64, shape=(3, 4, 4, 6))
  seen = []

  def fn(h):
    seen.append(h)
    return 0.5 * h + 1.0, tf.sin(3.0 * h)

  coupling = bijectors.AffineCoupling("channel", parity, fn)
  y = coupling.forward(x)
  passed, free = (x[..., :3], x[..., 3:]) if parity == 0 else (
      x[..., 3:], x[..., :3])
  np.testing.assert_array_equal(seen[0], passed)     # 3 channels, not 6
  shift, log_scale = fn(passed)
  transformed = free * tf.exp(log_scale) + shift
  expected = tf.concat([passed, transformed] if parity == 0 else
                       [transformed, passed], axis=-1)
  np.testing.assert_allclose(y, expected, rtol=1e-12)
  np.testing.assert_allclose(
      coupling.forward_log_det_jacobian(tf.identity(x), event_ndims=3),
      tf.reduce_sum(log_scale, axis=[-3, -2, -1]), rtol=1e-12)
  mask = np.broadcast_to(bijectors.coupling_mask("channel", parity,
                                                 [4, 4, 6]), x.shape)
  np.testing.assert_array_equal(np.asarray(y)[mask == 1],
                                np.asarray(x)[mask == 1])


def test_masks_are_complementary_and_have_the_documented_pattern():
  shape = [4, 6, 4]
  for mask_type in ("checkerboard", "channel"):
    m0 = np.broadcast_to(bijectors.coupling_mask(mask_type, 0, shape), shape)
    m1 = np.broadcast_to(bijectors.coupling_mask(mask_type, 1, shape), shape)
    np.testing.assert_array_equal(m0 + m1, np.ones(shape))
    assert m0.sum() == m1.sum() == np.prod(shape) / 2
  checker = np.asarray(bijectors.coupling_mask("checkerboard", 0, shape))
  assert checker[0, 0, 0] == 1 and checker[0, 1, 0] == 0
  assert checker[1, 0, 0] == 0 and checker[1, 1, 0] == 1
  channel = np.asarray(bijectors.coupling_mask("channel", 0, shape))
  np.testing.assert_array_equal(channel[0, 0], [1, 1, 0, 0])


def test_masked_entries_pass_through_and_network_runs_once_per_direction():
  calls = []
  net = _random_network(2, tf.float32, seed=3)

  def fn(h):
    calls.append(h)
    return net(h)

  coupling = bijectors.AffineCoupling("channel", 0, fn)
  x = _images(tf.float32, shape=(3, 4, 4, 4))
  y = coupling.forward(x)
  coupling.forward_log_det_jacobian(x, event_ndims=3)
  assert len(calls) == 1, "forward + fldj must evaluate the network once"
  np.testing.assert_array_equal(y[..., :2], x[..., :2])
  x_back = coupling.inverse(tf.identity(y))
  coupling.inverse_log_det_jacobian(tf.identity(y), event_ndims=3)
  assert len(calls) == 3  # the inverse and the uncached ildj
  np.testing.assert_allclose(x_back, x, rtol=2e-4, atol=2e-4)


def test_finite_near_the_edges():
  """Huge inputs stay finite: the network bounds the log-scale by tanh."""
  coupling = bijectors.AffineCoupling("checkerboard", 0,
                                      _random_network(4, tf.float32, seed=5))
  x = tf.constant(np.full([2, 4, 4, 4], 1e4, np.float32)) * tf.constant(
      [[[[1.0]]], [[[-1.0]]]])
  y = coupling.forward(x)
  assert np.all(np.isfinite(y))
  assert np.all(np.isfinite(coupling.forward_log_det_jacobian(
      x, event_ndims=3)))
  assert np.all(np.isfinite(coupling.inverse(tf.identity(y))))


@pytest.mark.parametrize("kwargs,match", [
    (dict(mask_type="diagonal", parity=0), "mask_type.*'diagonal'"),
    (dict(mask_type="channel", parity=2), "parity.*2"),
    (dict(mask_type="channel", parity=True), "parity.*True"),
])
def test_invalid_constructor_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    bijectors.AffineCoupling(shift_and_log_scale_fn=lambda h: (h, h), **kwargs)


def test_not_callable_network():
  with pytest.raises(TypeError, match="shift_and_log_scale_fn"):
    bijectors.AffineCoupling("channel", 0, "not a function")


def test_channel_mask_on_odd_channels():
  coupling = bijectors.AffineCoupling("channel", 0, lambda h: (h, h))
  with pytest.raises(ValueError, match="even number of channels.*4, 4, 3"):
    coupling.forward(tf.zeros([1, 4, 4, 3]))


def test_wrong_network_output_shape_and_rank():
  coupling = bijectors.AffineCoupling("checkerboard", 0,
                                      lambda h: (h[..., :1], h))
  with pytest.raises(ValueError, match="shift of shape"):
    coupling.forward(tf.zeros([1, 4, 4, 2]))
  channel = bijectors.AffineCoupling("channel", 0, lambda h: (h, h[..., :1]))
  with pytest.raises(ValueError, match="log_scale of shape"):
    channel.forward(tf.zeros([1, 4, 4, 4]))
  with pytest.raises(ValueError, match="rank >= 3"):
    coupling.forward(tf.zeros([4, 2]))
