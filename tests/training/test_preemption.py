"""StopOnSignal: where training stops on SIGTERM or SIGINT, and the second
signal (in process: the signals go to this test's own process)."""

import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfnvp.training import preemption

STEPS_PER_EPOCH = 4


@pytest.fixture
def previous_handlers():
  """Handlers of SIGTERM and SIGINT that record the signals they get: what
  a signal reaches that StopOnSignal does not catch (never the default,
  which would end the test process)."""
  received = []
  saved = {number: signal.signal(number, lambda n, _: received.append(n))
           for number in preemption.SIGNALS}
  try:
    yield received
  finally:
    for number, handler in saved.items():
      signal.signal(number, handler)


class _SignalAt(keras.callbacks.Callback):
  """Sends `number` to this process as step `batch` of epoch `epoch`
  begins: the signal arrives during that step."""

  def __init__(self, epoch, batch, number=signal.SIGTERM):
    super().__init__()
    self.at = (epoch, batch)
    self.number = number
    self._epoch = None
    self.epochs_ended = []

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def on_train_batch_begin(self, batch, logs=None):
    if (self._epoch, batch) == self.at:
      os.kill(os.getpid(), self.number)

  def on_epoch_end(self, epoch, logs=None):
    self.epochs_ended.append(epoch)


@pytest.fixture(scope="module")
def model():
  """Any Keras model: where `fit` stops depends on the callbacks only."""
  model = keras.Sequential([keras.Input([2]), keras.layers.Dense(1)])
  model.compile(optimizer="sgd", loss="mse")
  return model


def _fit(model, sender, epochs):
  """Fits `epochs` epochs with `sender` and a StopOnSignal; returns the
  steps trained and the `StopRequested` raised (or None)."""
  data = np.ones([16, 2], np.float32)
  start = int(model.optimizer.iterations.numpy())
  stop = preemption.StopOnSignal(tf.distribute.get_strategy(),
                                 start + epochs * STEPS_PER_EPOCH)
  request = None
  with stop:
    try:
      model.fit(data, data[:, :1], batch_size=4, epochs=epochs, verbose=0,
                steps_per_epoch=STEPS_PER_EPOCH, callbacks=[sender, stop])
    except preemption.StopRequested as err:
      request = err
  return int(model.optimizer.iterations.numpy()) - start, request


def test_training_stops_after_the_step_in_progress(model,
                                                   previous_handlers):
  sender = _SignalAt(epoch=0, batch=1)
  steps, request = _fit(model, sender, epochs=2)
  assert steps == 2 and sender.epochs_ended == []
  assert (request.signal_number, request.own) == (signal.SIGTERM, True)
  assert previous_handlers == []
  stopped = request.stopped(7, 16, "/run/checkpoints/ckpt-7")
  assert str(stopped) == ("Stopped by SIGTERM after step 7 of 16; checkpoint "
                          "/run/checkpoints/ckpt-7. Rerun the same command "
                          "to resume.")
  assert stopped.exit_status == 143


def test_a_step_that_ends_an_epoch_stops_after_the_epochs_end(
    model, previous_handlers):
  sender = _SignalAt(epoch=1, batch=STEPS_PER_EPOCH - 1, number=signal.SIGINT)
  steps, request = _fit(model, sender, epochs=3)
  assert steps == 2 * STEPS_PER_EPOCH and sender.epochs_ended == [0, 1]
  assert request.signal_number == signal.SIGINT
  assert request.stopped(8, 16, "c").exit_status == 130
  assert previous_handlers == []


def test_a_signal_during_the_last_step_lets_the_run_finish(model,
                                                           previous_handlers):
  sender = _SignalAt(epoch=1, batch=STEPS_PER_EPOCH - 1)
  steps, request = _fit(model, sender, epochs=2)
  assert request is None
  assert steps == 2 * STEPS_PER_EPOCH and sender.epochs_ended == [0, 1]


def test_a_second_signal_gets_the_handling_from_before_training(
    previous_handlers):
  stop = preemption.StopOnSignal(tf.distribute.get_strategy(), 10)
  with stop:
    assert signal.getsignal(signal.SIGTERM) == stop._catch  # pylint: disable=protected-access,comparison-with-callable
    os.kill(os.getpid(), signal.SIGINT)
    assert previous_handlers == []
    # Caught: from now on, both signals reach the earlier handlers.
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)
    assert previous_handlers == [signal.SIGTERM, signal.SIGINT]
  os.kill(os.getpid(), signal.SIGTERM)
  assert previous_handlers == [signal.SIGTERM, signal.SIGINT, signal.SIGTERM]


def test_an_ignored_signal_stays_ignored(previous_handlers):
  """A shell script's background job ignores SIGINT: Ctrl-C is for the
  script."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  with preemption.StopOnSignal(tf.distribute.get_strategy(), 10):
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    os.kill(os.getpid(), signal.SIGINT)
  assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
