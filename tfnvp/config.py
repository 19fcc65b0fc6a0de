"""Building blocks of config records: frozen dataclasses of keywords.

tfnvp's records (`tfnvp.RealNVPConfig`, `tfnvp.GlowConfig`,
`tfnvp.OptimizationConfig`) and the apps' (`tfnvp.training`'s
`TrainConfig`) are frozen dataclasses whose fields are documented with
`config_field`, validated with the checks here (each names the field and
the value in its message) and read back with `record_from_fields`.
"""

import dataclasses

from tfnvp.internal.checks import check_choice
from tfnvp.internal.checks import check_int
from tfnvp.internal.checks import check_number

__all__ = ["check_choice", "check_int", "check_number", "config_field",
           "record_from_fields"]


def config_field(default=dataclasses.MISSING, *, doc, choices=None,
                 flag=True, default_factory=dataclasses.MISSING):
  """A dataclass field of a config record, with its documentation.

  Args:
    default: the default value (the constructor's), or none for a required
      field.
    doc: Python `str`, a phrase: what the field sets.
    choices: the allowed values of a string field, or `None`.
    flag: Python `bool`, whether command lines generated from the record
      offer the field.
    default_factory: makes the default (a record's record), instead of
      `default`.

  Returns:
    A `dataclasses.Field`.
  """
  return dataclasses.field(
      default=default, default_factory=default_factory,
      metadata=dict(doc=doc, choices=choices, flag=flag))


def record_from_fields(cls, fields, what):
  """`cls(**fields)`, refusing unknown fields.

  Args:
    cls: a dataclass.
    fields: a `dict` of field values.
    what: what the record is, for messages (`"RealNVP"`).

  Raises:
    ValueError: if `fields` is not a dict or has unknown fields, and as
      `cls` raises for invalid values (a `TypeError` becomes a
      `ValueError`).
  """
  if not isinstance(fields, dict):
    raise ValueError(f"the {what} record must be a JSON object; got "
                     f"{fields!r}.")
  known = {f.name for f in dataclasses.fields(cls)}
  unknown = sorted(set(fields) - known)
  if unknown:
    raise ValueError(f"unknown {what} field(s) {unknown}; known: "
                     f"{sorted(known)}.")
  try:
    return cls(**fields)
  except TypeError as err:
    raise ValueError(str(err)) from None
