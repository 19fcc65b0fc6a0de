"""tfnvp.guidance: the Gaussian product against numerical integration, the
linear rule, w = 0 exactly, improper products refused."""

import numpy as np
import pytest
import tensorflow as tf

from tfnvp import guidance

# (m_c, log s_c, m_u, log s_u, w): the conditional narrower, wider (w below
# the bound 1 / (s_c^2 / s_u^2 - 1)), equal, and a strong guidance.
CASES = np.array([
    [0.7, -0.4, -0.2, 0.1, 1.0],
    [-1.3, 0.3, 0.5, 0.1, 1.0],       # s_c^2 / s_u^2 = e^0.4: w < 2.03
    [2.0, 0.0, 2.0, 0.0, 3.0],
    [0.1, -1.2, 1.5, 0.6, 4.0],
])


def _log_normal(x, mean, log_scale):
  return (-0.5 * ((x - mean) / np.exp(log_scale)) ** 2 - log_scale -
          0.5 * np.log(2 * np.pi))


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_the_product_is_the_normalized_density_ratio(case):
  """p_c^(1+w) / p_u^w, normalized on a fine grid, is N(m_w, s_w^2)."""
  m_c, ls_c, m_u, ls_u, w = case
  loc, log_scale = guidance.gaussian_guidance(
      tf.constant(m_c, tf.float64), tf.constant(ls_c, tf.float64),
      tf.constant(m_u, tf.float64), tf.constant(ls_u, tf.float64), w)
  x = np.linspace(-30.0, 30.0, 600001)
  unnormalized = (1 + w) * _log_normal(x, m_c, ls_c) - w * _log_normal(
      x, m_u, ls_u)
  density = np.exp(unnormalized - unnormalized.max())
  density /= np.trapezoid(density, x)
  mean = np.trapezoid(x * density, x)
  std = np.sqrt(np.trapezoid((x - mean) ** 2 * density, x))
  np.testing.assert_allclose(float(loc), mean, rtol=1e-7, atol=1e-9)
  np.testing.assert_allclose(float(np.exp(log_scale)), std, rtol=1e-7)
  # Pointwise, not only the moments.
  near = np.abs(x - mean) < 4 * std
  np.testing.assert_allclose(
      _log_normal(x[near], float(loc), float(log_scale)),
      np.log(density[near]), atol=1e-6)


def test_a_batch_of_gaussians_in_one_call_and_w_zero_exactly():
  m_c, ls_c, m_u, ls_u, _ = (tf.constant(c) for c in CASES.T)
  loc, log_scale = guidance.gaussian_guidance(m_c, ls_c, m_u, ls_u,
                                              tf.constant(1.0, tf.float64))
  for i, case in enumerate(CASES):
    one = guidance.gaussian_guidance(*(tf.constant(c) for c in case[:4]), 1.0)
    np.testing.assert_allclose([loc[i], log_scale[i]], one, rtol=1e-14)
  for zero in (0.0, tf.constant(0.0, tf.float64)):
    same = guidance.gaussian_guidance(m_c, ls_c, m_u, ls_u, zero)
    np.testing.assert_array_equal(same[0], m_c)
    np.testing.assert_array_equal(same[1], ls_c)


def test_an_improper_product_names_guidance_and_the_largest_weight():
  # s_c^2 / s_u^2 = e^0.4: the precision 1 + w (1 - e^0.4) is positive for
  # w < 1 / (e^0.4 - 1) = 2.033.
  args = [tf.constant(v, tf.float64) for v in (-1.3, 0.3, 0.5, 0.1)]
  guidance.gaussian_guidance(*args, 2.0)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"`guidance` makes p_c\^\(1\+w\) / p_u\^w improper"
                     r".*got guidance=2.1; it must be below 2.0332"):
    guidance.gaussian_guidance(*args, 2.1)


def test_the_linear_rule():
  c = tf.constant([1.0, -2.0, 0.5], tf.float64)
  u = tf.constant([0.5, -1.0, 0.5], tf.float64)
  np.testing.assert_allclose(guidance.linear_guidance(c, u, 2.0),
                             [2.0, -4.0, 0.5], rtol=1e-15)
  np.testing.assert_array_equal(guidance.linear_guidance(c, u, 0.0), c)
  assert guidance.is_unguided(0) and guidance.is_unguided(np.float32(0.0))
  assert not guidance.is_unguided(tf.constant(0.0))
  assert not guidance.is_unguided(0.5)
