"""The commands' shared command-line plumbing (tfnvp.export.cli)."""

import pytest

from tfnvp.export import cli


def _parser():
  parser = cli.ArgumentParser(prog="tfnvp-x")
  parser.add_argument("--batch-size", type=cli.positive_int, default=1)
  parser.add_argument("--lu-decomposed", action="store_true")
  cli.add_data_flags(parser)
  return parser


def test_library_argument_names_become_the_commands_flags():
  parser = _parser()
  assert cli.flag_names(
      parser, "`batch_size` must be an int >= 1; got 0; see `raw_data_dir` "
      "and `image_shape`.") == (
          "--batch-size must be an int >= 1; got 0; see --raw-data-dir and "
          "`image_shape`.")   # not a flag of this command: kept as written
  assert cli.flag_names(parser, "`lu_decomposed` and `data_dir`") == (
      "--lu-decomposed and --data-dir")


@pytest.mark.parametrize("error, line", [
    (ValueError("`batch_size` must be an int >= 1;\n got 0."),
     "tfnvp-x: error: --batch-size must be an int >= 1; got 0.\n"),
    (FileNotFoundError("no `data_dir`"), "tfnvp-x: error: no --data-dir\n"),
])
def test_errors_exit_is_one_line_with_status_2(error, line, capsys):
  with pytest.raises(SystemExit) as exit_info:
    with cli.errors_exit(_parser()):
      raise error
  assert exit_info.value.code == 2
  assert capsys.readouterr().err == line


def test_number_types_name_the_value(capsys):
  with pytest.raises(SystemExit):
    _parser().parse_args(["--batch-size", "0"])
  assert "--batch-size: must be an int >= 1; got '0'" in capsys.readouterr().err
