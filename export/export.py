"""Exports a training run's checkpoint as a SavedModel for TF Serving.

```
tfnvp-export --model-dir runs/mnist --output models/mnist/1
python -m export.export ...              # the same, from a checkout
tensorflow_model_server --rest_api_port=8501 --model_name=mnist \\
    --model_base_path=$PWD/models/mnist
```
"""

import sys

from tfnvp import cli
from tfnvp import runs

from . import serving
from .contract import SIGNATURES

__all__ = ["build_parser", "export_run", "main"]


def export_run(model_dir, output, *, checkpoint=None, max_samples=256,
               max_interpolation_steps=64, overwrite=False):
  """Exports the newest (or the given) checkpoint of `model_dir` to `output`.

  A run trained with Polyak averaging (`--ema-decay`) is exported with its
  averaged weights (`tfnvp.runs.load_run`).

  Returns:
    `(output, checkpoint_path)`.

  Raises:
    FileNotFoundError: no run or no checkpoint in `model_dir`, or a
      missing `checkpoint`.
    FileExistsError: `output` exists and `overwrite` is False.
    ValueError: `output` does not end in a numeric version, bad limits, or
      a corrupted `config.json` or checkpoint (named in the message).
  """
  serving.check_version_dir(output)
  run = runs.load_run(model_dir, checkpoint)
  serving.export_saved_model(
      run.flow, output, max_samples=max_samples,
      max_interpolation_steps=max_interpolation_steps, overwrite=overwrite)
  return output, run.checkpoint


def build_parser():
  parser = cli.ArgumentParser(
      prog="tfnvp-export",
      description="Export a training run's checkpoint as a SavedModel that "
                  "TF Serving loads as is (signatures: "
                  f"{', '.join(SIGNATURES)}).")
  parser.add_argument("--model-dir", required=True,
                      help="folder of a `training.train` run")
  parser.add_argument("--output", required=True,
                      help="BASE/NAME/VERSION, e.g. models/mnist/1; serve "
                           "with --model_base_path=BASE/NAME")
  parser.add_argument("--checkpoint", default=None,
                      help="checkpoint prefix (default: the newest)")
  parser.add_argument("--max-samples", type=cli.positive_int, default=256,
                      help="largest `num_samples` the sample signature "
                           "accepts (default: %(default)s)")
  parser.add_argument("--max-interpolation-steps", type=cli.positive_int, default=64,
                      help="largest `num_steps` of the interpolate signature "
                           "(default: %(default)s)")
  parser.add_argument("--overwrite", action="store_true",
                      help="replace an existing version folder")
  return parser


def main(argv=None):
  parser = build_parser()
  args = parser.parse_args(argv)
  with cli.errors_exit(parser):
    output, path = export_run(
        args.model_dir, args.output, checkpoint=args.checkpoint,
        max_samples=args.max_samples,
        max_interpolation_steps=args.max_interpolation_steps,
        overwrite=args.overwrite)
  print(f"checkpoint: {path}")
  print(f"exported: {output}")
  print(f"signatures: {', '.join(SIGNATURES)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
