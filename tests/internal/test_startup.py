"""tfnvp's commands print their own output, not TensorFlow's start-up log."""

import os
import subprocess
import sys

COMMAND = [sys.executable, "-m", "tfnvp.training.train", "--model-dir", "x",
           "--epochs", "0"]
NOISE = ("absl::InitializeLog", "I0000", "cuInit", "cudart_stub")


def _stderr(extra):
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  env.update(extra)
  return subprocess.run(COMMAND, env=env, capture_output=True, text=True,
                        timeout=300, check=False)


def test_a_command_hides_the_start_up_log_but_not_its_error():
  loud = _stderr({"TF_CPP_MIN_LOG_LEVEL": "0"})
  # The premise: TensorFlow writes its start-up log unless filtered.
  assert any(noise in loud.stderr for noise in NOISE), loud.stderr
  quiet = _stderr({})
  assert quiet.returncode == 2
  assert quiet.stderr == (
      "tfnvp-train: error: --epochs must be an int >= 1; got 0.\n"), (
          quiet.stderr)
