"""Per-channel batch statistics, summed across `tf.distribute` replicas."""

import tensorflow as tf

__all__ = ["batch_moments", "replica_sum"]


def replica_sum(values):
  """Sums `values` over the replicas of the current `tf.distribute` strategy."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return values
  return context.all_reduce(tf.distribute.ReduceOp.SUM, values)


def batch_moments(x):
  """Mean and (biased) variance over all axes but the last, all replicas.

  N replicas with `B / N` examples each get what one device gets on all `B`.
  """
  axes = list(range(x.shape.rank - 1))
  count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
  count, total = replica_sum([count, tf.reduce_sum(x, axis=axes)])
  mean = total / count
  squares = replica_sum(tf.reduce_sum(tf.square(x - mean), axis=axes))
  return mean, squares / count
