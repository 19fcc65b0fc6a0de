"""What the command-line tests share."""

import pytest

__all__ = ["cli_error"]


def cli_error(main, argv, capsys):
  """Runs an entry point's `main(argv)`, which must fail as the brief says:
  exit status 2 and one line on stderr, no traceback. Returns that line."""
  with pytest.raises(SystemExit) as exit_info:
    main(argv)
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "Traceback" not in err, err
  return err
