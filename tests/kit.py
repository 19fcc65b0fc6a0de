"""The numerical test kit every tfnvp bijector goes through.

Each check breaks TFP's bijector cache with `tf.identity`, so that an
inverse is really computed rather than looked up.
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

__all__ = [
    "MIXED_PRECISION_MODES",
    "TOLERANCES",
    "assert_density_integrates_to_one",
    "check_bijector",
    "check_flow",
    "assert_ildj_is_minus_fldj",
    "assert_log_det_matches_autodiff",
    "assert_none_batch_dim_under_function",
    "assert_round_trips",
    "randomize_weights",
]

# (rtol, atol) per dtype for values computed two ways.
TOLERANCES = {tf.float32: (2e-4, 2e-4), tf.float64: (1e-9, 1e-9)}
# (rtol, atol) between two evaluations of a flow whose networks compute in
# bfloat16 or float16 by different kernels (eager vs a traced graph, where
# TF fuses ops and rounds between them differently): two functions that
# agree to the low precision's 2-3 digits, not two computations of one.
MIXED_PRECISION_MODES = (1e-2, 1e-2)


def _tol(dtype):
  return TOLERANCES[tf.as_dtype(dtype)]


def randomize_weights(layer, seed, stddev=0.3):
  """Replaces every weight of `layer` with random, non-identity values.

  Trainable weights get `N(w0, stddev)` noise added (so zero-initialized
  output convolutions are no longer zero and couplings are not the
  identity); moving variances become `U(0.5, 2)`, moving means `N(0, 0.5)`;
  other non-trainable state is left as it is.
  """
  rng = np.random.default_rng(seed)
  for variable in layer.weights:
    shape = tuple(variable.shape)
    dtype = variable.dtype
    path = variable.path
    if "moving_variance" in path:
      value = rng.uniform(0.5, 2.0, shape)
    elif "moving_mean" in path:
      value = rng.normal(0.0, 0.5, shape)
    elif not variable.trainable:
      continue    # other state, e.g. ActNorm's `initialized` flag
    else:
      value = np.asarray(variable) + rng.normal(0.0, stddev, shape)
    variable.assign(value.astype(dtype))


def assert_round_trips(bijector, x, y):
  """`inverse(forward(x)) == x` and `forward(inverse(y)) == y`.

  `x` is a point of the domain, `y` an independent point of the range.
  """
  rtol, atol = _tol(x.dtype)
  forward_x = bijector.forward(x)
  assert np.all(np.isfinite(forward_x)), "forward produced non-finite values"
  np.testing.assert_allclose(bijector.inverse(tf.identity(forward_x)), x,
                             rtol=rtol, atol=atol)
  inverse_y = bijector.inverse(y)
  assert np.all(np.isfinite(inverse_y)), "inverse produced non-finite values"
  np.testing.assert_allclose(bijector.forward(tf.identity(inverse_y)), y,
                             rtol=rtol, atol=atol)


def assert_ildj_is_minus_fldj(bijector, x, event_ndims=3):
  """`inverse_log_det_jacobian(y) == -forward_log_det_jacobian(x)`."""
  rtol, atol = _tol(x.dtype)
  fldj = bijector.forward_log_det_jacobian(x, event_ndims=event_ndims)
  y = tf.identity(bijector.forward(x))
  ildj = bijector.inverse_log_det_jacobian(y, event_ndims=event_ndims)
  fldj, ildj = np.broadcast_arrays(np.asarray(fldj), np.asarray(ildj))
  np.testing.assert_allclose(ildj, -fldj, rtol=rtol, atol=atol * 10)
  assert np.all(np.isfinite(fldj))


def _autodiff_log_det(fn, x):
  """`log|det d fn(x) / dx|` per example via `batch_jacobian` + `slogdet`."""
  batch = x.shape[0]
  with tf.GradientTape() as tape:
    tape.watch(x)
    # A fresh tensor: a cached output would not depend on the watched `x`.
    y = tf.reshape(fn(tf.identity(x)), [batch, -1])
  jacobian = tf.reshape(tape.batch_jacobian(y, x), [batch, y.shape[1], -1])
  sign, log_abs_det = tf.linalg.slogdet(jacobian)
  assert np.all(np.asarray(sign) != 0), "Jacobian is singular"
  return log_abs_det


def assert_log_det_matches_autodiff(bijector, x, event_ndims=3):
  """Both log-dets against `tf.GradientTape.batch_jacobian` + `slogdet`.

  `x` must have one batch dimension and events small enough for a dense
  Jacobian (e.g. 4x4x2). Each example's Jacobian is computed on its own, so
  the bijector must not mix examples (no batch statistics).
  """
  rtol, atol = _tol(x.dtype)
  expected = _autodiff_log_det(lambda t: bijector.forward(t), x)
  fldj = np.broadcast_to(
      bijector.forward_log_det_jacobian(tf.identity(x),
                                        event_ndims=event_ndims),
      expected.shape)
  np.testing.assert_allclose(fldj, expected, rtol=rtol * 10, atol=atol * 10)
  y = tf.identity(bijector.forward(x))
  expected_inverse = _autodiff_log_det(lambda t: bijector.inverse(t), y)
  ildj = np.broadcast_to(
      bijector.inverse_log_det_jacobian(tf.identity(y),
                                        event_ndims=event_ndims),
      expected_inverse.shape)
  np.testing.assert_allclose(ildj, expected_inverse, rtol=rtol * 10,
                             atol=atol * 10)


def assert_none_batch_dim_under_function(bijector, x, event_ndims=3,
                                         modes_tolerance=None):
  """Traced with a `None` batch dimension, results equal eager ones.

  The traced round trip is checked at the dtype's tolerance; traced
  against eager at `modes_tolerance` (`(rtol, atol)`, default the dtype's;
  `MIXED_PRECISION_MODES` for mixed-precision flows).
  """
  rtol, atol = _tol(x.dtype)
  mode_rtol, mode_atol = modes_tolerance or (rtol, atol)
  spec = tf.TensorSpec([None] + x.shape[1:].as_list(), x.dtype)

  @tf.function(input_signature=[spec])
  def run(t):
    y = bijector.forward(t)
    return (y, bijector.forward_log_det_jacobian(t, event_ndims=event_ndims),
            bijector.inverse(tf.identity(y)))

  y, fldj, x_again = run(x)
  assert y.shape[0] == x.shape[0]
  np.testing.assert_allclose(x_again, x, rtol=rtol, atol=atol)
  np.testing.assert_allclose(y, bijector.forward(tf.identity(x)),
                             rtol=mode_rtol, atol=mode_atol)
  np.testing.assert_allclose(
      np.broadcast_to(fldj, [x.shape[0]]),
      np.broadcast_to(bijector.forward_log_det_jacobian(
          tf.identity(x), event_ndims=event_ndims), [x.shape[0]]),
      rtol=mode_rtol, atol=mode_atol)


def check_bijector(bijector, x, y, event_ndims=3, modes_tolerance=None):
  """Runs the whole kit: `x` from the domain, `y` an independent range point.

  `x` must have one batch dimension and small events (see
  `assert_log_det_matches_autodiff`); `modes_tolerance` see
  `assert_none_batch_dim_under_function`.
  """
  assert_round_trips(bijector, x, y)
  assert_ildj_is_minus_fldj(bijector, x, event_ndims)
  assert_log_det_matches_autodiff(bijector, x, event_ndims)
  assert_none_batch_dim_under_function(bijector, x, event_ndims,
                                       modes_tolerance)


def check_flow(flow, x, preprocessed):
  """The kit on a whole float64 flow at pixels `x` (one batch dimension).

  `preprocessed` is `x` after the flow's fixed preprocessing: the premise
  that the randomized flow differs from it by more than 0.1. Checks the
  round trips, the log-det against autodiff, and that `log_prob` is the
  latent density plus the forward log-det.
  """
  assert np.abs(flow.flow.forward(x) - preprocessed).max() > 0.1, (
      "the randomized flow must not be the identity")
  assert_round_trips(flow.flow, x, tf.random.stateless_normal(
      x.shape, [2, 2], dtype=x.dtype))
  assert_log_det_matches_autodiff(flow.flow, x)
  z = flow.flow.forward(x)
  expected = flow.distribution.log_prob(z) + flow.flow.forward_log_det_jacobian(
      tf.identity(x), event_ndims=3)
  np.testing.assert_allclose(flow.log_prob(tf.identity(x)), expected,
                             rtol=1e-10)


def assert_density_integrates_to_one(flow, num_samples=20000,
                                     num_points=200000):
  """Importance sampling: `E_q[p(x) / q(x)]` is 1 within 3%.

  `q` is a Gaussian fitted to `flow`'s samples with twice their covariance;
  meant for tiny float64 flows (a few dimensions).
  """
  dims = flow.event_shape.num_elements()
  samples = tf.reshape(flow.sample(num_samples, seed=[1, 2]), [-1, dims])
  proposal = tfp.distributions.MultivariateNormalTriL(
      tf.reduce_mean(samples, 0),
      tf.linalg.cholesky(2.0 * tfp.stats.covariance(samples)))
  points = proposal.sample(num_points, seed=[3, 4])
  weights = tf.exp(
      flow.log_prob(tf.reshape(points, [-1, *flow.event_shape])) -
      proposal.log_prob(points))
  mass = float(tf.reduce_mean(weights))
  stderr = float(tf.math.reduce_std(weights)) / math.sqrt(num_points)
  assert stderr < 0.01
  assert abs(mass - 1.0) < 0.03, (mass, stderr)
