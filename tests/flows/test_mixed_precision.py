"""Mixed precision: coupling networks in bfloat16/float16, the rest float32."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests import kit

LOW = ("bfloat16", "float16")


def _config(kind, image_shape=(4, 4, 1), **kwargs):
  if kind == "glow":
    return tfnvp.GlowConfig(image_shape=image_shape, num_levels=2, depth=2,
                            hidden_channels=8, **kwargs)
  return tfnvp.RealNVPConfig(image_shape=image_shape, num_scales=2,
                             hidden_channels=8, num_res_blocks=1, **kwargs)


def _pair(kind, network_dtype, image_shape=(4, 4, 1), stddev=0.1):
  """A randomized mixed-precision flow and its float32 twin (same weights)."""
  config = _config(kind, image_shape)
  mixed = dataclasses.replace(config, network_dtype=network_dtype).make_flow()
  kit.randomize_weights(mixed.layers, 1, stddev=stddev)
  twin = dataclasses.replace(config, network_dtype="float32").make_flow()
  twin.layers.set_weights(mixed.layers.get_weights())
  return mixed, twin


def _pixels(shape, seed=0):
  return tf.random.stateless_uniform(shape, [seed, 5], 0.0, 256.0)


def _conv_dtypes(fn, *args):
  graph = tf.function(fn).get_concrete_function(*args).graph
  return {op.get_attr("T").name for op in graph.get_operations()
          if op.type == "Conv2D"}


@pytest.fixture
def global_policy():
  """Sets Keras's global dtype policy for one test and restores it."""
  before = keras.config.dtype_policy()
  yield keras.mixed_precision.set_global_policy
  keras.mixed_precision.set_global_policy(before)


@pytest.mark.parametrize("kind", ["realnvp", "glow"])
@pytest.mark.parametrize("network_dtype", LOW)
def test_networks_compute_low_everything_else_float32(kind, network_dtype):
  mixed, twin = _pair(kind, network_dtype)
  x = _pixels([3, 4, 4, 1])
  assert mixed.network_dtype == network_dtype
  assert _conv_dtypes(mixed.log_prob, x) == {network_dtype}
  assert _conv_dtypes(twin.log_prob, x) == {"float32"}
  for layer in mixed.layers._flatten_layers(include_self=False):  # pylint: disable=protected-access
    assert layer.variable_dtype == "float32", layer.name
  if kind == "realnvp":
    net, net_input = mixed.layers.coupling_networks[0], [2, 4, 4, 1]
  else:
    net, net_input = mixed.layers.step_layers(0)[2], [2, 2, 2, 2]
  shift, log_scale = net(tf.ones(net_input))
  assert shift.dtype == log_scale.dtype == tf.float32
  log_prob, reference = mixed.log_prob(x), twin.log_prob(x)
  assert log_prob.dtype == tf.float32
  assert mixed.sample(2, seed=[1, 2]).dtype == tf.float32
  # Another function than its float32 twin, and a close one.
  gap = np.abs(np.asarray(log_prob) - reference)
  assert gap.max() > 1e-5, "the networks must compute in low precision"
  np.testing.assert_allclose(log_prob, reference, rtol=2e-2)


@pytest.mark.parametrize("kind", ["realnvp", "glow"])
@pytest.mark.parametrize("network_dtype", LOW)
def test_numerical_kit(kind, network_dtype):
  mixed, _ = _pair(kind, network_dtype)
  x = _pixels([3, 4, 4, 1])
  latent = mixed.flow.forward(x)
  assert np.abs(latent - mixed.flow.forward(x)).max() == 0
  kit.check_bijector(mixed.flow, x, tf.random.stateless_normal(
      [3, 4, 4, 1], [4, 4]), modes_tolerance=kit.MIXED_PRECISION_MODES)


# The bound `tfnvp.flows.ImageFlow` states, in pixel levels.
ROUND_TRIP_MEDIAN, ROUND_TRIP_P99, ROUND_TRIP_MAX = 1e-4, 0.2, 8.0


