"""Both flows follow TFP's conventions; bad arguments get clear errors."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests import kit


def _make(name, **kwargs):
  if name == "realnvp":
    return tfnvp.RealNVP((8, 8, 1), num_scales=2, hidden_channels=4,
                         num_res_blocks=1, **kwargs)
  return tfnvp.Glow((8, 8, 1), num_levels=2, depth=1, hidden_channels=4,
                    **kwargs)


@pytest.fixture(scope="module", params=["realnvp", "glow"])
def flow(request):
  """A randomized flow of each kind, built once: no test changes it."""
  keras.utils.set_random_seed(0)    # before the per-test seeding
  made = _make(request.param)
  kit.randomize_weights(made.layers, 0, stddev=0.05)
  return made


def _pixels(n):
  return tf.random.stateless_uniform([n, 8, 8, 1], [1, 2], 0.0, 256.0)


@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_no_warning_about_inherited_parameter_properties(name, caplog):
  with caplog.at_level(logging.WARNING):
    _make(name).copy(validate_args=True)
  assert "_parameter_properties" not in caplog.text


def test_copy_overrides_and_shares_the_variables(flow):
  checked = flow.copy(validate_args=True)
  assert checked.validate_args and not flow.validate_args
  assert checked.layers is flow.layers
  x = _pixels(3)
  np.testing.assert_array_equal(checked.log_prob(x), flow.log_prob(x))
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 256\)"):
    checked.log_prob(x + 300.0)
  assert flow.copy(training=True).training
  with pytest.raises(ValueError, match="`layers` was built for"):
    flow.copy(hidden_channels=8)
  wider = flow.copy(hidden_channels=8, layers=None)
  assert wider.layers is not flow.layers
  assert wider.parameters["hidden_channels"] == 8


def test_a_flow_passed_to_a_tf_function_uses_its_own_weights(flow):
  @tf.function
  def log_prob(distribution, x):
    return distribution.log_prob(x)

  x = _pixels(2)
  np.testing.assert_allclose(log_prob(flow, x), flow.log_prob(x), rtol=1e-5)
  np.testing.assert_allclose(log_prob(flow.copy(), x), flow.log_prob(x),
                             rtol=1e-5)
  assert log_prob.experimental_get_tracing_count() == 1   # same variables
  other = flow.copy(layers=None)
  kit.randomize_weights(other.layers, 1, stddev=0.05)
  assert np.abs(other.log_prob(x) - flow.log_prob(x)).max() > 0.1
  np.testing.assert_allclose(log_prob(other, x), other.log_prob(x),
                             rtol=1e-5)
  assert log_prob.experimental_get_tracing_count() == 2


def test_empty_sample_shapes_give_empty_batches(flow):
  assert flow.sample(0, seed=[1, 2]).shape == (0, 8, 8, 1)
  assert flow.sample([2, 0], seed=[1, 2]).shape == (2, 0, 8, 8, 1)
  assert tfnvp.sample_at_temperature(flow, 0, 0.5, seed=[1, 2]).shape == (
      0, 8, 8, 1)
  assert flow.log_prob(tf.zeros([0, 8, 8, 1])).shape == (0,)


@pytest.mark.parametrize("sample_shape", [-1, [2, -1], 2.5, True,
                                          tf.constant(-2)])
def test_bad_sample_shapes_are_refused(flow, sample_shape):
  with pytest.raises(ValueError, match="`sample_shape` must be an int >= 0"):
    flow.sample(sample_shape, seed=[1, 2])
  with pytest.raises(ValueError, match="`sample_shape` must be an int >= 0"):
    tfnvp.sample_at_temperature(flow, sample_shape, 0.5, seed=[1, 2])


@pytest.mark.parametrize("temperature", [float("inf"), float("nan"), 0.0,
                                         -1.0])
def test_bad_temperatures_are_refused(flow, temperature):
  with pytest.raises(ValueError, match="`temperature` must be a finite"):
    tfnvp.sample_at_temperature(flow, 2, temperature, seed=[1, 2])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="`temperature` must be finite and > 0"):
    tfnvp.sample_at_temperature(flow, 2, tf.constant(temperature),
                                seed=[1, 2])


@pytest.mark.parametrize("dtype", [tf.int32, tf.uint8, tf.float64])
@pytest.mark.parametrize("validate_args", [False, True])
def test_tensors_of_another_dtype_are_refused_by_name(dtype, validate_args):
  flow = _make("realnvp", validate_args=validate_args)
  with pytest.raises(ValueError,
                     match=f"`value` must have dtype float32; got "
                     f"{dtype.name}"):
    flow.log_prob(tf.zeros([2, 8, 8, 1], dtype))
