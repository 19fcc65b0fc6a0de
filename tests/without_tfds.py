"""Running Python code in a fresh process where TensorFlow Datasets cannot be
imported, as if the `data` extra were not installed."""

import subprocess
import sys
import textwrap
from pathlib import Path

__all__ = ["run_without_tfds"]

ROOT = Path(__file__).resolve().parents[1]

# A meta path finder ahead of all others: `import tensorflow_datasets` (and
# any of its submodules) fails as it does when the package is missing.
_BLOCK_TFDS = '''
import sys

class _NoTensorFlowDatasets:
  def find_spec(self, name, path=None, target=None):
    if name.partition(".")[0] == "tensorflow_datasets":
      raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return None

sys.meta_path.insert(0, _NoTensorFlowDatasets())
'''


def run_without_tfds(code, timeout=300):
  """Runs `code` with `python -c` from the repository's root, TFDS blocked.

  Args:
    code: Python source; dedented first.
    timeout: seconds.

  Returns:
    The `subprocess.CompletedProcess`, with text `stdout` and `stderr`.
  """
  return subprocess.run(
      [sys.executable, "-c", _BLOCK_TFDS + textwrap.dedent(code)], cwd=ROOT,
      capture_output=True, text=True, timeout=timeout, check=False)
