"""WeightNormConv2D: the reparameterization, zero init, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import networks


def test_kernel_is_g_times_unit_direction_and_matches_conv2d():
  conv = networks.WeightNormConv2D(5, 3)
  conv.build((None, 6, 6, 2))
  kit.randomize_weights(conv, seed=1)
  kernel = np.asarray(conv.kernel())
  norms = np.sqrt((kernel ** 2).sum(axis=(0, 1, 2)))
  np.testing.assert_allclose(norms, np.abs(np.asarray(conv.g)), rtol=1e-5)
  x = tf.random.stateless_normal([2, 6, 6, 2], [1, 1])
  expected = tf.nn.conv2d(x, kernel, 1, "SAME") + np.asarray(conv.bias)
  np.testing.assert_allclose(conv(x), expected, rtol=1e-5, atol=1e-5)


def test_initial_kernel_has_he_scale_and_zero_init_outputs_zero():
  conv = networks.WeightNormConv2D(64, 3)
  conv.build((None, 8, 8, 32))
  norms = np.sqrt((np.asarray(conv.kernel()) ** 2).sum(axis=(0, 1, 2)))
  np.testing.assert_allclose(norms, np.sqrt(2.0), rtol=1e-5)
  zero = networks.WeightNormConv2D(4, 3, zero_init=True)
  out = zero(tf.random.stateless_normal([2, 8, 8, 3], [2, 2]))
  np.testing.assert_array_equal(out, 0.0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(filters=0), "filters.*0"),
    (dict(filters=4, kernel_size=2.5), "kernel_size.*2.5"),
])
def test_invalid_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    networks.WeightNormConv2D(**kwargs)
