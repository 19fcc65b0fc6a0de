"""Evaluates a trained run's newest checkpoint on its dataset's test split.

```
tfnvp-evaluate --model-dir runs/mnist        # or python -m training.evaluate
test bits/dim: 1.2345
```
"""

import sys

from tfnvp import cli
from tfnvp import runs

from . import config as config_lib
from tfnvp import data

__all__ = ["build_parser", "evaluate", "main"]


def evaluate(model_dir, *, checkpoint=None, batch_size=256, num_examples=None,
             data_dir=None, raw_data_dir=None):
  """Bits/dim of a run's checkpoint on every example of the test split.

  Uses the moving statistics (inference mode) and the fixed, seeded
  dequantization noise of `tfnvp.data.make_dataset`, so the number is
  deterministic. A run trained with Polyak averaging (`--ema-decay`) is
  evaluated with its averaged weights (`tfnvp.runs.load_run`).

  Returns:
    `(bits_per_dim, checkpoint_path)`.

  Raises:
    FileNotFoundError: no run, no checkpoint, or a missing `checkpoint`.
    ValueError: a corrupted `config.json` or checkpoint, or bad sizes.
  """
  run = runs.load_run(model_dir, checkpoint)
  config = config_lib.load_config(model_dir)
  spec = data.get_spec(config.dataset)
  dataset = data.make_dataset(
      config.dataset, spec.eval_split, batch_size, training=False,
      data_dir=data_dir, raw_data_dir=raw_data_dir, num_examples=num_examples,
      drop_remainder=False)
  run.model.compile()
  result = run.model.evaluate(dataset, verbose=0, return_dict=True)
  return float(result["bits_per_dim"]), run.checkpoint


def build_parser():
  """The command line of `tfnvp-evaluate`."""
  parser = cli.ArgumentParser(
      prog="tfnvp-evaluate",
      description="Print test bits/dim of a training run's checkpoint.")
  parser.add_argument("--model-dir", required=True)
  parser.add_argument("--checkpoint", default=None,
                      help="checkpoint prefix (default: the newest)")
  parser.add_argument("--batch-size", type=cli.positive_int, default=256)
  parser.add_argument("--num-examples", type=cli.positive_int, default=None,
                      help="only the first N test examples")
  parser.add_argument("--raw-data-dir", default=None,
                      help="folder of original dataset files for offline "
                      f"TFDS preparation (default: ${data.RAW_DATA_DIR_ENV})")
  parser.add_argument("--data-dir", default=None, help="TFDS data folder")
  return parser


def main(argv=None):
  parser = build_parser()
  args = parser.parse_args(argv)
  with cli.errors_exit(parser):
    bpd, path = evaluate(
        args.model_dir, checkpoint=args.checkpoint,
        batch_size=args.batch_size, num_examples=args.num_examples,
        data_dir=args.data_dir, raw_data_dir=args.raw_data_dir)
  print(f"checkpoint: {path}")
  print(f"test bits/dim: {bpd:.4f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
