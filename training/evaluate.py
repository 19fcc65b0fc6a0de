"""Evaluates a trained run's newest checkpoint on its dataset's test split.

```
tfnvp-evaluate --model-dir runs/mnist        # or python -m tfnvp.training.evaluate
test bits/dim: 1.2345
tfnvp-evaluate --model-dir runs/fashion --ood-dataset mnist
```

With `--ood-dataset`, it also prints how well each outlier score of
`tfnvp.ood` separates the run's test images from that dataset's: AUROC, the
false-positive rate at 95% true positives, and the fractions `is_outlier`
flags at the threshold calibrated on the run's training images.
"""

import sys

from ..export import cli
from tfnvp import data
from tfnvp import ood
from tfnvp import runs

from . import config as config_lib

__all__ = ["build_parser", "evaluate", "evaluate_ood", "main"]


def evaluate(model_dir, *, checkpoint=None, batch_size=256, num_examples=None,
             data_dir=None, raw_data_dir=None, run=None, return_dict=False):
  """Bits/dim of a run's checkpoint on every example of the test split.

  For a class-conditional run the bits/dim are the marginal density's,
  `-log p(x)`, comparable with an unconditional run's; its evaluation uses
  the test labels, and `return_dict` gives the rest (`bits_per_dim` of
  `p(x | y)`, `bits_y`, `accuracy` of the Bayes classifier: see
  `tfnvp.FlowModel`).

  Uses the moving statistics (inference mode) and the fixed, seeded
  dequantization noise of `tfnvp.data.make_dataset`, so the number is
  deterministic. A run trained with Polyak averaging (`--ema-decay`) is
  evaluated with its averaged weights (`tfnvp.runs.load_run`); pass the
  loaded `run` of `model_dir` and `checkpoint` not to load it again.

  Returns:
    `(bits_per_dim, checkpoint_path)`, or with `return_dict`
    `(model.evaluate's dict, checkpoint_path)`.

  Raises:
    FileNotFoundError: no run, no checkpoint, or a missing `checkpoint`.
    ValueError: a corrupted `config.json` or checkpoint, or bad sizes.
  """
  run = runs.load_run(model_dir, checkpoint) if run is None else run
  config = config_lib.load_config(model_dir)
  spec = data.get_spec(config.dataset)
  dataset = data.make_dataset(
      config.dataset, spec.eval_split, batch_size, training=False,
      data_dir=data_dir, raw_data_dir=raw_data_dir, num_examples=num_examples,
      drop_remainder=False, labels=run.flow.num_classes is not None)
  run.model.compile()
  result = run.model.evaluate(dataset, verbose=0, return_dict=True)
  if return_dict:
    return result, run.checkpoint
  return float(result.get("marginal_bits_per_dim",
                          result["bits_per_dim"])), run.checkpoint


def evaluate_ood(model_dir, ood_dataset, *, checkpoint=None, batch_size=256,
                 num_examples=None,
                 calibration_examples=ood.DEFAULT_CALIBRATION_EXAMPLES,
                 false_positive_rate=0.05, true_positive_rate=0.95,
                 data_dir=None, raw_data_dir=None, run=None):
  """How each score of `tfnvp.ood` tells the run's test images from outliers.

  The calibration (typical set and thresholds) is estimated on the first
  `calibration_examples` images of the run's training split; the scores
  are computed on the test splits (the first `num_examples` images, or all)
  of the run's dataset (negatives) and of `ood_dataset` (positives), with
  the 8-bit images' bits/dim of `tfnvp.ood.pixel_bits_per_dim`. `run`: as
  for `evaluate`.

  Returns:
    `{"calibration": tfnvp.OutlierCalibration, "checkpoint": path,
    "num_in": int, "num_out": int, "scores": ...}`, the scores' table of
    `tfnvp.ood.detection_metrics` (AUROC, FPR at `true_positive_rate`, and
    the fractions above each calibrated threshold).

  Raises:
    FileNotFoundError: no run or checkpoint; missing data.
    ValueError: an unknown `ood_dataset` or one of other images than the
      run's, bad sizes or rates, a corrupted `config.json` or checkpoint.
  """
  run = runs.load_run(model_dir, checkpoint) if run is None else run
  name = config_lib.load_config(model_dir).dataset
  # Both test splits first: a dataset of other images fails before any work.
  test_images = [data.pixel_batches(
      dataset, None, batch_size, num_examples=num_examples,
      image_shape=run.flow.image_shape, data_dir=data_dir,
      raw_data_dir=raw_data_dir) for dataset in (name, ood_dataset)]
  split = data.get_spec(name).train_split
  calibration = ood.OutlierCalibration.estimate(
      run.flow, data.pixel_batches(
          name, split, batch_size, num_examples=calibration_examples,
          image_shape=run.flow.image_shape, data_dir=data_dir,
          raw_data_dir=raw_data_dir),
      false_positive_rate=false_positive_rate,
      source=f"{name} {split}[:{calibration_examples}]")
  inside, outside = (calibration.evaluate(run.flow, images)
                     for images in test_images)
  return {"calibration": calibration, "checkpoint": run.checkpoint,
          "num_in": int(inside["ood_score"].size),
          "num_out": int(outside["ood_score"].size),
          "scores": ood.detection_metrics(calibration, inside, outside,
                                          true_positive_rate)}


