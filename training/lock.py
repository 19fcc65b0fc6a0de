"""One writer per run folder: the lock a training run holds on `model_dir`.

A run holds `<model_dir>/run.lock` from its start to its end: an open file
locked with `fcntl.flock`, which names the holder (host, PID, start time
and command, one line of JSON). A second run on the folder is refused
with `ModelDirInUseError`, which names the holder, before it writes
anything. The kernel drops a `flock` when its process ends, however it
ends (`SIGKILL` too), so a lock file whose lock is free was left by a run
that stopped without releasing it: a run on the same host takes it over
with a warning. The lock file of a run on another host is not taken over
(whether that host's lock reaches this one depends on the file system):
the error says to delete it once that run has stopped.

Under `MultiWorkerMirroredStrategy` the chief holds the lock (only it
writes the folder's files) and every worker learns whether it got it, so
that a refused cluster stops together, having written nothing.
"""

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
import time

from . import strategies

__all__ = ["LOCK_FILE", "ModelDirInUseError", "RunLock", "hold"]

LOCK_FILE = "run.lock"

# How long a refused run waits for the holder to name itself: the holder
# writes its line just after it takes the lock.
_NAME_WAIT_SECONDS = 2.0


class ModelDirInUseError(OSError):
  """Another run holds the run folder (`model_dir`); nothing was written."""


def _describe(holder):
  """`PID <pid> on host <host>, started <time>` of a lock file's record."""
  if not holder:
    return "a process that has not named itself"
  return (f"PID {holder.get('pid')} on host {holder.get('host')!r}, started "
          f"{holder.get('started')}")


def _read(fd):
  """The holder's record in the open lock file `fd`: a dict, {} if empty,
  or None if unreadable."""
  size = os.fstat(fd).st_size
  text = os.pread(fd, size, 0).decode("utf-8", errors="replace").strip()
  if not text:
    return {}
  try:
    holder = json.loads(text)
  except ValueError:
    return None
  return holder if isinstance(holder, dict) else None


def _missing_dirs(path):
  """The ancestors of `path` (itself included) that do not exist, deepest
  first."""
  missing = []
  path = os.path.abspath(path)
  while not os.path.exists(path):
    missing.append(path)
    path = os.path.dirname(path)
  return missing


class RunLock:
  """The lock of one run folder; `with RunLock(model_dir):` holds it.

  Args:
    model_dir: the run's folder; created if needed, and removed again on
      release if the run left it empty.

  #### Examples

  ```python
  with RunLock("runs/mnist"):
    ...   # the only writer of runs/mnist
  ```
  """

  def __init__(self, model_dir):
    self.model_dir = model_dir
    self.path = os.path.join(model_dir, LOCK_FILE)
    self._fd = None
    self._created = []

  def acquire(self):
    """Takes the lock, or raises `ModelDirInUseError` naming the holder.

    A lock file left by a stopped run of this host is taken over, with a
    warning that names that run.

    Raises:
      ModelDirInUseError: another live run holds the folder, or a run of
        another host left its lock file. Nothing is written then.
    """
    self._created = _missing_dirs(self.model_dir)
    os.makedirs(self.model_dir, exist_ok=True)
    fd = None
    try:
      fd = self._lock_file()
      previous = _read(fd)
      if previous != {}:
        self._take_over(previous)
      record = {"host": socket.gethostname(), "pid": os.getpid(),
                "started": datetime.datetime.now().astimezone().isoformat(
                    timespec="seconds"),
                "command": " ".join(sys.argv)}
      os.ftruncate(fd, 0)
      os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
      os.fsync(fd)
    except BaseException:
      if fd is not None:
        os.close(fd)
      self._remove_created()
      raise
    self._fd = fd

  def _lock_file(self):
    """Opens and flocks the lock file; returns its descriptor."""
    while True:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        holder = _read(fd)
        deadline = time.monotonic() + _NAME_WAIT_SECONDS
        while holder == {} and time.monotonic() < deadline:
          time.sleep(0.05)
          holder = _read(fd)
        os.close(fd)
        raise ModelDirInUseError(
            f"`model_dir`={self.model_dir!r} is in use by another run: "
            f"{_describe(holder)} (lock file {self.path}). Wait for it to "
            "end, or use another `model_dir`.") from None
      try:
        current = os.stat(self.path).st_ino
      except FileNotFoundError:
        current = None
      if current == os.fstat(fd).st_ino:
        return fd
      # The holder removed the file while we waited for it: lock the new one.
      os.close(fd)

  def _take_over(self, previous):
    """Takes over the lock file `previous` left (its lock is free)."""
    if previous is not None and previous.get("host") != socket.gethostname():
      raise ModelDirInUseError(
          f"`model_dir`={self.model_dir!r} was locked by "
          f"{_describe(previous)}, and whether that run still writes to it "
          f"cannot be checked from host {socket.gethostname()!r}. Once it "
          f"has stopped, delete {self.path} and start again.")
    left_by = ("an unreadable record" if previous is None
               else _describe(previous))
    print(f"warning: taking over the lock of `model_dir`={self.model_dir!r} "
          f"left by {left_by}, which stopped without releasing it.",
          flush=True)

  def release(self):
    """Deletes the lock file and lets the lock go (nothing if not held)."""
    if self._fd is None:
      return
    try:
      if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
        os.unlink(self.path)
    except FileNotFoundError:  # deleted by hand meanwhile
      pass
    os.close(self._fd)
    self._fd = None
    self._remove_created()

  def _remove_created(self):
    """Removes the folders `acquire` created, if they are empty."""
    for path in self._created:
      try:
        os.rmdir(path)
      except OSError:
        break
    self._created = []

  def __enter__(self):
    self.acquire()
    return self

  def __exit__(self, *exc_info):
    self.release()


@contextlib.contextmanager
def hold(model_dir, strategy):
  """Holds `model_dir` for a training run under `strategy` in a `with` block.

  The chief (`strategies.is_chief`) takes the lock; under a multi-worker
  strategy every worker learns (one all-reduce) whether it did, so that
  all of them are refused together.

  Raises:
    ModelDirInUseError: the folder is in use (see `RunLock.acquire`); a
      worker other than the chief says the chief was refused.
  """
  run_lock = RunLock(model_dir) if strategies.is_chief(strategy) else None
  refusal = None
  if run_lock is not None:
    try:
      run_lock.acquire()
    except ModelDirInUseError as err:
      refusal = err
  try:
    if strategies.is_multi_worker(strategy):
      refused = strategies.sum_over_replicas(strategy,
                                             float(refusal is not None))
      if refused and refusal is None:
        refusal = ModelDirInUseError(
            f"`model_dir`={model_dir!r} is in use by another run: the chief "
            "was refused its lock (its output names the holder).")
    if refusal is not None:
      raise refusal
    yield
  finally:
    if run_lock is not None:
      run_lock.release()
