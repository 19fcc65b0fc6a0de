"""batch_moments: per-channel statistics, across replicas, skippable."""

import numpy as np
import pytest
import tensorflow as tf

from tfnvp.internal.moments import batch_moments


def _x():
  return tf.random.stateless_normal([6, 3, 4, 2], [1, 2], mean=3.0)


@pytest.mark.parametrize("skip", [None, False])
def test_moments_over_all_axes_but_the_last(skip):
  x = _x()
  mean, var = batch_moments(
      x, skip=None if skip is None else tf.constant(skip))
  np.testing.assert_allclose(mean, np.mean(x, axis=(0, 1, 2)), rtol=1e-5)
  np.testing.assert_allclose(var, np.var(x, axis=(0, 1, 2)), rtol=1e-4)


def test_a_skip_in_a_function_computes_no_reduction_and_returns_zeros():
  skip = tf.Variable(True)

  @tf.function
  def moments(x):
    return batch_moments(x, skip=skip)

  mean, var = moments(_x())
  np.testing.assert_array_equal(mean, [0.0, 0.0])
  np.testing.assert_array_equal(var, [0.0, 0.0])
  skip.assign(False)
  mean, _ = moments(_x())
  np.testing.assert_allclose(mean, np.mean(_x(), axis=(0, 1, 2)), rtol=1e-5)


def test_two_replicas_with_skip_give_the_global_statistics(mirrored_strategy):
  x = _x()
  with mirrored_strategy.scope():
    skip = tf.Variable(False)

  @tf.function
  def step(halves):
    return mirrored_strategy.run(
        lambda h: batch_moments(h, skip=tf.identity(skip)), args=(halves,))

  halves = mirrored_strategy.experimental_distribute_values_from_function(
      lambda ctx: x[ctx.replica_id_in_sync_group * 3:][:3])
  for mean, var in zip(*(mirrored_strategy.experimental_local_results(t)
                         for t in step(halves))):
    np.testing.assert_allclose(mean, np.mean(x, axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(var, np.var(x, axis=(0, 1, 2)), rtol=1e-4)
