"""Stopping a training run on SIGTERM or SIGINT after a step, checkpointed.

A preemptible VM or a cluster scheduler sends SIGTERM and, a grace period
later, SIGKILL; Ctrl-C sends SIGINT. While `StopOnSignal` is entered, the
first of these signals makes training finish the step in progress and stop
after it: the run saves a checkpoint of that step and `train` raises
`TrainingStopped`, whose `exit_status` the command line exits with
(`128 + signal number`: 143 for SIGTERM, 130 for SIGINT, what a shell or
a scheduler reports for a process ended by that signal).

Where the step ends an epoch, training stops after the epoch's end
(validation, sample grid, its row of history.csv), so that every
checkpoint at an epoch's end has the epoch's logs written; a signal during
the last epoch's end lets the run finish.

Under `MultiWorkerMirroredStrategy` the workers agree after every step (and
every epoch's end) by an all-reduce of their requests, so a signal to any
worker stops all of them after the same step, the chief writing the one
checkpoint.

Once a signal is caught, both signals get back the handling they had
before: a second SIGTERM ends the process at once, a second SIGINT raises
`KeyboardInterrupt` (the checkpoints already written are intact: each is
complete before the index names it).
"""

import signal
import threading

import keras
import tensorflow as tf

from . import callbacks
from . import strategies

__all__ = ["SIGNALS", "StopOnSignal", "StopRequested", "TrainingStopped"]

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingStopped(Exception):
  """Training stopped on a signal; the checkpoint of its last step is saved.

  The message is one line: the signal, the step and the checkpoint to
  resume from.

  Attributes:
    signal_number: the signal (`signal.SIGTERM` or `signal.SIGINT`).
    step: the optimizer step training stopped after.
    checkpoint: the path of the checkpoint of `step`.
    exit_status: `128 + signal_number`, the command line's exit status.
  """

  def __init__(self, signal_number, step, total_steps, checkpoint, own=True):
    self.signal_number = signal_number
    self.step = step
    self.checkpoint = checkpoint
    self.exit_status = 128 + int(signal_number)
    name = signal.Signals(signal_number).name
    source = name if own else f"{name} to another worker"
    super().__init__(f"Stopped by {source} after step {step} of "
                     f"{total_steps}; checkpoint {checkpoint}. Rerun the same "
                     "command to resume.")


class StopRequested(Exception):
  """`StopOnSignal`'s request to stop, raised through `fit`.

  Attributes:
    signal_number: the signal that stops training.
    own: whether this process received it (or, under multi-worker, another
      worker did).
  """

  def __init__(self, signal_number, own):
    super().__init__(signal.Signals(signal_number).name)
    self.signal_number = signal_number
    self.own = own

  def stopped(self, step, total_steps, checkpoint):
    """The `TrainingStopped` of this request, after step `step`."""
    return TrainingStopped(self.signal_number, step, total_steps, checkpoint,
                           own=self.own)


class StopOnSignal(keras.callbacks.Callback):
  """Ends `fit` after the step during which SIGTERM or SIGINT arrived.

  Use it as a context manager around training (it installs the signal
  handlers, in the main thread only, for the signals not ignored) and as
  the last of `fit`'s callbacks.
  After a step's end (or an epoch's end) at which a stop is requested and
  the run is not complete, it raises `StopRequested`, which `fit` does not
  catch: the caller then saves the checkpoint and ends the callbacks.

  Args:
    strategy: the run's `tf.distribute` strategy.
    total_steps: the run's number of optimizer steps; no stop is requested
      at it (the run completes instead).
  """

  def __init__(self, strategy, total_steps):
    super().__init__()
    self.total_steps = total_steps
    self._strategy = strategy
    self._multi_worker = strategies.is_multi_worker(strategy)
    self._received = None
    self._previous = {}
    self._all_reduce = None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for number in SIGNALS:
        # An ignored signal stays ignored (a shell script's background job
        # ignores SIGINT, so that Ctrl-C stops the script only).
        if signal.getsignal(number) != signal.SIG_IGN:
          self._previous[number] = signal.signal(number, self._catch)
    return self

  def __exit__(self, *exc_info):
    self._restore_handlers()

  def _restore_handlers(self):
    for number, handler in self._previous.items():
      # None: a handler not set from Python, which cannot be set back.
      signal.signal(number, signal.SIG_DFL if handler is None else handler)
    self._previous = {}

  def _catch(self, signal_number, frame):
    del frame
    self._received = signal_number
    self._restore_handlers()

  def _requested(self):
    """`(signal, own)` of the agreed stop request, or None.

    Under multi-worker every worker must call it at the same points: it
    all-reduces each worker's request (SIGTERM wins over SIGINT).
    """
    if not self._multi_worker:
      return None if self._received is None else (self._received, True)
    if self._all_reduce is None:
      strategy = self._strategy

      @tf.function
      def all_reduce(flags):
        return strategy.reduce(tf.distribute.ReduceOp.SUM,
                               strategy.run(lambda: flags), axis=None)

      self._all_reduce = all_reduce
    counts = self._all_reduce(tf.constant(
        [float(self._received == number) for number in SIGNALS])).numpy()
    for number, count in zip(SIGNALS, counts):
      if count:
        return number, self._received == number
    return None

  def _stop_if_requested(self):
    step = int(self.model.optimizer.iterations.numpy())
    request = self._requested()
    if request is not None and step < self.total_steps:
      raise StopRequested(*request)

  def on_train_batch_end(self, batch, logs=None):
    # The step that ends an epoch stops after the epoch's end.
    if not callbacks.ends_epoch(self.params, batch):
      self._stop_if_requested()

  def on_epoch_end(self, epoch, logs=None):
    self._stop_if_requested()
