"""Argument checks with messages that name the argument and the value."""

import math

import numpy as np
import tensorflow as tf

__all__ = [
    "check_bool",
    "check_choice",
    "check_finite_vector",
    "check_fraction",
    "check_int",
    "check_number",
    "check_sample_shape",
    "is_number",
]


def is_number(value, types=(int, float)):
  """Whether `value` is an instance of `types` and not a `bool`.

  Python's `bool` is an `int` (`isinstance(True, int)`), so an argument
  that must be a number (`types=(int, float)`, the default) or an integer
  (`types=int`, or `(int, np.integer)` to take NumPy's too) refuses
  `True` and `False` through this test.

  Args:
    value: any object.
    types: a type or a tuple of types, as for `isinstance`.

  Returns:
    A Python `bool`.
  """
  return isinstance(value, types) and not isinstance(value, (bool, np.bool_))


def check_bool(name, value):
  """`value` as a `bool`; `bool`s and the ints 0 and 1 are accepted, anything
  else raises `ValueError`."""
  if isinstance(value, (bool, np.bool_)) or (
      isinstance(value, int) and value in (0, 1)):
    return bool(value)
  raise ValueError(f"`{name}` must be a bool; got {value!r}.")


def check_int(name, value, minimum, optional=False):
  """Raises `ValueError` unless `value` is an `int` (not `bool`) >= `minimum`
  (or `None`, if `optional`)."""
  if optional and value is None:
    return
  if not is_number(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"`{name}` must be an int >= {minimum}"
                     f"{' or None' if optional else ''}; got {value!r}.")


def check_number(name, value, low=None, high=None, *, low_open=False,
                 high_open=False, optional=False):
  """Raises `ValueError` unless `value` is a finite number in the interval.

  Args:
    name: the argument's name, for the message.
    value: the value to check.
    low: the lower bound, or `None` for none.
    high: the upper bound, or `None` for none.
    low_open: whether `low` itself is excluded.
    high_open: whether `high` itself is excluded.
    optional: whether `None` is allowed.
  """
  if optional and value is None:
    return
  ok = is_number(value, (int, float, np.integer, np.floating)) and (
      math.isfinite(value))
  if ok and low is not None:
    ok = value > low if low_open else value >= low
  if ok and high is not None:
    ok = value < high if high_open else value <= high
  if not ok:
    if low is not None and high is not None:
      bound = (f" in {'(' if low_open else '['}{low}, {high}"
               f"{')' if high_open else ']'}")
    elif low is not None:
      bound = f" {'>' if low_open else '>='} {low}"
    elif high is not None:
      bound = f" {'<' if high_open else '<='} {high}"
    else:
      bound = ""
    raise ValueError(f"`{name}` must be a finite number{bound}"
                     f"{' or None' if optional else ''}; got {value!r}.")


def check_choice(name, value, choices):
  """Raises `ValueError` unless `value` is one of `choices`."""
  if not isinstance(value, str) or value not in choices:
    raise ValueError(f"`{name}` must be one of {tuple(choices)}; got "
                     f"{value!r}.")


def check_fraction(name, value):
  """Raises `ValueError` unless `value` is an `int` or `float` (not `bool`)
  in `(0, 1)`."""
  if not is_number(value) or not 0 < value < 1:
    raise ValueError(f"`{name}` must be a float in (0, 1); got {value!r}.")


def check_finite_vector(name, values, minimum_size):
  """`values` as a float64 NumPy vector of at least `minimum_size` finite
  values, or `ValueError` naming `name`, the shape or the count of NaN and
  inf."""
  values = np.asarray(values, dtype=np.float64)
  if values.ndim != 1 or values.size < minimum_size:
    raise ValueError(f"`{name}` must be a vector of at least {minimum_size} "
                     f"values; got shape {values.shape}.")
  bad = ~np.isfinite(values)
  if bad.any():
    raise ValueError(f"`{name}` must be finite; got {int(bad.sum())} NaN or "
                     f"inf of {values.size} values.")
  return values


def check_sample_shape(sample_shape, name="sample_shape"):
  """The static sample shape as a list of ints >= 0, or `None` if dynamic.

  Raises:
    ValueError: for a negative, non-integer or boolean entry (e.g. `2.5`,
      `-1`); the message names `name` and the value.
  """
  static = sample_shape
  if not tf.is_tensor(sample_shape) and any(
      tf.is_tensor(d) for d in tf.nest.flatten(sample_shape)):
    sample_shape = tf.convert_to_tensor(sample_shape)   # e.g. `[n]`, n a tensor
  if tf.is_tensor(sample_shape):
    if not sample_shape.dtype.is_integer:
      raise ValueError(f"`{name}` must hold ints >= 0; got a "
                       f"{sample_shape.dtype.name} tensor.")
    static = tf.get_static_value(sample_shape)
    if static is None:
      return None
  entries = np.asarray(static, dtype=object).reshape([-1]).tolist() if (
      np.ndim(static)) else [static]
  if np.ndim(static) > 1 or not all(
      is_number(d, (int, np.integer)) and d >= 0 for d in entries):
    raise ValueError(f"`{name}` must be an int >= 0 or a list of them; got "
                     f"{sample_shape!r}.")
  return [int(d) for d in entries]
