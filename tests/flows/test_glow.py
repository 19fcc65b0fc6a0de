"""tfnvp.Glow: shapes, exactness, normalization, actnorm init, options,
checkpoints, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests import kit
from tfnvp.flows import glow_level_shapes


def _flow(image_shape=(8, 8, 1), seed=0, stddev=0.1, **kwargs):
  """A small Glow with random (non-identity) weights."""
  kwargs.setdefault("num_levels", 2)
  kwargs.setdefault("depth", 2)
  kwargs.setdefault("hidden_channels", 8)
  flow = tfnvp.Glow(image_shape, seed=seed, **kwargs)
  kit.randomize_weights(flow.layers, seed, stddev=stddev)
  return flow


def _pixels(shape, seed=0, dtype=tf.float32):
  return tf.random.stateless_uniform(shape, [seed, 9], 0.0, 256.0,
                                     dtype=dtype)


def test_level_shapes():
  assert glow_level_shapes((28, 28, 1), 2) == [(14, 14, 4), (7, 7, 8)]
  assert glow_level_shapes((32, 32, 3), 3) == [(16, 16, 12), (8, 8, 24),
                                               (4, 4, 48)]
  with pytest.raises(ValueError, match="`num_levels`=3 is too deep for "
                     r"`image_shape`=\(28, 28, 1\)"):
    glow_level_shapes((28, 28, 1), 3)


def test_shapes_and_variables():
  flow = _flow()
  assert flow.event_shape == (8, 8, 1) and flow.batch_shape == ()
  assert flow.sample(3, seed=[1, 2]).shape == (3, 8, 8, 1)
  assert flow.log_prob(_pixels([2, 3, 8, 8, 1])).shape == (2, 3)
  # Per step: actnorm 2, LU conv 1 (`lower_upper`), network 2 convs + 2
  # actnorms x 2 + zero conv (kernel, bias, logs) = 2 + 1 + 2 + 4 + 3; one
  # split prior 3.
  assert len(flow.trainable_variables) == 4 * 12 + 3
  assert all(np.all(np.isfinite(v)) for v in flow.variables)


@pytest.mark.parametrize("options", [
    {}, {"coupling": "additive"}, {"lu_decomposed": False},
    {"learn_prior": False}, {"num_levels": 1}])
def test_full_flow_log_det_matches_autodiff_and_round_trips(options):
  flow = _flow((4, 4, 1), dtype=tf.float64, **options)
  x = _pixels([3, 4, 4, 1], dtype=tf.float64)
  preprocessed = x / 256.0 - 0.5
  kit.check_flow(flow, x, preprocessed)


def test_sample_and_log_prob_are_consistent():
  flow = _flow(dtype=tf.float64)
  seed = tf.constant([4, 2])
  x = flow.sample(5, seed=seed)
  z = flow.distribution.sample(5, seed=seed)
  np.testing.assert_allclose(x, flow.flow.inverse(z), rtol=1e-10)
  expected = flow.distribution.log_prob(z) - flow.flow.inverse_log_det_jacobian(
      tf.identity(z), event_ndims=3)
  np.testing.assert_allclose(flow.log_prob(tf.identity(x)), expected,
                             rtol=1e-8)


def test_density_integrates_to_one():
  flow = _flow((2, 2, 1), num_levels=1, dtype=tf.float64)
  kit.assert_density_integrates_to_one(flow)


def test_training_copy_initializes_every_actnorm_once():
  flow = tfnvp.Glow((8, 8, 1), num_levels=2, depth=2, hidden_channels=8,
                    seed=0)
  train = flow.copy(training=True)
  assert train.layers is flow.layers and train.training
  flags = [v for v in flow.variables if v.path.endswith("initialized")]
  assert len(flags) == 4 * 3    # each step: its actnorm + 2 in the network
  x = _pixels([16, 8, 8, 1])
  train.log_prob(x)
  assert all(float(v) == 1.0 for v in flags)
  # The first step's actnorm standardized the squeezed batch.
  squeezed = tfnvp.bijectors.Squeeze().forward(x / 256.0 - 0.5)
  actnorm = tfnvp.bijectors.ActNorm(4, layer=flow.layers.actnorm_0)
  y = actnorm.forward(squeezed)
  np.testing.assert_allclose(np.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(np.std(y, axis=(0, 1, 2)), 1.0, rtol=1e-3)
  values = [np.asarray(v) for v in flow.variables]
  train.log_prob(_pixels([16, 8, 8, 1], seed=1))
  for old, variable in zip(values, flow.variables):
    np.testing.assert_array_equal(old, variable, err_msg=variable.path)


def test_a_custom_gradient_tape_loop_trains_the_flow():
  flow = tfnvp.Glow((8, 8, 1), num_levels=2, depth=2, hidden_channels=16,
                    seed=0)
  train = flow.copy(training=True)
  x = _pixels([32, 8, 8, 1])
  optimizer = keras.optimizers.Adam(3e-3)
  before = float(tf.reduce_mean(tfnvp.bits_per_dim(train, x)))
  for _ in range(30):
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(train.log_prob(x))
    grads = tape.gradient(loss, flow.trainable_variables)
    assert all(g is not None for g in grads)
    optimizer.apply_gradients(zip(grads, flow.trainable_variables))
  after = float(tf.reduce_mean(tfnvp.bits_per_dim(flow, x)))
  assert after < before - 0.2, (before, after)


def test_a_tf_checkpoint_restores_every_variable(tmp_path):
  flow = _flow()
  path = tf.train.Checkpoint(layers=flow.layers).save(str(tmp_path / "ckpt"))
  restored = _flow(seed=1)
  x = _pixels([2, 8, 8, 1])
  assert np.abs(restored.log_prob(x) - flow.log_prob(x)).max() > 1.0
  tf.train.Checkpoint(layers=restored.layers).restore(
      path).assert_consumed()
  np.testing.assert_array_equal(restored.log_prob(x), flow.log_prob(x))


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_levels=4), "too deep"),
    (dict(depth=0), "`depth` must be an int >= 1; got 0"),
    (dict(hidden_channels=0), "`hidden_channels` must be an int >= 1"),
    (dict(coupling="spline"), "`coupling` must be one of"),
    (dict(dtype=tf.int32), "`dtype` must be float32 or float64"),
])
def test_invalid_constructor_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    tfnvp.Glow((8, 8, 1), **kwargs)


def test_bad_inputs_and_foreign_layers_raise_clear_errors():
  flow = tfnvp.Glow((8, 8, 1), num_levels=2, depth=1, hidden_channels=4,
                    validate_args=True)
  with pytest.raises(ValueError, match=r"must have shape \[..., 8, 8, 1\]"):
    flow.log_prob(tf.zeros([2, 4, 4, 1]))
  with pytest.raises(ValueError, match="must have dtype float32"):
    flow.log_prob(tf.zeros([2, 8, 8, 1], tf.float64))
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"in \[0, 256\)"):
    flow.log_prob(tf.fill([1, 8, 8, 1], 256.0))
  with pytest.raises(ValueError, match="`layers` was built for"):
    tfnvp.Glow((8, 8, 1), num_levels=2, depth=2, hidden_channels=4,
               layers=flow.layers)


def test_samples_stay_finite_where_glows_unbounded_scale_overflows():
  """Off the data a coupling network's raw scale output grows with its
  input; Glow's log(sigmoid) then lets the inverse amplify without limit.
  The soft bound keeps every sample finite."""
  flow = tfnvp.Glow((8, 8, 1), num_levels=2, depth=4, hidden_channels=16,
                    seed=1)
  flow.copy(training=True).log_prob(_pixels([32, 8, 8, 1]))   # actnorm init
  nets = [flow.layers.step_layers(i)[2] for i in range(flow.layers.num_steps)]
  for i, net in enumerate(nets):       # large raw scales off the data
    kit.randomize_weights(net, i, stddev=0.5)

  def nonfinite(bound):
    for net in nets:
      net.log_scale_bound = bound
    samples = tfnvp.sample_at_temperature(flow, 200, 1.0, seed=[4, 5])
    return int(np.sum(~np.isfinite(samples.numpy()).reshape(200, -1).all(1)))

  assert nonfinite(1e30) > 0, "the premise: Glow's own scale overflows"
  assert nonfinite(4.0) == 0
