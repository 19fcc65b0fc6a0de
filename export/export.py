"""Exports a training run's checkpoint as a SavedModel for TF Serving.

```
tfnvp-export --model-dir runs/mnist --output models/mnist/1
python -m tfnvp.export.export ...              # the same, from a checkout
tensorflow_model_server --rest_api_port=8501 --model_name=mnist \\
    --model_base_path=$PWD/models/mnist
```

By default the export is calibrated for outlier detection on the first
10,000 images of the run's training split (`tfnvp.OutlierCalibration`),
which adds the `score` signature; that reads the dataset (`tfnvp.data`, the
`data` extra; `--raw-data-dir` offline). `--calibration-examples 0` skips
it, and then needs no TensorFlow Datasets.
"""

import sys

from tfnvp import ood
from tfnvp import runs

from . import cli
from . import serving
from .contract import CONDITIONAL_SIGNATURES
from .contract import signatures as contract_signatures
from .endpoints import DEFAULT_MAX_INTERPOLATION_STEPS
from .endpoints import DEFAULT_MAX_SAMPLES

__all__ = ["build_parser", "export_run", "main"]


def export_run(model_dir, output, *, checkpoint=None,
               max_samples=DEFAULT_MAX_SAMPLES,
               max_interpolation_steps=DEFAULT_MAX_INTERPOLATION_STEPS,
               overwrite=False, calibration_split=None,
               calibration_examples=ood.DEFAULT_CALIBRATION_EXAMPLES,
               false_positive_rate=0.05, outlier_score="ood_score",
               data_dir=None, raw_data_dir=None):
  """Exports the newest (or the given) checkpoint of `model_dir` to `output`.

  A run trained with Polyak averaging (`--ema-decay`) is exported with its
  averaged weights (`tfnvp.runs.load_run`). A class-conditional run (its
  model record has `num_classes`) gets the signatures of
  `contract.CONDITIONAL_SIGNATURES`; its calibration reads the images only
  and scores the marginal density. With `calibration_examples >
  0`, the export is calibrated and gets the `score`
  signature (`tfnvp.OutlierCalibration.estimate` on the first
  `calibration_examples` images of the run's dataset's `calibration_split`
  or training split, from `tfnvp.data.pixel_batches`);
  `calibration_examples=0` exports without it, and without importing
  `tfnvp.data` (TensorFlow Datasets, the `data` extra).

  Returns:
    `(output, checkpoint_path, calibration or None)`.

  Raises:
    FileNotFoundError: no run or no checkpoint in `model_dir`, or a
      missing `checkpoint`; missing data for the calibration.
    FileExistsError: `output` exists and `overwrite` is False.
    ValueError: `output` does not end in a numeric version, bad limits, a
      corrupted `config.json` or checkpoint (named in the message), or a
      bad calibration argument (see `tfnvp.data.pixel_batches` and
      `tfnvp.OutlierCalibration.estimate`).
    ImportError: a calibration without TensorFlow Datasets.
  """
  serving.check_export_dir(output, overwrite)
  run = runs.load_run(model_dir, checkpoint)
  calibration = None
  if calibration_examples:
    # Only a calibration reads a dataset, hence needs the data extra.
    from tfnvp import data  # pylint: disable=g-import-not-at-top
    name = run.config.get("dataset")
    split = (data.get_spec(name).train_split if calibration_split is None
             else calibration_split)
    images = data.pixel_batches(
        name, split, num_examples=calibration_examples,
        image_shape=run.flow.image_shape, data_dir=data_dir,
        raw_data_dir=raw_data_dir)
    calibration = ood.OutlierCalibration.estimate(
        run.flow, images, false_positive_rate=false_positive_rate,
        score=outlier_score, source=f"{name} {split}[:{calibration_examples}]")
  serving.export_saved_model(
      run.flow, output, calibration=calibration, max_samples=max_samples,
      max_interpolation_steps=max_interpolation_steps, overwrite=overwrite)
  return output, run.checkpoint, calibration


