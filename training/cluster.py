"""A lost worker of a multi-worker run, reported in one line.

Under `MultiWorkerMirroredStrategy` a worker that crashes, is killed or
becomes unreachable makes every collective of the others fail with
`tf.errors.UnavailableError`: TF's coordination service misses the task's
heartbeats (after its heartbeat timeout, 10 s by default) and aborts the
collectives, or the connection to the task is reset. TF's message names
the task by its device (`/job:worker/replica:0/task:1`) inside a traceback
of the step function. `report_lost_workers` turns it into
`WorkerLostError`: the lost task as `TF_CONFIG` names it (job, index,
address) and the newest checkpoint, from which rerunning every worker
resumes.
"""

import contextlib
import re

import tensorflow as tf

from . import checkpoints
from . import strategies

__all__ = ["WorkerLostError", "lost_tasks", "report_lost_workers"]

_TASK = re.compile(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)")
_ABORTED_BY = re.compile(r"aborted by: (.*)")


class WorkerLostError(RuntimeError):
  """Another task of a multi-worker run stopped: this one cannot go on.

  The message names the lost task and the newest checkpoint to resume from.
  """


def lost_tasks(message, cluster_spec, task_type, task_id):
  """The tasks other than `(task_type, task_id)` that TF's `message` names.

  Args:
    message: the text of a `tf.errors.OpError`.
    cluster_spec: the run's `tf.train.ClusterSpec` (`TF_CONFIG`'s cluster).
    task_type: this task's job name (`"worker"`, `"chief"`).
    task_id: this task's index in its job.

  Returns:
    A list of `(job, index, address)`, in the order the message names them,
    each once; the address is `None` for a task outside `cluster_spec`.
  """
  jobs = cluster_spec.as_dict()
  found = []
  for job, index in _TASK.findall(message):
    index = int(index)
    if (job, index) == (task_type, task_id):
      continue
    tasks = jobs.get(job, [])
    address = tasks[index] if index < len(tasks) else None
    if (job, index, address) not in found:
      found.append((job, index, address))
  return found


def _resume_hint(model_dir):
  path = checkpoints.latest_intact_checkpoint(model_dir)[0]
  if path is None:
    return ("No checkpoint was written yet: rerunning every worker with the "
            "same command starts the run over.")
  return (f"The newest checkpoint is {path}: rerun every worker with the "
          "same command to resume from it.")


@contextlib.contextmanager
def report_lost_workers(strategy, model_dir):
  """Turns TF's error for a lost peer into `WorkerLostError` in a block.

  Only under a multi-worker strategy (`strategies.is_multi_worker`);
  otherwise the block runs as it is.

  Raises:
    WorkerLostError: a collective of the block failed with
      `tf.errors.UnavailableError`. The message is one line: the lost task
      (`TF_CONFIG`'s job, index and address; TF's reason when TF names
      none) and the newest checkpoint of `model_dir`.
  """
  if not strategies.is_multi_worker(strategy):
    yield
    return
  try:
    yield
  except tf.errors.UnavailableError as err:
    resolver = strategy.cluster_resolver
    tasks = lost_tasks(err.message, resolver.cluster_spec(),
                       resolver.task_type, int(resolver.task_id))
    if tasks:
      lost = "; ".join(f"{job} {index} ({address or 'not in TF_CONFIG'})"
                       for job, index, address in tasks)
      what = (f"Lost {lost} of the cluster in TF_CONFIG (crashed, killed "
              "or unreachable).")
    else:
      reason = _ABORTED_BY.search(err.message)
      reason = (reason.group(1) if reason else
                err.message.strip().splitlines()[0]).strip()
      what = f"Lost contact with the cluster in TF_CONFIG ({reason})."
    # TF's eager all-reduce (Keras reduces the first batch of every `fit`
    # eagerly) leaves its ThreadPool in a reference cycle with this error's
    # traceback: without it the pool is freed now, not at interpreter exit,
    # where its `__del__` fails and prints a traceback.
    err.__traceback__ = None
    raise WorkerLostError(f"{what} {_resume_hint(model_dir)}") from err
