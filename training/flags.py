"""Command-line flags generated from config records' fields.

Each documented field (`tfnvp.config.config_field`) of a record becomes a
flag of the same name (`batch_size` -> `--batch-size`): its type from the
field's annotation, `--flag/--no-flag` for booleans, `none` for an optional
field's `None`, its choices and help from the field's metadata. A flag not
given is absent from the parsed namespace, so given values can be told from
defaults and applied over presets.

Deprecated spellings (`Alias`) map a value onto a field, with a warning.
"""

import argparse
import dataclasses
import types
import typing

__all__ = ["Alias", "add_alias", "add_record_flags", "flag", "given_values"]


def flag(name):
  """The flag of a field: `batch_size` -> `--batch-size`."""
  return "--" + name.replace("_", "-")


def _base_type(annotation):
  """`(type, optional)` of a field annotation such as `int | None`."""
  args = typing.get_args(annotation)
  if isinstance(annotation, types.UnionType) or typing.get_origin(
      annotation) is typing.Union:
    kinds = [a for a in args if a is not type(None)]
    return kinds[0], len(kinds) < len(args)
  return annotation, False


def _parser(kind, optional, name, words=()):
  """An argparse `type` for a field of type `kind`, also taking `words`."""

  def parse(text):
    if optional and text.lower() == "none":
      return None
    if text.lower() in words:
      return text.lower()
    try:
      return kind(text)
    except ValueError:
      alternatives = [*words, *(["none"] if optional else [])]
      raise argparse.ArgumentTypeError(
          f"must be {'an int' if kind is int else 'a number'}"
          f"{''.join(' or ' + w for w in alternatives)}; got {text!r}"
      ) from None

  parse.__name__ = name
  return parse


def add_record_flags(group, fields, defaults, prefixes=None, words=None):
  """Adds a flag for each field to `group` (an argparse parser or group).

  Args:
    group: where to add the flags.
    fields: `dataclasses.Field`s (with `config_field` metadata); fields of
      the same name appear once, with the first one's documentation.
    defaults: `dict` of field name -> the text that the help gives as its
      default.
    prefixes: `dict` of field name -> what the help starts with (`"Glow:"`
      for a field of one model), or `None`.
    words: `dict` of field name -> `(word, meaning)` pairs: values other
      than the field's type that the command line resolves (`auto`), or
      `None`.
  """
  seen = set()
  for field in fields:
    if field.name in seen or not field.metadata.get("flag", True):
      continue
    seen.add(field.name)
    kind, optional = _base_type(field.type)
    extra = dict((words or {}).get(field.name, ()))
    help_text = " ".join(filter(None, [(prefixes or {}).get(field.name),
                                       field.metadata.get("doc", "")]))
    help_text += "".join(f"; {w}: {meaning}" for w, meaning in extra.items())
    if field.name in defaults and "(default:" not in help_text:
      help_text += f" (default: {defaults[field.name]})"
    options = dict(dest=field.name, default=argparse.SUPPRESS,
                   help=help_text)
    if kind is bool:
      options["action"] = argparse.BooleanOptionalAction
    elif field.metadata.get("choices"):
      choices = tuple(field.metadata["choices"])
      options["choices"] = choices + (("none",) if optional else ())
      options["type"] = _parser(str, optional, "choice")
    elif kind in (int, float):
      options["type"] = _parser(kind, optional, kind.__name__, tuple(extra))
    else:
      options["type"] = _parser(str, optional, "str")
    group.add_argument(flag(field.name), **options)


@dataclasses.dataclass(frozen=True)
class Alias:
  """A deprecated spelling that sets a field, with a warning.

  Args:
    option: the old flag, e.g. `"--conv1x1"`.
    field: the field it sets, e.g. `"lu_decomposed"`.
    values: `dict` of old value -> field value; `None` for an old flag that
      is another field's flag (`source`) whose value passes through.
    use: what to write instead, for the warning.
    source: the field whose flag `option` is, for a flag that keeps its
      meaning for other models (`--num-scales`: Real NVP's scales, Glow's
      levels in 0.3); `None` for a flag of its own.
    model: the model (`"glow"`) for which the alias applies, or `None` for
      all.
  """

  option: str
  field: str
  values: dict | None
  use: str
  source: str | None = None
  model: str | None = None


class _AliasAction(argparse.Action):
  """Stores an alias's text; `given_values` resolves it."""

  def __call__(self, parser, namespace, values, option_string=None):
    aliases = dict(getattr(namespace, "_aliases", {}))
    aliases[self.dest] = values
    namespace._aliases = aliases  # pylint: disable=protected-access


def add_alias(group, alias, **options):
  """Adds the flag of an `Alias` without a `source`, hidden from `--help`."""
  group.add_argument(alias.option, dest=alias.option, action=_AliasAction,
                     default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                     **options)


def given_values(args, aliases, model):
  """The field values given on a command line, aliases resolved.

  Args:
    args: the parsed namespace (flags not given are absent).
    aliases: the parser's `Alias`es.
    model: the run's model (`"realnvp"`, `"glow"`).

  Returns:
    `(given, warnings)`: a `dict` of field name -> value, and a line for
    each deprecated spelling used.

  Raises:
    ValueError: for an alias value it does not know, or one that
      contradicts the new flag given beside it.
  """
  warnings = []
  given = {k: v for k, v in vars(args).items() if not k.startswith("_")}
  texts = getattr(args, "_aliases", {})
  for alias in aliases:
    if alias.model is not None and alias.model != model:
      continue
    if alias.source is not None:
      if alias.source not in given:
        continue
      text = value = given.pop(alias.source)
    elif alias.option in texts:
      text = texts[alias.option]
      if text not in alias.values:
        raise ValueError(f"{alias.option} must be one of "
                         f"{tuple(alias.values)}; got {text!r}.")
      value = alias.values[text]
    else:
      continue
    if alias.field in given and given[alias.field] != value:
      raise ValueError(f"{alias.option} {text} contradicts "
                       f"{flag(alias.field)} {given[alias.field]}.")
    given[alias.field] = value
    warnings.append(f"warning: {alias.option} is deprecated; use "
                    f"{alias.use}.")
  return given, warnings