def build_parser():
  """The command line of `tfnvp-export` (`python -m export.export`)."""
  parser = cli.ArgumentParser(
      prog="tfnvp-export",
      description="Export a training run's checkpoint as a SavedModel that "
                  "TF Serving loads as is (signatures: "
                  f"{', '.join(CONDITIONAL_SIGNATURES)}; `classify` for a "
                  "class-conditional run, `score` when calibrated).")
  parser.add_argument("--model-dir", required=True,
                      help="folder of a `training.train` run")
  parser.add_argument("--output", required=True,
                      help="BASE/NAME/VERSION, e.g. models/mnist/1; serve "
                           "with --model_base_path=BASE/NAME")
  parser.add_argument("--checkpoint", default=None,
                      help="checkpoint prefix (default: the newest)")
  parser.add_argument("--max-samples", type=cli.positive_int,
                      default=DEFAULT_MAX_SAMPLES,
                      help="largest `num_samples` the sample signature "
                           "accepts (default: %(default)s)")
  parser.add_argument("--max-interpolation-steps", type=cli.positive_int,
                      default=DEFAULT_MAX_INTERPOLATION_STEPS,
                      help="largest `num_steps` of the interpolate signature "
                           "(default: %(default)s)")
  parser.add_argument("--overwrite", action="store_true",
                      help="replace an existing version folder")
  group = parser.add_argument_group(
      "calibration", "outlier scores of the `score` signature "
      "(tfnvp.OutlierCalibration), estimated on the run's dataset")
  group.add_argument("--calibration-split", default=None,
                     help="TFDS split (default: the dataset's training "
                          "split)")
  group.add_argument("--calibration-examples", type=cli.nonnegative_int,
                     default=ood.DEFAULT_CALIBRATION_EXAMPLES,
                     help="its first N images (default: %(default)s); 0: "
                          "no calibration and no `score` signature")
  group.add_argument("--false-positive-rate", type=cli.fraction,
                     default=0.05,
                     help="fraction of in-distribution images `is_outlier` "
                          "may flag (default: %(default)s)")
  group.add_argument("--outlier-score", choices=ood.SCORES,
                     default="ood_score",
                     help="the score `is_outlier` thresholds (default: "
                          "%(default)s)")
  cli.add_data_flags(group)
  return parser


def main(argv=None):
  """Runs `tfnvp-export` on `argv` (default: `sys.argv[1:]`).

  Prints the checkpoint, the version folder, the signatures and the
  calibration.

  Args:
    argv: the arguments, a list of `str`, or `None`.

  Returns:
    The exit status, 0. A bad argument, a missing run or an existing
    version folder exits with status 2 and a one-line message.
  """
  parser = build_parser()
  args = parser.parse_args(argv)
  with cli.errors_exit(parser):
    try:
      output, path, calibration = export_run(
          args.model_dir, args.output, checkpoint=args.checkpoint,
          max_samples=args.max_samples,
          max_interpolation_steps=args.max_interpolation_steps,
          overwrite=args.overwrite, calibration_split=args.calibration_split,
          calibration_examples=args.calibration_examples,
          false_positive_rate=args.false_positive_rate,
          outlier_score=args.outlier_score, data_dir=args.data_dir,
          raw_data_dir=args.raw_data_dir)
    except ImportError as err:  # a calibration without the data extra
      parser.error(str(err))
  print(f"checkpoint: {path}")
  print(f"exported: {output}")
  model, _ = runs.run_records(runs.read_config(args.model_dir),
                              args.model_dir)
  conditional = getattr(model, "num_classes", None) is not None
  signatures = [s for s in contract_signatures(conditional)
                if s != "score" or calibration]
  print(f"signatures: {', '.join(signatures)}")
  if calibration:
    print(f"calibration: {calibration.source}: typical bits/dim "
          f"{calibration.typical_set.mean:.4f} +- "
          f"{calibration.typical_set.stddev:.4f}; is_outlier = "
          f"{calibration.score} > {calibration.threshold:.4f} "
          f"(false-positive rate {calibration.false_positive_rate:g})")
  return 0


if __name__ == "__main__":
  sys.exit(main())