def build_parser():
  """The command line of `tfnvp-evaluate`."""
  parser = cli.ArgumentParser(
      prog="tfnvp-evaluate",
      description="Print test bits/dim of a training run's checkpoint and, "
                  "with --ood-dataset, how its outlier scores do.")
  parser.add_argument("--model-dir", required=True)
  parser.add_argument("--checkpoint", default=None,
                      help="checkpoint prefix (default: the newest)")
  parser.add_argument("--batch-size", type=cli.positive_int, default=256)
  parser.add_argument("--num-examples", type=cli.positive_int, default=None,
                      help="only the first N test examples (of each "
                           "dataset)")
  cli.add_data_flags(parser)
  group = parser.add_argument_group("outlier detection (tfnvp.ood)")
  group.add_argument("--ood-dataset", default=None,
                     choices=sorted(data.DATASETS), metavar="NAME",
                     help="outliers: this dataset's test split (one of "
                          f"{', '.join(sorted(data.DATASETS))})")
  group.add_argument("--calibration-examples", type=cli.positive_int,
                     default=ood.DEFAULT_CALIBRATION_EXAMPLES,
                     help="training images of the typical set and the "
                          "thresholds (default: %(default)s)")
  group.add_argument("--false-positive-rate", type=cli.fraction,
                     default=0.05,
                     help="of the calibrated thresholds (default: "
                          "%(default)s)")
  return parser


def main(argv=None):
  parser = build_parser()
  args = parser.parse_args(argv)
  with cli.errors_exit(parser):
    run = runs.load_run(args.model_dir, args.checkpoint)
    result = None
    if args.ood_dataset:
      result = evaluate_ood(
          args.model_dir, args.ood_dataset, batch_size=args.batch_size,
          num_examples=args.num_examples,
          calibration_examples=args.calibration_examples,
          false_positive_rate=args.false_positive_rate,
          data_dir=args.data_dir, raw_data_dir=args.raw_data_dir, run=run)
    metrics, path = evaluate(
        args.model_dir, batch_size=args.batch_size,
        num_examples=args.num_examples, data_dir=args.data_dir,
        raw_data_dir=args.raw_data_dir, run=run, return_dict=True)
  print(f"checkpoint: {path}")
  if "marginal_bits_per_dim" in metrics:
    print(f"test bits/dim: {metrics['marginal_bits_per_dim']:.4f} "
          "(marginal, -log p(x))")
    print(f"test bits/dim given the label: {metrics['bits_per_dim']:.4f} "
          "(-log p(x | y))")
    print(f"Bayes classifier: accuracy {metrics['accuracy']:.4f}, "
          f"{metrics['bits_y']:.4f} bits/image (-log p(y | x))")
  else:
    print(f"test bits/dim: {metrics['bits_per_dim']:.4f}")
  if result:
    calibration = result["calibration"]
    rate = calibration.false_positive_rate
    print(f"outliers: {args.ood_dataset} test ({result['num_out']} images) "
          f"vs {result['num_in']} test images; thresholds at "
          f"false-positive rate {rate:g} on {calibration.source}")
    print(f"{'score':<14}{'AUROC':>8}{'FPR@95%TPR':>12}"
          f"{'flagged in':>12}{'flagged out':>13}")
    for score, row in result["scores"].items():
      print(f"{score:<14}{row['auroc']:>8.4f}{row['fpr_at_tpr']:>12.4f}"
            f"{row['flagged_in']:>12.4f}{row['flagged_out']:>13.4f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
