"""Per-channel batch statistics, summed across `tf.distribute` replicas."""

import tensorflow as tf

__all__ = ["batch_moments", "replica_sum"]


def replica_sum(values):
  """Sums `values` over the replicas of the current `tf.distribute` strategy."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return values
  return context.all_reduce(tf.distribute.ReduceOp.SUM, values)


def batch_moments(x, skip=None):
  """Mean and (biased) variance over all axes but the last, all replicas.

  N replicas with `B / N` examples each get what one device gets on all `B`.

  Args:
    x: a `[..., C]` tensor with a static rank.
    skip: `None`, or a scalar `bool` tensor, equal on every replica: where it
      is true the reductions over `x` are not computed (they sit in a
      `tf.cond` branch) and the result is `(0, 0)`. The all-reduces of the
      per-channel sums run either way: a conditional branch cannot hold a
      cross-replica synchronization.

  Returns:
    `(mean, variance)`, each of shape `[C]`.
  """
  axes = list(range(x.shape.rank - 1))

  def reduced(fn):
    if skip is None:
      return fn()
    return tf.cond(skip, lambda: tf.zeros(tf.shape(x)[-1:], x.dtype), fn)

  count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
  count, total = replica_sum(
      [count, reduced(lambda: tf.reduce_sum(x, axis=axes))])
  mean = total / count
  squares = replica_sum(
      reduced(lambda: tf.reduce_sum(tf.square(x - mean), axis=axes)))
  return mean, squares / count
