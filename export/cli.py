"""What tfnvp's command-line entry points share: argument types and errors.

Every command-line error of `tfnvp-train`, `tfnvp-evaluate` and
`tfnvp-export` is one line, `<prog>: error: <message>`, naming the flag or
file and the value, with exit status 2 and no traceback. The library names
arguments in backticks (`` `batch_size` ``); `errors_exit` reports them as
the command's flags (`--batch-size`).
"""

import argparse
import contextlib
import math
import re
import sys

__all__ = [
    "ArgumentParser",
    "add_data_flags",
    "errors_exit",
    "flag_names",
    "fraction",
    "nonnegative_float",
    "nonnegative_int",
    "positive_float",
    "positive_int",
]


class ArgumentParser(argparse.ArgumentParser):
  """An `argparse.ArgumentParser` whose errors are one line (exit 2)."""

  def error(self, message):
    message = " ".join(str(message).split())
    sys.stderr.write(f"{self.prog}: error: {message}\n")
    sys.exit(2)


def add_data_flags(parser):
  """Adds the TFDS folders' flags, `--raw-data-dir` and `--data-dir`."""
  parser.add_argument(
      "--raw-data-dir", default=None,
      help="folder of original dataset files for offline TFDS preparation "
      "(default: $TFNVP_RAW_DATA_DIR; unset: TFDS downloads)")
  parser.add_argument("--data-dir", default=None, help="TFDS data folder")


def flag_names(parser, message):
  """`message` with each backticked argument that is one of `parser`'s flag
  destinations (`` `batch_size` ``) written as its flag (`--batch-size`)."""
  flags = {action.dest: action.option_strings[0]
           for action in parser._actions  # pylint: disable=protected-access
           if action.option_strings}

  def flag(match):
    return flags.get(match.group(1), match.group(0))

  return re.sub(r"`([A-Za-z_][A-Za-z0-9_]*)`", flag, message)


@contextlib.contextmanager
def errors_exit(parser):
  """Turns a user's error inside the block into `parser.error` (one line).

  Caught: `ValueError` and `TypeError` (bad values, corrupted files),
  `OSError` (missing or unreadable files and folders) and TensorFlow's
  `InvalidArgumentError`/`NotFoundError`/`DataLossError` raised while
  reading inputs. Arguments the message names are given as flags
  (`flag_names`).
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  try:
    yield
  except (ValueError, TypeError, OSError, tf.errors.InvalidArgumentError,
          tf.errors.NotFoundError, tf.errors.DataLossError) as err:
    message = getattr(err, "message", None) or str(err)
    parser.error(flag_names(parser, message.strip()) or type(err).__name__)


def _number(text, cast, check, description):
  try:
    value = cast(text)
  except ValueError:
    value = None
  if value is None or not check(value):
    raise argparse.ArgumentTypeError(
        f"must be {description}; got {text!r}")
  return value


def positive_int(text):
  """An argparse type: an int >= 1."""
  return _number(text, int, lambda v: v >= 1, "an int >= 1")


def nonnegative_int(text):
  """An argparse type: an int >= 0."""
  return _number(text, int, lambda v: v >= 0, "an int >= 0")


def positive_float(text):
  """An argparse type: a finite float > 0."""
  return _number(text, float, lambda v: math.isfinite(v) and v > 0,
                 "a finite number > 0")


def fraction(text):
  """An argparse type: a float in (0, 1)."""
  return _number(text, float, lambda v: 0 < v < 1, "a number in (0, 1)")


def nonnegative_float(text):
  """An argparse type: a finite float >= 0."""
  return _number(text, float, lambda v: math.isfinite(v) and v >= 0,
                 "a finite number >= 0")
