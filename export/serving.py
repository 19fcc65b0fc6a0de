"""A trained flow written as a version folder that TF Serving loads.

```python
path = export.serving.export_saved_model(flow, "models/mnist/1")
```

`tensorflow_model_server --model_name=mnist --model_base_path=$PWD/models/mnist`
then serves it; `export.client` talks to the server. The signatures are those
of `export.endpoints.build_serving_module` (also importable from here).
"""

import os
import shutil
import tempfile

import tensorflow as tf

from .endpoints import DEFAULT_MAX_INTERPOLATION_STEPS
from .endpoints import DEFAULT_MAX_SAMPLES
from .endpoints import build_serving_module

__all__ = ["CALIBRATION_FILE", "build_serving_module", "check_export_dir",
           "check_version_dir", "export_saved_model"]

# The calibration's JSON, in the version folder next to saved_model.pb.
CALIBRATION_FILE = "calibration.json"


def check_version_dir(path):
  """`path` must be `BASE/NAME/VERSION` with a numeric version, as TF Serving.

  Args:
    path: the version folder to write (`--output` of `tfnvp-export`).

  Returns:
    The version as an `int`.

  Raises:
    ValueError: if the last component of `path` is not a positive integer.
  """
  version = os.path.basename(os.path.normpath(path))
  if not version.isdigit() or int(version) < 1:
    raise ValueError(
        f"`output` must end in a numeric version folder (BASE/NAME/VERSION, "
        f"e.g. models/mnist/1): TF Serving only loads numeric versions; got "
        f"{path!r}.")
  return int(version)


def check_export_dir(export_dir, overwrite=False):
  """`export_dir`, normalized, if a version may be written there.

  Args:
    export_dir: `BASE/NAME/VERSION`.
    overwrite: whether an existing `export_dir` may be replaced.

  Returns:
    `os.path.normpath(export_dir)`.

  Raises:
    ValueError: for a non-numeric version folder (`check_version_dir`).
    FileExistsError: if `export_dir` exists and `overwrite` is False.
  """
  check_version_dir(export_dir)
  export_dir = os.path.normpath(export_dir)
  if os.path.exists(export_dir) and not overwrite:
    raise FileExistsError(
        f"`output` {export_dir!r} exists; pick a new version number (TF "
        "Serving may be serving this one) or pass overwrite=True "
        "(--overwrite).")
  return export_dir


def export_saved_model(
    flow, export_dir, *, calibration=None, max_samples=DEFAULT_MAX_SAMPLES,
    max_interpolation_steps=DEFAULT_MAX_INTERPOLATION_STEPS, overwrite=False):
  """Saves `flow`'s serving signatures to `export_dir` (a version folder).

  The SavedModel is written to a hidden sibling folder first and renamed
  into place, so a TF Serving instance polling the base folder never sees a
  half-written version. With a `calibration`, its JSON is written beside
  the SavedModel as `export_dir/calibration.json` (`CALIBRATION_FILE`;
  the server ignores it) for clients and people to read.

  Args:
    flow: a `tfnvp.RealNVP` or `tfnvp.Glow` in inference mode.
    export_dir: `BASE/NAME/VERSION`; `--model_base_path` of the server is
      `BASE/NAME`.
    calibration: see `build_serving_module`.
    max_samples: see `build_serving_module`.
    max_interpolation_steps: see `build_serving_module`.
    overwrite: replace an existing `export_dir`.

  Returns:
    `export_dir`.

  Raises:
    ValueError: for a non-numeric version folder or bad limits.
    FileExistsError: if `export_dir` exists and `overwrite` is False.
  """
  export_dir = check_export_dir(export_dir, overwrite)
  module = build_serving_module(
      flow, calibration=calibration, max_samples=max_samples,
      max_interpolation_steps=max_interpolation_steps)
  parent = os.path.dirname(export_dir) or "."
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(
      prefix=f".{os.path.basename(export_dir)}.tmp-", dir=parent)
  umask = os.umask(0)
  os.umask(umask)
  try:
    # mkdtemp makes the folder private (0700); a server running as another
    # user must be able to read the version.
    os.chmod(staging, 0o777 & ~umask)
    tf.saved_model.save(module, staging, signatures=module.serving_signatures)
    if calibration is not None:
      calibration.save(os.path.join(staging, CALIBRATION_FILE))
    if os.path.exists(export_dir):
      shutil.rmtree(export_dir)
    os.rename(staging, export_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return export_dir
