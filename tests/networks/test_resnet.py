"""ResNetShiftAndLogScale: shapes, identity at init, bounded log-scale."""

import numpy as np
import pytest
import tensorflow as tf

from tests import kit
from tfnvp import networks


def test_shapes_variables_and_zero_output_at_initialization():
  net = networks.ResNetShiftAndLogScale(3, hidden_channels=8, num_res_blocks=2)
  net.build((None, 6, 6, 3))
  # in_conv (3) + 2 blocks x (2 bn x 2 + 2 conv x 3) + out bn (2)
  # + out_conv (3) + scale (1)
  assert len(net.trainable_variables) == 3 + 2 * 10 + 2 + 3 + 1
  x = tf.random.stateless_normal([4, 6, 6, 3], [3, 3])
  shift, log_scale = net(x, training=True)
  assert shift.shape == log_scale.shape == x.shape
  np.testing.assert_array_equal(shift, 0.0)
  np.testing.assert_array_equal(log_scale, 0.0)


def test_log_scale_is_bounded_by_the_learned_scale():
  net = networks.ResNetShiftAndLogScale(2, hidden_channels=8, num_res_blocks=1)
  net.build((None, 4, 4, 2))
  kit.randomize_weights(net, seed=4, stddev=3.0)
  x = 100.0 * tf.random.stateless_normal([4, 4, 4, 2], [4, 4])
  _, log_scale = net(x)
  bound = np.abs(np.asarray(net.scale))
  assert np.all(np.abs(log_scale) <= bound + 1e-6)
  assert np.abs(log_scale).max() > 0.1 * bound.min()


def test_training_flag_switches_batch_statistics():
  net = networks.ResNetShiftAndLogScale(2, hidden_channels=8, num_res_blocks=1)
  net.build((None, 4, 4, 2))
  kit.randomize_weights(net, seed=5)
  x = 5.0 + 3.0 * tf.random.stateless_normal([4, 4, 4, 2], [5, 5])
  moving = [np.asarray(v) for v in net.non_trainable_variables]
  inference = net(x, training=False)
  for old, variable in zip(moving, net.non_trainable_variables):
    np.testing.assert_array_equal(old, variable)
  training = net(x, training=True)
  assert not np.allclose(inference[1], training[1])
  assert any(not np.allclose(old, variable) for old, variable in
             zip(moving, net.non_trainable_variables))


@pytest.mark.parametrize("kwargs,match", [
    (dict(channels=0), "channels.*0"),
    (dict(channels=2, hidden_channels=-1), "hidden_channels.*-1"),
    (dict(channels=2, num_res_blocks=1.5), "num_res_blocks.*1.5"),
])
def test_invalid_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    networks.ResNetShiftAndLogScale(**kwargs)
