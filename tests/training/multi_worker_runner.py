"""One worker of the two-worker test: `train` under TF_CONFIG, then dump.

Usage: python -m tests.training.multi_worker_runner MODEL MODEL_DIR DATA_DIR OUT.npz

Runs the small config `MODEL` (`realnvp` or `glow`) of
`test_multi_worker.py` with `--strategy multi_worker` and saves the model's
weights (the flow's, then its Polyak average's if it keeps one), the
average's step count (-1 for none) and the history's first loss to OUT.npz,
so the test can compare the workers.
"""

import sys

import numpy as np

from tfnvp.training import strategies


def main(name, model_dir, data_dir, out):
  # Before any other TF op: the collectives are configured here.
  strategy = strategies.make_strategy("multi_worker")
  from tests.training import test_multi_worker  # pylint: disable=g-import-not-at-top
  from tfnvp.training import train as train_lib  # pylint: disable=g-import-not-at-top
  model = train_lib.train(test_multi_worker.CONFIGS[name], model_dir,
                          strategy=strategy, data_dir=data_dir, verbose=0,
                          extra_callbacks=[test_multi_worker.FirstLoss()])
  average = model.weight_average
  np.savez(out, *[np.asarray(v) for v in model.weights],
           first_loss=model.first_loss,
           ema_count=-1 if average is None else average.count.numpy())


if __name__ == "__main__":
  main(*sys.argv[1:])
