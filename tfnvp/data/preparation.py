"""Preparing a supported dataset with TFDS, offline from original files too.

When a *raw data directory* is found (see `resolve_raw_data_dir`), `prepare`
gives TFDS the original files through `DownloadConfig(manual_dir=<raw>/<name>)`
and uses one `download_dir` per dataset. A shared `download_dir` lets a
dataset silently reuse another dataset's extracted files when the file names
collide (it turns `fashion_mnist` into MNIST), see `shared/data/README.md`.

Two processes preparing one dataset in one local `data_dir` (two first
runs, the workers of a cluster) take turns: the first prepares it under a
lock file (`<data_dir>/downloads/<name>.lock`, `fcntl.flock`), the others
wait for it and then read the prepared data.

Needs TensorFlow Datasets: the `data` extra (`pip install "tfnvp[data]"`).
"""

import contextlib
import fcntl
import logging
import os

import tensorflow_datasets as tfds

from tfnvp.data.specs import get_spec

__all__ = ["RAW_DATA_DIR_ENV", "prepare", "resolve_raw_data_dir"]

# Environment variable naming the raw data directory (see
# `resolve_raw_data_dir`).
RAW_DATA_DIR_ENV = "TFNVP_RAW_DATA_DIR"


def _existing_dir(path: str, source: str) -> str:
  resolved = os.path.abspath(os.path.expanduser(path))
  if not os.path.isdir(resolved):
    if os.path.exists(resolved):
      what = "is not a directory"
    else:
      what = "does not exist"
    raise FileNotFoundError(
        f"Raw data directory {resolved!r} (from {source}) {what}."
    )
  return resolved


def resolve_raw_data_dir(raw_data_dir: str | None = None) -> str | None:
  """Finds the folder holding original dataset files for offline preparation.

  The folder holds one subfolder per dataset (`<dir>/mnist`,
  `<dir>/fashion_mnist`, ...) with the files TFDS would download. Lookup
  order:

  1. `raw_data_dir` if it is not None (`--raw-data-dir`);
  2. the environment variable `TFNVP_RAW_DATA_DIR` if it is set;
  3. None: TFDS downloads the data as usual.

  Nothing is guessed from the working directory or from where the package
  is installed. An empty string (as argument or in the environment
  variable) also returns None.

  Args:
    raw_data_dir: Explicit folder, or None to look further.

  Returns:
    The absolute path of the folder, or None.

  Raises:
    FileNotFoundError: If the explicit argument or the environment
      variable names a path that is not an existing directory. The
      message names the path and where it came from.
  """
  if raw_data_dir is not None:
    if raw_data_dir == "":
      return None
    return _existing_dir(raw_data_dir, "raw_data_dir (--raw-data-dir)")
  from_env = os.environ.get(RAW_DATA_DIR_ENV)
  if from_env:
    return _existing_dir(
        from_env, f"the environment variable {RAW_DATA_DIR_ENV}")
  return None


def prepare(
    name: str,
    data_dir: str | None = None,
    raw_data_dir: str | None = None,
) -> tfds.core.DatasetBuilder:
  """Builds the TFDS builder of a supported dataset and prepares its data.

  If the dataset is already prepared in `data_dir`, nothing is read or
  downloaded. Otherwise, when `resolve_raw_data_dir` finds a raw data
  folder, TFDS prepares the dataset offline from
  `<raw_data_dir>/<name>` (checksums are still verified by TFDS), with the
  per-dataset download folder `<data_dir>/downloads/<name>`. Without a raw
  data folder, TFDS downloads the data as usual. While another process
  prepares the dataset in the same local `data_dir`, this call waits for
  it, then reads its data.

  Args:
    name: Supported TFDS name (a key of `DATASETS`).
    data_dir: TFDS data directory; None uses the TFDS default
      (`~/tensorflow_datasets` or `$TFDS_DATA_DIR`).
    raw_data_dir: Raw data folder, see `resolve_raw_data_dir`.

  Returns:
    The prepared `tfds.core.DatasetBuilder`.

  Raises:
    ValueError: If `name` is not supported.
    FileNotFoundError: If the raw data folder given (or found) is missing,
      or lacks the subfolder of this dataset while the dataset still
      needs preparing.
  """
  get_spec(name)
  raw_root = resolve_raw_data_dir(raw_data_dir)
  builder = tfds.builder(name, data_dir=data_dir)
  if builder.is_prepared():
    return builder
  manual_dir = None if raw_root is None else os.path.join(raw_root, name)
  if manual_dir is not None and not os.path.isdir(manual_dir):
    raise FileNotFoundError(
        f"Raw data directory {raw_root!r} has no subfolder for dataset "
        f"{name!r} (expected {manual_dir!r}). Add the original files there, "
        f"point raw_data_dir/{RAW_DATA_DIR_ENV} elsewhere, or set it to '' "
        "to let TFDS download the data."
    )
  root = os.fspath(builder.data_dir_root)
  with _preparation_lock(root, name):
    # Another process may have prepared it while this one waited.
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
      return builder
    if manual_dir is None:
      builder.download_and_prepare()
      return builder
    # One download folder per dataset: TFDS caches extractions of manual_dir
    # files by file name, and mnist and fashion_mnist share file names.
    builder.download_and_prepare(
        download_dir=os.path.join(root, "downloads", name),
        download_config=tfds.download.DownloadConfig(
            manual_dir=manual_dir, try_download_gcs=False
        ),
    )
  return builder


@contextlib.contextmanager
def _preparation_lock(root: str, name: str):
  """Holds the lock of preparing `name` in the data folder `root`.

  Waits while another process holds it. A remote `root` (`gs://...`),
  which `fcntl` cannot lock, is not locked.
  """
  if "://" in root:
    yield
    return
  path = os.path.join(root, "downloads", f"{name}.lock")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "a", encoding="utf-8") as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      logging.getLogger(__name__).info(
          "Waiting for another process preparing %r in %s (lock file %s).",
          name, root, path)
      fcntl.flock(lock, fcntl.LOCK_EX)
    yield
