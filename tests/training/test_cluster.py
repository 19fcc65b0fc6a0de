"""The lost task in TF's errors of a multi-worker run (training/cluster.py).

The messages are the survivors' `tf.errors.UnavailableError` of two-worker
runs on 127.0.0.1 in which one worker was killed (abridged: the traceback
of the step function is left out); test_multi_worker.py kills one for real.
"""

import tensorflow as tf

from tfnvp.training import cluster

CLUSTER = tf.train.ClusterSpec(
    {"worker": ["127.0.0.1:2222", "127.0.0.1:2223", "127.0.0.1:2224"]})

# Worker 1 killed: the coordination service misses its heartbeats.
HEARTBEATS_MISSED = """Graph execution error:

Detected at node RealNVP/log_prob/real_nvp/forward/scale_0/forward/batch_norm/forward/CollectiveReduceV2 defined at (most recent call last):
  File "/work/lock/training/train.py", line 242, in train

Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks are unhealthy (stopped sending heartbeats):
/job:worker/replica:0/task:1
The tasks have crashed. Check the task logs for an earlier error, or scheduler events (e.g. preemption, eviction) to debug further.
The error could be from a previous operation. Restart your program to reset.
\t [[{{node RealNVP/log_prob/real_nvp/forward/scale_0/forward/batch_norm/forward/CollectiveReduceV2}}]] [Op:__inference_multi_step_on_iterator_13113]"""

# Worker 0 (the coordination service's leader) killed: connections reset.
CONNECTION_RESET = """Graph execution error:

Detected at node CollectiveReduceV2 defined at (most recent call last):
  File "/work/lock/training/train.py", line 242, in train

Collective ops is aborted by: recvmsg:Connection reset by peer
Additional GRPC error information from remote target /job:worker/replica:0/task:0 while calling /tensorflow.WorkerService/CompleteInstance:
:UNKNOWN:Error received from peer  {grpc_status:14, grpc_message:"recvmsg:Connection reset by peer"}
The error could be from a previous operation. Restart your program to reset.
\t [[{{node CollectiveReduceV2}}]] [Op:__inference_multi_step_on_iterator_12836]"""


def test_the_lost_task_is_named_with_its_address_from_tf_config():
  assert cluster.lost_tasks(HEARTBEATS_MISSED, CLUSTER, "worker", 0) == [
      ("worker", 1, "127.0.0.1:2223")]
  assert cluster.lost_tasks(CONNECTION_RESET, CLUSTER, "worker", 2) == [
      ("worker", 0, "127.0.0.1:2222")]


def test_a_task_names_only_others_and_unknown_tasks_have_no_address():
  assert cluster.lost_tasks(HEARTBEATS_MISSED, CLUSTER, "worker", 1) == []
  assert cluster.lost_tasks("from /job:chief/replica:0/task:0 and "
                            "/job:worker/task:7", CLUSTER, "worker", 0) == [
                                ("chief", 0, None), ("worker", 7, None)]
