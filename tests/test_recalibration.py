"""FlowModel.recalibrate_moving_statistics: the mean of the batches'
statistics, under the weights inference uses, and nothing else changes."""

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests import kit


def _model(**kwargs):
  # One scale: recalibration traces the training-mode flow, in less than
  # half the time of two scales'.
  flow = tfnvp.RealNVP((8, 8, 1), num_scales=1, hidden_channels=4,
                       num_res_blocks=1)
  model = tfnvp.FlowModel(flow, **kwargs)
  kit.randomize_weights(model.flow_layers, 0, stddev=0.1)
  return model


def _batches(n, seed=0):
  rng = np.random.default_rng(seed)
  return [rng.uniform(0, 256, (16, 8, 8, 1)).astype(np.float32)
          for _ in range(n)]


def _batch_statistics(model, batch):
  """Each moving statistic after one training-mode pass with momentum 0."""
  stats = model.moving_statistics()
  saved = [v.numpy() for v, _ in stats]
  owners = [layer for layer in model.flow_layers._flatten_layers()  # pylint: disable=protected-access
            if hasattr(layer, "moving_mean")]
  momenta = [layer.momentum for layer in owners]
  for layer in owners:
    layer.momentum = 0.0
  model(batch, training=True)          # eager: reads momentum 0
  values = [v.numpy() for v, _ in stats]
  for layer, momentum in zip(owners, momenta):
    layer.momentum = momentum
  for (v, _), value in zip(stats, saved):
    v.assign(value)
  return values


def test_sets_the_mean_of_the_batch_statistics():
  model = _model()
  batches = _batches(2)
  expected = [(a + b) / 2 for a, b in zip(
      _batch_statistics(model, batches[0]),
      _batch_statistics(model, batches[1]))]
  before = [v.numpy() for v, _ in model.moving_statistics()]
  trainable = [v.numpy() for v in model.trainable_variables]
  assert model.recalibrate_moving_statistics(batches) == 2
  after = [v.numpy() for v, _ in model.moving_statistics()]
  # A mean and a variance per batch normalization: 3 in each of the 4
  # couplings' networks and the flow's own after each coupling.
  assert len(after) == 4 * (3 + 1) * 2
  assert max(np.abs(a - b).max() for a, b in zip(after, before)) > 0.1, (
      "the randomized moving statistics should change")
  for got, want in zip(after, expected):
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)
  for got, want in zip(model.trainable_variables, trainable):
    np.testing.assert_array_equal(got, want)


def test_uses_the_polyak_averages_and_restores_the_raw_weights():
  model = _model(ema_decay=0.5)
  average = model.weight_average
  raw = [v.numpy() for v in model.flow_layers.trainable_variables]
  for v in model.flow_layers.trainable_variables:   # an average != raw
    v.assign(v + 0.05)
  average.update(model.flow_layers.trainable_variables)
  for v, value in zip(model.flow_layers.trainable_variables, raw):
    v.assign(value)
  batch = _batches(1, seed=3)[0]
  with model.averaged_weights():
    expected = _batch_statistics(model, batch)
  model.recalibrate_moving_statistics([batch])
  for (v, _), want in zip(model.moving_statistics(), expected):
    np.testing.assert_allclose(v, want, rtol=2e-4, atol=2e-5)
  for v, want in zip(model.flow_layers.trainable_variables, raw):
    np.testing.assert_array_equal(v, want)
  raw_stats = _batch_statistics(model, batch)
  assert max(np.abs(a - b).max() for a, b in zip(raw_stats, expected)) > 1e-3


def test_under_mirrored_strategy(mirrored_strategy):
  batches = _batches(2)
  single = _model()
  with mirrored_strategy.scope():
    model = _model()
  for target, source in zip(model.weights, single.weights):
    target.assign(source)
  single.recalibrate_moving_statistics(batches)
  dataset = mirrored_strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensor_slices(np.concatenate(batches)).batch(16))
  assert model.recalibrate_moving_statistics(dataset) == 2
  for (got, _), (want, _) in zip(model.moving_statistics(),
                                 single.moving_statistics()):
    for replica in mirrored_strategy.experimental_local_results(got):
      np.testing.assert_allclose(replica, want, rtol=1e-3, atol=1e-4)


def test_glow_has_none_and_is_left_alone():
  model = tfnvp.FlowModel(tfnvp.Glow((8, 8, 1), num_levels=1, depth=1,
                                     hidden_channels=4))
  assert model.moving_statistics() == []
  assert model.recalibrate_moving_statistics(_batches(2)) == 0


@pytest.mark.parametrize("batches", [[], iter([])])
def test_no_batches_changes_nothing(batches):
  model = _model()
  before = [v.numpy() for v, _ in model.moving_statistics()]
  assert model.recalibrate_moving_statistics(batches) == 0
  for (v, _), want in zip(model.moving_statistics(), before):
    np.testing.assert_array_equal(v, want)


def test_a_refused_batch_changes_nothing():
  """A batch that training would refuse, after one it took: the moving
  statistics are back to their values before the call, the raw weights and
  the average unchanged; the next call works."""
  model = _model(ema_decay=0.5)
  model.weight_average.update(model.flow_layers.trainable_variables)
  good = _batches(2)
  before = {v.path: v.numpy().tobytes() for v in model.weights}
  for bad, error, match in [
      (good[1] / 256.0, tf.errors.InvalidArgumentError,
       r"`batches` holds no value above 1: the images look scaled to "
       r"\[0, 1\]"),
      (np.where(good[1] > 128, np.nan, good[1]), tf.errors.InvalidArgumentError,
       r"`batches` holds NaN or inf in \d+ of its 1024 values"),
      (good[1][..., 0], ValueError,
       r"`batches` must be a batch of images of shape \[batch, 8, 8, 1\]; "
       r"got shape \(16, 8, 8\)\. The channel axis is missing"),
      (good[1][:0], ValueError, r"`batches` holds no images")]:
    with pytest.raises(error, match=match):
      model.recalibrate_moving_statistics([good[0], bad, good[1]])
    assert {v.path: v.numpy().tobytes() for v in model.weights} == before
  assert model.recalibrate_moving_statistics(good) == 2
  assert {v.path: v.numpy().tobytes() for v in model.weights} != before
