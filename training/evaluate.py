"""Evaluates a trained run's newest checkpoint on its dataset's test split.

```
python -m training.evaluate --model-dir runs/mnist
test bits/dim: 1.2345
```
"""

import argparse
import sys

import tensorflow as tf

from training import checkpoints
from training import config as config_lib
from training import data
from training.model import FlowModel

__all__ = ["evaluate", "load_model", "main"]


def load_model(model_dir, checkpoint=None):
  """The `FlowModel` of `model_dir` with a checkpoint's weights.

  Args:
    model_dir: folder of a run of `training.train`.
    checkpoint: checkpoint path prefix; None for the newest.

  Returns:
    `(model, config, checkpoint_path)`.

  Raises:
    FileNotFoundError: no `config.json` or no checkpoint in `model_dir`.
  """
  config = config_lib.load_config(model_dir)
  path = checkpoint or checkpoints.latest_checkpoint(model_dir)
  if path is None:
    raise FileNotFoundError(
        f"No checkpoint in --model-dir={model_dir!r} (looked in "
        f"{model_dir}/{checkpoints.CHECKPOINT_SUBDIR}); train first.")
  model = FlowModel(config.model)
  # The optimizer's state is in the checkpoint too; evaluation skips it.
  tf.train.Checkpoint(flow=model.flow_layers).restore(
      path).expect_partial().assert_existing_objects_matched()
  return model, config, path


def evaluate(model_dir, *, checkpoint=None, batch_size=256, num_examples=None,
             data_dir=None, raw_data_dir=None):
  """Bits/dim of a run's checkpoint on every example of the test split.

  Uses the moving statistics (inference mode) and the fixed, seeded
  dequantization noise of `training.data.make_dataset`, so the number is
  deterministic.

  Returns:
    `(bits_per_dim, checkpoint_path)`.
  """
  model, config, path = load_model(model_dir, checkpoint)
  spec = data.get_spec(config.dataset)
  dataset = data.make_dataset(
      config.dataset, spec.eval_split, batch_size, training=False,
      data_dir=data_dir, raw_data_dir=raw_data_dir, num_examples=num_examples,
      drop_remainder=False)
  model.compile()
  result = model.evaluate(dataset, verbose=0, return_dict=True)
  return float(result["bits_per_dim"]), path


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="python -m training.evaluate",
      description="Print test bits/dim of a training run's checkpoint.")
  parser.add_argument("--model-dir", required=True)
  parser.add_argument("--checkpoint", default=None,
                      help="checkpoint prefix (default: the newest)")
  parser.add_argument("--batch-size", type=int, default=256)
  parser.add_argument("--num-examples", type=int, default=None,
                      help="only the first N test examples")
  parser.add_argument("--raw-data-dir", default=None)
  parser.add_argument("--data-dir", default=None)
  args = parser.parse_args(argv)
  try:
    bpd, path = evaluate(
        args.model_dir, checkpoint=args.checkpoint,
        batch_size=args.batch_size, num_examples=args.num_examples,
        data_dir=args.data_dir, raw_data_dir=args.raw_data_dir)
  except (ValueError, FileNotFoundError) as err:
    parser.error(str(err))
  print(f"checkpoint: {path}")
  print(f"test bits/dim: {bpd:.4f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
