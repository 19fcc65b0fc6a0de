"""tfnvp.internal.checks: numbers that are not bools, fractions, vectors."""

import re

import numpy as np
import pytest

from tfnvp.internal.checks import check_finite_vector
from tfnvp.internal.checks import check_fraction
from tfnvp.internal.checks import is_number


def test_a_bool_is_no_number_of_any_type():
  assert is_number(3) and is_number(0.5) and is_number(3, int)
  assert not is_number(0.5, int) and not is_number("3")
  assert not is_number(np.int64(3), int)
  assert is_number(np.int64(3), (int, np.integer))
  for flag in (True, False):
    assert not is_number(flag)
    assert not is_number(flag, int)
    assert not is_number(flag, (int, np.integer))


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1, True, "0.5", None])
def test_check_fraction_refuses_what_is_not_in_the_open_unit_interval(value):
  with pytest.raises(ValueError, match=r"`rate` must be a float in \(0, 1\); "
                     "got " + re.escape(repr(value))):
    check_fraction("rate", value)


def test_check_fraction_takes_ints_and_floats_inside():
  check_fraction("rate", 0.05)
  check_fraction("rate", np.float64(0.5))


def test_check_finite_vector():
  values = check_finite_vector("v", [1, 2.5], 2)
  assert values.dtype == np.float64
  np.testing.assert_array_equal(values, [1.0, 2.5])
  with pytest.raises(ValueError, match=r"`v` must be a vector of at least 3 "
                     r"values; got shape \(2,\)"):
    check_finite_vector("v", [1, 2], 3)
  with pytest.raises(ValueError, match="`v` must be finite; got 2 NaN or inf "
                     "of 3 values"):
    check_finite_vector("v", [np.nan, 1.0, -np.inf], 1)
