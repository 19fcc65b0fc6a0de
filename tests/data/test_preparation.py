"""Tests of tfnvp/data/preparation.py on the real MNIST and Fashion-MNIST
files.

The `data_dir` fixture (conftest.py) prepares both datasets offline, from
`shared/data` next to the repository, into ONE temporary TFDS data_dir. That is the setting in
which a shared TFDS download folder would turn fashion_mnist into MNIST, so
the label-count test below guards against that pitfall.
"""

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.data.real_data import raw_images
from tests.data.real_data import train_label_counts
from tfnvp import data

MNIST_TRAIN_LABEL_COUNTS = [
    5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
FASHION_MNIST_TRAIN_LABEL_COUNTS = [6000] * 10


# --- offline preparation -------------------------------------------------


def test_shared_data_dir_does_not_mix_mnist_and_fashion_mnist(
    data_dir: str) -> None:
  fashion_counts = train_label_counts(data_dir, "fashion_mnist")
  assert fashion_counts == FASHION_MNIST_TRAIN_LABEL_COUNTS
  assert train_label_counts(data_dir, "mnist") == MNIST_TRAIN_LABEL_COUNTS
  mnist = raw_images(data_dir, "mnist", "test[:100]")
  fashion = raw_images(data_dir, "fashion_mnist", "test[:100]")
  assert not np.array_equal(mnist, fashion)


def test_prepare_reuses_prepared_data_without_raw_files(
    data_dir: str, tmp_path: Path
) -> None:
  # The raw folder is empty, but mnist is prepared already: nothing to read.
  builder = data.prepare("mnist", data_dir=data_dir, raw_data_dir=str(tmp_path))
  assert builder.info.splits["train"].num_examples == 60_000
  assert builder.info.splits["test"].num_examples == 10_000


def test_prepare_raw_dir_without_dataset_subfolder(tmp_path: Path) -> None:
  raw = tmp_path / "raw"
  raw.mkdir()
  with pytest.raises(FileNotFoundError) as info:
    data.prepare(
        "cifar10", data_dir=str(tmp_path / "tfds"), raw_data_dir=str(raw))
  message = str(info.value)
  assert str(raw) in message
  assert "'cifar10'" in message


def test_prepare_unknown_dataset() -> None:
  with pytest.raises(ValueError) as info:
    data.prepare("not_a_dataset")
  message = str(info.value)
  assert "'not_a_dataset'" in message
  for name in ("mnist", "fashion_mnist", "cifar10", "celeb_a", "lsun/bedroom"):
    assert name in message


def test_two_processes_preparing_mnist_in_a_fresh_data_dir_both_succeed(
    raw_data_dir: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
  """The other process prepares; this one waits for it and reads its data."""
  fresh = tmp_path / "tfds"
  repo = Path(__file__).resolve().parents[2]
  other = subprocess.Popen(
      [sys.executable, "-c",
       "import sys; from tfnvp import data; builder = data.prepare("
       "'mnist', data_dir=sys.argv[1], raw_data_dir=sys.argv[2]); "
       "print(builder.info.splits['train'].num_examples)",
       str(fresh), raw_data_dir],
      cwd=repo, env=dict(os.environ, PYTHONPATH=str(repo)),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    # TFDS writes into an `incomplete.*` folder, renamed when done.
    deadline = time.monotonic() + 120
    while not list(fresh.glob("mnist/incomplete.*")):
      assert other.poll() is None and time.monotonic() < deadline, (
          "the other process did not start preparing")
      time.sleep(0.02)
    with caplog.at_level(logging.INFO, logger="tfnvp.data.preparation"):
      builder = data.prepare("mnist", data_dir=str(fresh),
                             raw_data_dir=raw_data_dir)
    out, err = other.communicate(timeout=300)
  finally:
    if other.poll() is None:
      other.kill()
      other.wait()
  assert other.returncode == 0, err
  assert out.split()[-1] == "60000", out
  assert "Waiting for another process preparing 'mnist'" in caplog.text
  assert builder.info.splits["train"].num_examples == 60_000
  assert train_label_counts(str(fresh), "mnist") == MNIST_TRAIN_LABEL_COUNTS
  assert not list(fresh.glob("mnist/incomplete.*"))


# --- resolve_raw_data_dir --------------------------------------------------


def test_resolve_explicit_missing_dir(tmp_path: Path) -> None:
  missing = tmp_path / "nope"
  with pytest.raises(FileNotFoundError) as info:
    data.resolve_raw_data_dir(str(missing))
  assert str(missing) in str(info.value)
  assert "raw_data_dir (--raw-data-dir)" in str(info.value)


def test_resolve_env_var_missing_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
  missing = tmp_path / "nope"
  monkeypatch.setenv(data.RAW_DATA_DIR_ENV, str(missing))
  with pytest.raises(FileNotFoundError) as info:
    data.resolve_raw_data_dir(None)
  assert str(missing) in str(info.value)
  assert data.RAW_DATA_DIR_ENV in str(info.value)


def test_resolve_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
  explicit = tmp_path / "explicit"
  from_env = tmp_path / "env"
  explicit.mkdir()
  from_env.mkdir()
  monkeypatch.setenv(data.RAW_DATA_DIR_ENV, str(from_env))
  assert data.resolve_raw_data_dir(str(explicit)) == str(explicit)
  assert data.resolve_raw_data_dir(None) == str(from_env)
  assert data.resolve_raw_data_dir("") is None
  monkeypatch.setenv(data.RAW_DATA_DIR_ENV, "")
  assert data.resolve_raw_data_dir(None) is None


def test_nothing_is_guessed_without_a_flag_or_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
  """Outside a checkout no repository root is guessed: TFDS downloads."""
  monkeypatch.delenv(data.RAW_DATA_DIR_ENV, raising=False)
  work = tmp_path / "checkout"
  (tmp_path / "shared" / "data").mkdir(parents=True)
  work.mkdir()
  monkeypatch.chdir(work)
  assert data.resolve_raw_data_dir() is None
