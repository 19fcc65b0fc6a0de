"""Process start-up: TensorFlow's C++ start-up log in tfnvp's commands."""

import contextlib
import os
import re
import sys
import tempfile

__all__ = ["quiet_start"]

# TensorFlow's C++ start-up lines that say nothing to a user: absl's notice
# before its initialization, INFO and WARNING lines, the CPU-feature notice,
# and the failed CUDA probe of a machine without a GPU.
_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} \d"
    r"|E\d{4} .*failed call to cuInit"
    r"|To enable the following instructions:")


def _is_quiet_command():
  """Whether this process is a tfnvp command that hides TF's start-up log."""
  if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
    return False
  argv = list(getattr(sys, "orig_argv", sys.argv))
  return os.path.basename(sys.argv[0] if sys.argv else "").startswith(
      "tfnvp-") or any(a == "-m" and b.startswith("tfnvp.")
                       for a, b in zip(argv, argv[1:]))


@contextlib.contextmanager
def quiet_start():
  """Filters TensorFlow's C++ start-up log in tfnvp's own commands.

  TensorFlow 2.21 logs through absl before absl is initialized, which
  `TF_CPP_MIN_LOG_LEVEL` does not silence, so every command would start
  with lines such as `E0000 ... failed call to cuInit` on a machine without
  a GPU. In a process started as one of tfnvp's commands (a `tfnvp-*`
  console script, or `python -m tfnvp...`), the standard error written
  inside the block (importing TensorFlow and finding its devices) is held
  back and written out after it without those lines: every other line,
  and any Python error, still shows. Nothing changes in other programs that
  import tfnvp, or when `TF_CPP_MIN_LOG_LEVEL` is set (to see TF's log:
  `TF_CPP_MIN_LOG_LEVEL=0`).
  """
  if not _is_quiet_command():
    yield
    return
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      held.seek(0)
      for line in held.read().decode(errors="replace").splitlines():
        if not _NOISE.match(line):
          sys.stderr.write(line + "\n")