@pytest.mark.parametrize("kind", ["realnvp", "glow"])
@pytest.mark.parametrize("network_dtype", [
    "bfloat16", pytest.param("float16", marks=pytest.mark.slow)])
def test_encode_a_batch_of_64_decode_one_image_at_a_time(kind, network_dtype):
  mixed, _ = _pair(kind, network_dtype, image_shape=(28, 28, 1))
  x = _pixels([64, 28, 28, 1], seed=2)
  latent = mixed.flow.forward(x)
  decoded = np.concatenate([mixed.flow.inverse(tf.identity(latent[i:i + 1]))
                            for i in range(64)])
  error = np.abs(decoded - x)
  assert np.median(error) < ROUND_TRIP_MEDIAN
  assert np.quantile(error, 0.99) < ROUND_TRIP_P99
  assert error.max() < ROUND_TRIP_MAX
  alone = np.concatenate([mixed.flow.forward(x[i:i + 1]) for i in range(4)])
  np.testing.assert_allclose(alone, latent[:4],
                             *kit.MIXED_PRECISION_MODES)


def test_global_policy_is_honoured(global_policy):
  global_policy("mixed_bfloat16")
  flow = _config("realnvp").make_flow()
  assert flow.network_dtype == "bfloat16"
  assert tfnvp.FlowConfig.from_flow(flow).network_dtype == "bfloat16"
  assert flow.layers.dtype_policy.name == "float32"
  assert {m.dtype_policy.name for m in flow.layers.moments} == {"float32"}
  model = tfnvp.FlowModel(flow)
  assert model.dtype_policy.name == "float32"
  x = _pixels([2, 4, 4, 1])
  # Float images reach the flow unrounded: the model's policy is float32.
  np.testing.assert_array_equal(model(x), flow.log_prob(x))
  glow = tfnvp.Glow((4, 4, 1), 2, 1, 8)
  assert glow.network_dtype == "bfloat16"
  assert glow.layers.step_layers(0)[0].dtype_policy.name == "float32"
  assert tfnvp.RealNVP((4, 4, 1), 2, 8, 1, network_dtype="float32",
                       ).network_dtype == "float32"
  assert tfnvp.RealNVP((4, 4, 1), 2, 8, 1,
                       dtype=tf.float64).network_dtype == "float64"
  # A copy keeps its networks' precision whatever the policy is by then.
  global_policy("float32")
  assert flow.copy(training=True).network_dtype == "bfloat16"


def test_bad_precisions_are_rejected():
  with pytest.raises(ValueError, match=r"`network_dtype` must be None or one "
                     r"of \('float64',\) for a float64 flow; got 'float16'"):
    tfnvp.RealNVP((4, 4, 1), 2, 8, 1, dtype=tf.float64,
                  network_dtype="float16")
  with pytest.raises(ValueError, match="got 'int8'"):
    tfnvp.Glow((4, 4, 1), 2, 1, 8, network_dtype="int8")
  with pytest.raises(ValueError, match="got 'half-ish'"):
    tfnvp.RealNVPConfig(image_shape=(4, 4, 1), network_dtype="half-ish")
  flow = tfnvp.RealNVP((4, 4, 1), 2, 8, 1, network_dtype="bfloat16")
  with pytest.raises(ValueError, match="`layers` has coupling networks in "
                     "bfloat16; got network_dtype='float16'"):
    tfnvp.RealNVP((4, 4, 1), 2, 8, 1, layers=flow.layers,
                  network_dtype="float16")
  with pytest.raises(ValueError, match="`dtype` must be the flow's, "
                     "'float32'; got 'mixed_bfloat16'"):
    tfnvp.FlowModel(flow, dtype="mixed_bfloat16")
  coupling = tfnvp.bijectors.AffineCoupling(
      "checkerboard", 0, lambda h: (tf.cast(h, tf.bfloat16),) * 2)
  with pytest.raises(ValueError, match="must return tensors of its input's "
                     "dtype float32.*got shift of dtype bfloat16"):
    coupling.forward(tf.ones([1, 4, 4, 1]))


