"""One writer per run folder (training/lock.py): a second run is refused in
one line naming the holder, a killed run's lock is taken over."""

import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tfnvp
from tests.cli import cli_error
from tfnvp.training import config as config_lib
from tfnvp.training import lock
from tfnvp.training import train as train_lib

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--dataset", "mnist", "--num-scales", "1", "--hidden-channels", "4",
         "--num-res-blocks", "1", "--batch-size", "16",
         "--num-train-examples", "512", "--num-eval-examples", "64"]


def _snapshot(folder):
  return {p: p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


def _record(model_dir):
  return json.loads((Path(model_dir) / lock.LOCK_FILE).read_text())


def test_a_run_lock_names_its_holder_and_leaves_nothing_behind(tmp_path):
  model_dir = tmp_path / "new" / "run"
  with lock.RunLock(str(model_dir)):
    record = _record(model_dir)
    assert record["host"] == socket.gethostname()
    assert record["pid"] == os.getpid()
    started = datetime.datetime.fromisoformat(record["started"])
    assert abs(datetime.datetime.now().astimezone() - started).seconds < 60
    # Another holder in this process too: a flock is per open file.
    before = _snapshot(tmp_path)
    with pytest.raises(lock.ModelDirInUseError,
                       match=rf"in use by another run: PID {os.getpid()} on "
                       rf"host '{socket.gethostname()}', started "):
      lock.RunLock(str(model_dir)).acquire()
    assert _snapshot(tmp_path) == before
  # The folders it created were left empty: they are gone with the lock.
  assert not (tmp_path / "new").exists()
  with pytest.raises(KeyboardInterrupt):  # Ctrl-C releases it too
    with lock.RunLock(str(tmp_path)):
      raise KeyboardInterrupt
  assert list(tmp_path.iterdir()) == []


def test_a_lock_file_deleted_or_garbled_by_hand(tmp_path, capsys):
  with lock.RunLock(str(tmp_path)):
    (tmp_path / lock.LOCK_FILE).unlink()
  (tmp_path / lock.LOCK_FILE).write_text("{not json")
  with lock.RunLock(str(tmp_path)):
    assert capsys.readouterr().out == (
        f"warning: taking over the lock of `model_dir`='{tmp_path}' left by "
        "an unreadable record, which stopped without releasing it.\n")
    assert _record(tmp_path)["pid"] == os.getpid()
  assert list(tmp_path.iterdir()) == []


def test_train_in_python_refuses_a_held_folder_and_changes_nothing(tmp_path):
  model_dir = tmp_path / "run"
  config = config_lib.TrainConfig(dataset="mnist", model=tfnvp.RealNVPConfig(
      image_shape=(28, 28, 1), num_scales=1, hidden_channels=4,
      num_res_blocks=1))
  config_lib.save_config(config, str(model_dir))
  (model_dir / "history.csv").write_text("epoch,loss\n0,1.0\n")
  with lock.RunLock(str(model_dir)):
    before = _snapshot(model_dir)
    with pytest.raises(lock.ModelDirInUseError,
                       match=rf"`model_dir`='{model_dir}' is in use by "
                       rf"another run: PID {os.getpid()}"):
      train_lib.train(config, str(model_dir), data_dir=str(tmp_path / "tfds"))
    assert _snapshot(model_dir) == before
  assert not (tmp_path / "tfds").exists()


def test_the_lock_of_a_run_on_another_host_is_not_taken_over(tmp_path,
                                                            capsys):
  (tmp_path / lock.LOCK_FILE).write_text(json.dumps(
      {"host": "elsewhere", "pid": 1, "started": "2026-01-01T00:00:00+00:00"}))
  before = _snapshot(tmp_path)
  err = cli_error(train_lib.main, ["--model-dir", str(tmp_path), *SMALL],
                  capsys)
  assert re.search(
      r"--model-dir='\S+' was locked by PID 1 on host 'elsewhere', started "
      r"2026-01-01T00:00:00\+00:00, and whether that run still writes to it "
      r"cannot be checked from host '.+'\. Once it has stopped, delete "
      rf"{tmp_path}/run.lock and start again\.", err), err
  assert _snapshot(tmp_path) == before


def test_a_second_tfnvp_train_is_refused_in_one_line_and_a_killed_runs_lock_is_taken_over(  # pylint: disable=line-too-long
    data_dir, tmp_path, capsys):
  model_dir = tmp_path / "run"
  argv = [*SMALL, "--epochs", "1", "--steps-per-epoch", "100000",
          "--data-dir", data_dir, "--model-dir", str(model_dir)]
  holder = subprocess.Popen(
      [sys.executable, "-m", "tfnvp.training.train", *argv], cwd=REPO,
      env=dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2"),
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + 120
    while True:
      assert holder.poll() is None and time.monotonic() < deadline
      try:
        if _record(model_dir)["pid"] == holder.pid:
          break
      except (OSError, ValueError):  # not there, or being written
        pass
      time.sleep(0.02)
    holder.send_signal(signal.SIGSTOP)  # the folder stays as it is
    before = _snapshot(model_dir)
    err = cli_error(train_lib.main, argv, capsys)
    assert err.startswith(
        f"tfnvp-train: error: --model-dir='{model_dir}' is in use by another "
        f"run: PID {holder.pid} on host '{socket.gethostname()}', started "
        ), err
    assert err.endswith(f"(lock file {model_dir}/run.lock). Wait for it to "
                        "end, or use another --model-dir.\n"), err
    assert _snapshot(model_dir) == before
  finally:
    holder.kill()
    holder.wait()

  # The kernel freed the killed run's lock; its file is left.
  left = _record(model_dir)
  assert left["pid"] == holder.pid
  with lock.RunLock(str(model_dir)):
    out = capsys.readouterr().out
    assert out == (
        f"warning: taking over the lock of `model_dir`='{model_dir}' left by "
        f"PID {holder.pid} on host '{socket.gethostname()}', started "
        f"{left['started']}, "
        "which stopped without releasing it.\n")
    assert _record(model_dir)["pid"] == os.getpid()
  assert not (model_dir / lock.LOCK_FILE).exists()

