"""The `tf.distribute` strategies a training run can use, by name."""

import json
import os

import tensorflow as tf

from .config import STRATEGIES

__all__ = ["is_chief", "is_multi_worker", "make_strategy", "sum_over_replicas",
           "worker_index"]


def make_strategy(name):
  """Returns the strategy called `name`; create it before any other TF op.

  - `default`: one device (TF's default strategy; a GPU if there is one).
  - `mirrored`: `MirroredStrategy` over every local GPU, or the CPU.
  - `multi_worker`: `MultiWorkerMirroredStrategy` over the cluster that the
    environment variable `TF_CONFIG` describes (every worker runs the same
    command with its own `TF_CONFIG`).

  Raises:
    ValueError: for an unknown `name`, or `multi_worker` without a usable
      `TF_CONFIG`.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    raw = os.environ.get("TF_CONFIG")
    if not raw:
      raise ValueError(
          "--strategy=multi_worker needs the environment variable TF_CONFIG "
          '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
          '"task": {"type": "worker", "index": 0}}); it is not set.')
    try:
      tf_config = json.loads(raw)
      tf_config["cluster"]["worker"]  # pylint: disable=pointless-statement
      tf_config["task"]["index"]  # pylint: disable=pointless-statement
    except (ValueError, KeyError, TypeError) as err:
      raise ValueError(
          "TF_CONFIG must be JSON with cluster.worker and task.index; got "
          f"TF_CONFIG={raw!r}.") from err
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise ValueError(f"`strategy` must be one of {STRATEGIES}; got {name!r}.")


def is_multi_worker(strategy):
  """Whether `strategy` is a MultiWorkerMirroredStrategy over 2+ workers."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return False
  spec = strategy.cluster_resolver.cluster_spec().as_dict()
  return sum(len(tasks) for tasks in spec.values()) > 1


def worker_index(strategy):
  """This process's index among the workers (0 outside multi-worker runs)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or resolver.task_type is None:
    return 0
  return int(resolver.task_id)


def is_chief(strategy):
  """Whether this process writes checkpoints, logs and images.

  The chief is the task of type `chief`, or worker 0 when the cluster has no
  chief; single-process runs are their own chief.
  """
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or resolver.task_type is None:
    return True
  if resolver.task_type == "chief":
    return True
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return resolver.task_type == "worker" and resolver.task_id == 0 and (
      not has_chief)


def sum_over_replicas(strategy, value):
  """The sum over the replicas of `strategy` of `value` (a Python float).

  Under a multi-worker strategy it is also a barrier: every worker must
  call it, at the same point of the run. The all-reduce runs in a
  `tf.function`: run eagerly, `strategy.run` is slow and warns.
  """

  @tf.function
  def total():
    return strategy.reduce(tf.distribute.ReduceOp.SUM,
                           strategy.run(lambda: tf.constant(value)), axis=None)

  return float(total())