def _uint8(n, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, 4, 4, 1), np.uint8)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["realnvp", "glow"])
def test_float16_trains_with_loss_scaling(kind):
  flow = dataclasses.replace(_config(kind),
                             network_dtype="float16").make_flow()
  model = tfnvp.FlowModel(flow)
  model.compile(keras.optimizers.Adam(1e-3))
  assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
  history = model.fit(_uint8(32), batch_size=8, epochs=2, verbose=0)
  losses = history.history["bits_per_dim"]
  assert np.all(np.isfinite(losses)) and losses[1] < losses[0], losses
  plain = tfnvp.FlowModel(flow)
  plain.compile(keras.optimizers.Adam(1e-3), auto_scale_loss=False)
  assert isinstance(plain.optimizer, keras.optimizers.Adam)


def test_an_overflowing_float16_step_is_skipped_not_raised():
  # One scale: its training step traces in less than half the time of two
  # scales', and loss scaling does not depend on the depth.
  flow = dataclasses.replace(_config("realnvp"), num_scales=1,
                             network_dtype="float16").make_flow()
  model = tfnvp.FlowModel(flow)
  model.compile(keras.optimizers.LossScaleOptimizer(
      keras.optimizers.Adam(1e-3), initial_scale=2.0 ** 60))
  before = [np.asarray(v) for v in flow.trainable_variables]
  model.train_on_batch(_uint8(8))
  assert float(model.optimizer.dynamic_scale) == 2.0 ** 59
  assert int(model.optimizer.iterations) == 0
  for variable, value in zip(flow.trainable_variables, before):
    np.testing.assert_array_equal(variable, value)
  for _ in range(3):
    model.train_on_batch(_uint8(8))    # scaled down until it fits


def test_float16_under_mirrored_strategy(mirrored_strategy):
  with mirrored_strategy.scope():
    model = tfnvp.FlowModel(dataclasses.replace(
        _config("glow"), network_dtype="float16").make_flow())
    model.compile(keras.optimizers.Adam(1e-3))
  history = model.fit(tf.data.Dataset.from_tensor_slices(_uint8(32)).batch(8),
                      epochs=2, verbose=0)
  losses = history.history["bits_per_dim"]
  assert np.all(np.isfinite(losses)) and losses[1] < losses[0], losses


def test_save_and_load_keep_the_precision(tmp_path):
  mixed, _ = _pair("glow", "bfloat16")
  model = tfnvp.FlowModel(mixed)
  model.compile(keras.optimizers.Adam(1e-3))
  model.fit(_uint8(16), batch_size=8, verbose=0)
  model.save(tmp_path / "mixed.keras")
  restored = keras.models.load_model(tmp_path / "mixed.keras")
  assert restored.flow.network_dtype == "bfloat16"
  x = _pixels([2, 4, 4, 1])
  np.testing.assert_array_equal(restored.flow.log_prob(x),
                                model.flow.log_prob(x))
  assert isinstance(restored.optimizer, keras.optimizers.Adam)


@pytest.mark.slow
def test_a_loaded_float16_model_is_compiled_with_loss_scaling(tmp_path):
  model = tfnvp.FlowModel(dataclasses.replace(
      _config("realnvp"), network_dtype="float16").make_flow())
  model.compile(keras.optimizers.Adam(1e-3))
  model.fit(_uint8(16), batch_size=8, verbose=0)
  model.save(tmp_path / "half.keras")
  restored = keras.models.load_model(tmp_path / "half.keras")
  assert isinstance(restored.optimizer, keras.optimizers.LossScaleOptimizer)
  np.testing.assert_array_equal(restored.optimizer.dynamic_scale,
                                model.optimizer.dynamic_scale)
  restored.fit(_uint8(16), batch_size=8, verbose=0)
