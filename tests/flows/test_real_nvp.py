"""tfnvp.RealNVP: shapes, exactness, normalization, modes, replicas, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests import kit
from tfnvp import networks
from tfnvp.flows import coupling_plan


def _flow(image_shape=(8, 8, 1), num_scales=2, seed=0, stddev=0.3, **kwargs):
  """A small flow with random weights (`stddev` of the noise added)."""
  kwargs.setdefault("hidden_channels", 8)
  kwargs.setdefault("num_res_blocks", 1)
  flow = tfnvp.RealNVP(image_shape, num_scales=num_scales, **kwargs)
  kit.randomize_weights(flow.layers, seed, stddev=stddev)
  return flow


# The exactness tests compose ten couplings: with the stronger randomization,
# samples reach |y| > 20 in logit space, where pixel space keeps only about
# eps * exp(|y|) of y (see LogitTransform) and round trips lose precision for
# that reason alone.
EXACT = dict(stddev=0.1, dtype=tf.float64)


def _pixels(shape, seed=0, dtype=tf.float32):
  return tf.random.stateless_uniform(shape, [seed, 9], 0.0, 256.0,
                                     dtype=dtype)


def test_coupling_plan_follows_the_paper():
  plan = coupling_plan((28, 28, 1), 3)
  assert [len(scale) for scale in plan] == [6, 6, 4]
  assert [s.mask_type for s in plan[0]] == ["checkerboard"] * 3 + [
      "channel"] * 3
  assert [s.event_shape for s in plan[0]] == [(28, 28, 1)] * 3 + [
      (14, 14, 4)] * 3
  assert plan[1][0].event_shape == (14, 14, 2)
  assert plan[2][0].event_shape == (7, 7, 4)
  assert [s.parity for s in plan[2]] == [0, 1, 0, 1]


def test_shapes_and_variables():
  flow = _flow()
  assert flow.event_shape == (8, 8, 1) and flow.batch_shape == ()
  assert flow.dtype == tf.float32 and not flow.training
  assert flow.sample(3, seed=[1, 2]).shape == (3, 8, 8, 1)
  assert flow.log_prob(_pixels([2, 3, 8, 8, 1])).shape == (2, 3)
  assert flow.log_prob(_pixels([8, 8, 1])).shape == ()
  assert len(flow.trainable_variables) == 10 * 19
  assert len(flow.non_trainable_variables) == 10 * (2 + 2 * 2 + 2)
  assert len(flow.variables) == len(flow.trainable_variables) + len(
      flow.non_trainable_variables)


def test_a_tf_checkpoint_of_the_layers_restores_every_variable(tmp_path):
  flow = _flow()
  path = tf.train.Checkpoint(layers=flow.layers).save(str(tmp_path / "ckpt"))
  saved = {name for name, _ in tf.train.list_variables(path)}
  assert sum(name.startswith("layers/") for name in saved) == len(
      flow.variables)
  restored = _flow(seed=1)
  x = _pixels([2, 8, 8, 1])
  assert np.abs(restored.log_prob(x) - flow.log_prob(x)).max() > 1.0
  tf.train.Checkpoint(layers=restored.layers).restore(
      path).assert_consumed()
  for a, b in zip(flow.variables, restored.variables):
    np.testing.assert_array_equal(a, b, err_msg=a.path)
  np.testing.assert_array_equal(restored.log_prob(x), flow.log_prob(x))


@pytest.mark.parametrize("logit_alpha", [0.05, None])
def test_full_flow_log_det_matches_autodiff(logit_alpha):
  flow = _flow((4, 4, 1), logit_alpha=logit_alpha, **EXACT)
  x = _pixels([3, 4, 4, 1], dtype=tf.float64)
  if logit_alpha is None:
    x = (x - 128.0) / 64.0
  preprocessed = x if logit_alpha is None else (
      tfnvp.bijectors.LogitTransform(logit_alpha).forward(x))
  kit.check_flow(flow, x, preprocessed)


@pytest.mark.parametrize("logit_alpha", [0.05, None])
def test_sample_and_log_prob_are_consistent(logit_alpha):
  flow = _flow(logit_alpha=logit_alpha, **EXACT)
  seed = tf.constant([4, 2])
  x = flow.sample(5, seed=seed)
  z = flow.distribution.sample(5, seed=seed)
  np.testing.assert_allclose(x, flow.flow.inverse(z), rtol=1e-10)
  if logit_alpha is not None:
    logits = tfnvp.bijectors.LogitTransform(logit_alpha).forward(x)
    assert np.abs(logits).max() < 15, (
        "samples this far out in logit space are not representable to 1e-8 "
        "in pixel space; the test's premise needs milder weights")
  expected = flow.distribution.log_prob(z) - flow.flow.inverse_log_det_jacobian(
      tf.identity(z), event_ndims=3)
  np.testing.assert_allclose(flow.log_prob(tf.identity(x)), expected,
                             rtol=1e-8)


def test_density_integrates_to_one_without_preprocessing():
  flow = _flow((2, 2, 1), num_scales=1, logit_alpha=None, dtype=tf.float64)
  kit.assert_density_integrates_to_one(flow)


def test_pixel_space_mass_inside_the_cube_matches_sampling():
  """With the logit, the density on [0, 256)^D has the mass samples put there."""
  flow = _flow((2, 2, 1), num_scales=1, dtype=tf.float64)
  samples = flow.sample(20000, seed=[1, 2])
  inside = np.mean(np.all((samples >= 0) & (samples < 256), axis=(1, 2, 3)))
  cube = _pixels([200000, 2, 2, 1], dtype=tf.float64)
  mass = float(tf.reduce_mean(tf.exp(flow.log_prob(cube)))) * 256.0 ** 4
  assert 0.05 < inside < 0.99
  assert abs(mass - inside) < 0.02, (mass, inside)


def test_stateless_seeds_reproduce_samples():
  flow = _flow()
  a = flow.sample(4, seed=[7, 7])
  np.testing.assert_array_equal(a, flow.sample(4, seed=[7, 7]))
  assert not np.allclose(a, flow.sample(4, seed=[7, 8]))
  assert np.all(np.isfinite(a))


def test_inference_by_default_and_training_copy_shares_variables():
  flow = _flow()
  train_flow = flow.copy(training=True)
  assert train_flow.training and train_flow.layers is flow.layers
  x = 3.0 * _pixels([16, 8, 8, 1]) / 4.0
  moving = [np.asarray(v) for v in flow.non_trainable_variables]
  inference_lp = flow.log_prob(x)
  for old, variable in zip(moving, flow.non_trainable_variables):
    np.testing.assert_array_equal(old, variable)
  training_lp = train_flow.log_prob(x)
  assert not np.allclose(inference_lp, training_lp)
  changed = [not np.allclose(old, v) for old, v in
             zip(moving, flow.non_trainable_variables)]
  assert all(changed), "every moving statistic updates in training mode"


def test_each_network_runs_once_per_coupling_per_direction(monkeypatch):
  flow = _flow()
  calls = []
  original = networks.ResNetShiftAndLogScale.call

  def counting_call(self, *args, **kwargs):
    calls.append(self.name)
    return original(self, *args, **kwargs)

  monkeypatch.setattr(networks.ResNetShiftAndLogScale, "call", counting_call)
  num_couplings = len(flow.layers.coupling_networks)
  flow.copy(training=True).log_prob(_pixels([4, 8, 8, 1]))
  assert len(calls) == num_couplings and len(set(calls)) == num_couplings
  calls.clear()
  flow.sample(2, seed=[1, 1])
  assert len(calls) == num_couplings


def test_a_custom_gradient_tape_loop_trains_the_flow():
  # One scale: the traced step is its time, less than half of two scales'
  # (whose training `fit` tests on real MNIST).
  flow = tfnvp.RealNVP((8, 8, 1), num_scales=1, hidden_channels=8,
                       num_res_blocks=1)
  train_flow = flow.copy(training=True)
  ramp = tf.reshape(tf.linspace(0.0, 200.0, 64), [1, 8, 8, 1])
  data = tf.clip_by_value(
      ramp + 20.0 * tf.random.stateless_normal([64, 8, 8, 1], [1, 1]),
      0.0, 255.0)
  optimizer = keras.optimizers.Adam(5e-3)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(train_flow.log_prob(data))
    grads = tape.gradient(loss, flow.trainable_variables)
    optimizer.apply_gradients(zip(grads, flow.trainable_variables))
    return loss

  before = float(tf.reduce_mean(tfnvp.bits_per_dim(flow, data)))
  losses = [float(step()) for _ in range(25)]
  after = float(tf.reduce_mean(tfnvp.bits_per_dim(flow, data)))
  assert losses[-1] < losses[0] - 0.05 * abs(losses[0]), losses[::10]
  assert after < before, (before, after)


def test_none_batch_dimension_under_function_matches_eager():
  flow = _flow()
  run = tf.function(flow.log_prob, input_signature=[
      tf.TensorSpec([None, 8, 8, 1], tf.float32)])
  x = _pixels([5, 8, 8, 1])
  np.testing.assert_allclose(run(x), flow.log_prob(x), rtol=1e-5)


def test_float64_flow():
  flow = _flow(dtype=tf.float64)
  assert all(v.dtype == "float64" for v in flow.variables)
  lp = flow.log_prob(_pixels([2, 8, 8, 1], dtype=tf.float64))
  assert lp.dtype == tf.float64 and np.all(np.isfinite(lp))


def test_two_replicas_train_like_one_device(mirrored_strategy):
  """Training-mode log_prob on 2 replicas equals one device (synced BN)."""
  single = _flow(seed=3)
  x = _pixels([8, 8, 8, 1], seed=3)
  values = [np.asarray(v) for v in single.variables]
  expected = single.copy(training=True).log_prob(x)
  strategy = mirrored_strategy
  with strategy.scope():
    mirrored = tfnvp.RealNVP((8, 8, 1), num_scales=2, hidden_channels=8,
                             num_res_blocks=1)
  for variable, value in zip(mirrored.variables, values):
    variable.assign(value)
  train_flow = mirrored.copy(training=True)
  halves = strategy.experimental_distribute_values_from_function(
      lambda ctx: x[ctx.replica_id_in_sync_group * 4:][:4])
  result = strategy.run(tf.function(train_flow.log_prob), args=(halves,))
  got = tf.concat(strategy.experimental_local_results(result), axis=0)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  for variable, want in zip(mirrored.non_trainable_variables,
                            single.non_trainable_variables):
    for replica_value in strategy.experimental_local_results(variable):
      np.testing.assert_allclose(replica_value, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("value,match", [
    (tf.zeros([2, 8, 8, 3]), r"shape \[\.\.\., 8, 8, 1\]; got \(2, 8, 8, 3\)"),
    (tf.zeros([8, 8]), r"shape \[\.\.\., 8, 8, 1\]; got \(8, 8\)"),
    (tf.zeros([2, 8, 8, 1], tf.uint8), "dtype float32; got uint8"),
    (tf.zeros([2, 8, 8, 1], tf.float64), "dtype float32; got float64"),
])
def test_bad_inputs_raise_clear_errors(value, match):
  with pytest.raises(ValueError, match=match):
    _flow().log_prob(value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0, 256.0])
def test_validate_args_rejects_values_outside_the_support(bad):
  flow = _flow(validate_args=True)
  x = _pixels([2, 8, 8, 1]).numpy()
  x[1, 3, 3, 0] = bad
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"finite and in \[0, 256\)"):
    flow.log_prob(tf.constant(x))


def test_validate_args_rejects_nan_without_preprocessing():
  flow = _flow(logit_alpha=None, validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
    flow.log_prob(tf.fill([1, 8, 8, 1], np.nan))


@pytest.mark.parametrize("kwargs,match", [
    (dict(image_shape=(28, 28, 1), num_scales=4), "num_scales`=4 is too deep"),
    (dict(image_shape=(6, 6, 1), num_scales=3), "num_scales`=3 is too deep"),
    (dict(image_shape=(28, 28), num_scales=2), r"image_shape.*\(28, 28\)"),
    (dict(image_shape=(8, 8, 1), num_scales=0), "num_scales.*0"),
    (dict(image_shape=(8, 8, 1), hidden_channels=0), "hidden_channels.*0"),
    (dict(image_shape=(8, 8, 1), logit_alpha=0.7), "alpha.*0.7"),
    (dict(image_shape=(8, 8, 1), dtype=tf.int32), "dtype.*int32"),
])
def test_invalid_constructor_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    tfnvp.RealNVP(**kwargs)


def test_layers_from_another_configuration_are_rejected():
  flow = _flow()
  with pytest.raises(ValueError, match="`layers` was built for"):
    tfnvp.RealNVP((8, 8, 1), num_scales=2, hidden_channels=16,
                  layers=flow.layers)
