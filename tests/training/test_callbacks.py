"""SampleGrid: the per-epoch sample grid survives non-finite samples."""

import contextlib

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

import tfnvp
from tfnvp.training import callbacks


class _Model:
  """Stands in for a FlowModel: `flow` and `averaged_weights`.

  Its flow is only there inside `averaged_weights()`: the grid must sample
  the averaged model.
  """

  def __init__(self, flow):
    self._flow = flow
    self._averaged = False

  @contextlib.contextmanager
  def averaged_weights(self):
    self._averaged = True
    try:
      yield
    finally:
      self._averaged = False

  @property
  def flow(self):
    assert self._averaged, "sampled outside model.averaged_weights()"
    return self._flow


def test_non_finite_samples_are_drawn_black_counted_and_logged(tmp_path,
                                                               capsys):
  # log(z + 2) is NaN where a base draw is below -2: a few of the 64
  # 2x2 samples, the others finite.
  flow = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0.0, 1.0), [2, 2, 1]),
      tfb.Chain([tfb.Shift(100.0), tfb.Log(), tfb.Shift(2.0)]))
  grid_callback = callbacks.SampleGrid(str(tmp_path), seed=5)
  grid_callback.set_model(_Model(flow))
  samples = tfnvp.sample_at_temperature(flow, 64, 1.0,
                                        seed=tf.constant([5, 0])).numpy()
  bad = ~np.all(np.isfinite(samples), axis=(1, 2, 3))
  assert 0 < bad.sum() < 64, "the premise: some samples, not all, are NaN"

  logs = {}
  grid_callback.on_epoch_end(0, logs)

  assert logs["sample_nonfinite_fraction"] == bad.sum() / 64
  assert f"{bad.sum()} of 64 samples" in capsys.readouterr().out
  grid = grid_callback.last_grid
  assert grid.shape == (8 * 2, 8 * 2, 1)
  cells = grid.reshape(8, 2, 8, 2).transpose(0, 2, 1, 3).reshape(64, 4)
  np.testing.assert_array_equal(cells[bad], 0)
  np.testing.assert_array_equal(
      cells[~bad], np.floor(samples[~bad].reshape(-1, 4)).astype(np.uint8))
  assert (tmp_path / "epoch-0001.png").exists()
