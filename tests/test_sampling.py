"""tfnvp.sample_at_temperature and tfnvp.to_uint8."""

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests import kit


def _flow():
  flow = tfnvp.RealNVP((4, 4, 1), num_scales=1, hidden_channels=4,
                       num_res_blocks=1, dtype=tf.float64)
  kit.randomize_weights(flow.layers, 0, stddev=0.1)
  return flow


def test_temperature_one_is_sample_and_other_temperatures_scale_the_latent():
  flow = _flow()
  seed = tf.constant([7, 1])
  np.testing.assert_allclose(
      tfnvp.sample_at_temperature(flow, 5, 1.0, seed=seed),
      flow.sample(5, seed=seed), rtol=1e-12)
  z = flow.distribution.sample(5, seed=seed)
  cool = tfnvp.sample_at_temperature(flow, 5, 0.5, seed=seed)
  np.testing.assert_allclose(cool, flow.bijector.forward(0.5 * z), rtol=1e-12)
  assert np.abs(cool - flow.sample(5, seed=seed)).max() > 1.0
  np.testing.assert_allclose(flow.flow.forward(cool), 0.5 * z, rtol=1e-6,
                             atol=1e-9)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), True, "1"])
def test_a_bad_temperature_names_the_value(temperature):
  with pytest.raises(ValueError, match="`temperature` must be"):
    tfnvp.sample_at_temperature(_flow(), 2, temperature)


def test_to_uint8_floors_clips_and_rejects_nan():
  x = tf.constant([-3.0, 0.0, 0.999, 1.0, 254.5, 255.999, 300.0, np.inf])
  np.testing.assert_array_equal(tfnvp.to_uint8(x),
                                [0, 0, 0, 1, 254, 255, 255, 255])
  assert tfnvp.to_uint8(x).dtype == tf.uint8
  with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
    tfnvp.to_uint8(tf.constant([1.0, np.nan]))


def test_a_tensor_temperature_is_checked_when_sampling():
  flow = _flow()
  seed = tf.constant([7, 1])
  np.testing.assert_allclose(
      tfnvp.sample_at_temperature(flow, 3, tf.constant(0.5, tf.float64), seed),
      tfnvp.sample_at_temperature(flow, 3, 0.5, seed), rtol=1e-12)
  for bad in (0.0, -2.0, np.nan, np.inf):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="`temperature` must be finite and > 0"):
      tfnvp.sample_at_temperature(flow, 3, tf.constant(bad), seed)
