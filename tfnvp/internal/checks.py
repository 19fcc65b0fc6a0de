"""Constructor argument checks with messages that name the argument."""

__all__ = ["check_int"]


def check_int(name, value, minimum):
  """Raises `ValueError` unless `value` is an `int` (not `bool`) >= `minimum`."""
  if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
    raise ValueError(f"`{name}` must be an int >= {minimum}; got {value!r}.")
