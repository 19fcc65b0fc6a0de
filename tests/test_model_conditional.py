"""FlowModel on class-conditional flows: the objective is the library's
p(x | y) and Bayes classifier, labels are checked before any state changes,
and the hybrid weight survives saving."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import kit
import tfnvp
from tfnvp import FlowModel

K = 3
CONFIG = tfnvp.RealNVPConfig(image_shape=(8, 8, 1), num_scales=1,
                             hidden_channels=8, num_res_blocks=1,
                             num_classes=K)
D = 64


def _data(n=24, seed=0):
  """Float pixels whose class shifts their brightness, and the labels."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, K, n).astype(np.int32)
  ramp = np.linspace(0.0, 150.0, D).reshape(1, 8, 8, 1)
  images = ramp + 40.0 * labels[:, None, None, None] + rng.normal(
      0.0, 10.0, (n, 8, 8, 1))
  return np.clip(images, 0.0, 255.0).astype(np.float32), labels


def _model(config=CONFIG, seed=0, **kwargs):
  model = FlowModel(config.make_flow(), clip_norm=None, l2=0.0, **kwargs)
  kit.randomize_weights(model.flow_layers, seed, stddev=0.05)
  flow = model.flow
  images, _ = _data(4)
  # Premise: the per-class weights are not the identity.
  assert not np.allclose(flow.given([0] * 4).log_prob(images),
                         flow.given([1] * 4).log_prob(images), atol=1e-3)
  return model


def _expected(flow, images, labels, weight):
  """The metrics of `evaluate` from the library's own distributions."""
  conditional = flow.given(labels).log_prob(images)
  classes = flow.classify(images)
  class_log_prob = tf.gather(classes, labels, batch_dims=1)
  nats = math.log(2.0)
  return {
      "loss": np.mean(-conditional - weight * D * class_log_prob),
      "bits_per_dim": np.mean(-conditional) / (D * nats),
      "marginal_bits_per_dim": np.mean(
          -flow.marginal_log_prob(images)) / (D * nats),
      "bits_y": np.mean(-class_log_prob) / nats,
      "accuracy": np.mean(np.argmax(classes, -1) == labels)}


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_evaluate_reports_the_librarys_conditional_marginal_and_classifier(
    weight):
  model = _model(classification_weight=weight)
  model.compile()
  images, labels = _data()
  got = model.evaluate(images, labels, batch_size=8, verbose=0,
                       return_dict=True)
  want = _expected(model.flow, images, labels, weight)
  assert set(got) == set(want)
  for name, value in want.items():
    np.testing.assert_allclose(got[name], value, rtol=2e-5, err_msg=name)
  # predict and model(x): the marginal, labels ignored as Keras's targets.
  marginal = model.flow.marginal_log_prob(images)
  np.testing.assert_allclose(model.predict(images, verbose=0), marginal,
                             rtol=1e-5)
  np.testing.assert_allclose(model.predict((images, labels), verbose=0),
                             marginal, rtol=1e-5)
  np.testing.assert_allclose(model(images), marginal, rtol=1e-5)


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_a_training_step_descends_the_hybrid_objective(weight):
  """One SGD step of `fit` moves every weight by `-lr * grad` of
  `-log p(x | y) - weight * D * log p(y | x)` of the training-mode flow
  (Real NVP: batch statistics), averaged over the batch."""
  model = _model(classification_weight=weight)
  twin = _model(classification_weight=weight)
  for mine, theirs in zip(twin.weights, model.weights):
    mine.assign(theirs)
  images, labels = _data(16)
  rate = 1e-3
  variables = twin.flow_layers.trainable_variables
  with tf.GradientTape() as tape:
    flow = twin.flow.copy(training=True)
    objective = -flow.given(labels).log_prob(images)
    if weight:
      objective -= weight * D * tf.gather(flow.classify(images), labels,
                                          batch_dims=1)
    loss = tf.reduce_mean(objective)
  grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
  want = [v.numpy() - rate * g.numpy() for v, g in zip(variables, grads)]
  model.compile(optimizer=keras.optimizers.SGD(rate))
  history = model.fit(images, labels, batch_size=16, verbose=0, shuffle=False)
  assert ("bits_y" in history.history) == bool(weight)
  np.testing.assert_allclose(history.history["loss"][0], loss, rtol=1e-5)
  moved = 0
  for variable, value, grad in zip(model.flow_layers.trainable_variables,
                                   want, grads):
    np.testing.assert_allclose(variable.numpy(), value, rtol=1e-4,
                               atol=1e-6, err_msg=variable.path)
    moved += int(np.any(grad.numpy() != 0))
  assert moved == len(want)   # every weight, the per-class ones included


def test_label_dropout_trains_the_null_label():
  """With label dropout the null label's prior is trained too; without, it
  keeps its initial value."""
  images, labels = _data(32)
  moved = {}
  for dropout in (0.0, 0.5):
    config = tfnvp.RealNVPConfig(**dict(CONFIG.kwargs(),
                                        label_dropout=dropout))
    model = FlowModel(config.make_flow())
    table = [v for v in model.flow_layers.trainable_variables
             if "class" in v.path]
    assert table, [v.path for v in model.flow_layers.trainable_variables]
    before = [v.numpy()[K] for v in table]
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(images, labels, batch_size=32, verbose=0)   # one step
    moved[dropout] = any(not np.array_equal(v.numpy()[K], b)
                         for v, b in zip(table, before))
  assert moved == {0.0: False, 0.5: True}


@pytest.fixture(scope="module")
def trained():
  """A conditional model after one step (Keras traced with labels)."""
  model = _model(seed=3, classification_weight=0.1, ema_decay=0.9)
  model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.1))
  images, labels = _data(16, seed=3)
  model.fit(images, labels, batch_size=16, verbose=0)
  return model


def _state(model):
  return {v.path: np.asarray(v).tobytes()
          for v in model.weights + model.optimizer.variables}


def _unknown(images, labels):
  """One `(images, labels)` batch whose static shapes are unknown."""
  return tf.data.Dataset.from_generator(
      lambda: iter([(images, labels)]),
      output_signature=(tf.TensorSpec(None, tf.float32),
                        tf.TensorSpec(None, tf.as_dtype(labels.dtype)))
  ).apply(tf.data.experimental.assert_cardinality(1))


def test_bad_labels_change_nothing(trained):
  model = trained
  images, labels = _data(16, seed=4)
  missing = r"`y`: a class-conditional flow \(num_classes=3\) trains"
  cases = [
      (lambda: model.fit(images, verbose=0), ValueError, missing),
      (lambda: model.evaluate(images, verbose=0), ValueError, missing),
      (lambda: model.fit(tf.data.Dataset.from_tensor_slices(images).batch(8),
                         verbose=0), ValueError, missing),
      (lambda: model.fit(images, labels + 3, verbose=0), ValueError,
       r"`y` must be in \[0, 3\); got \[[345], "),
      (lambda: model.fit(images, -labels - 1, verbose=0), ValueError,
       r"`y` must be in \[0, 3\); got \[-"),
      (lambda: model.fit(images, labels.astype(np.float32), verbose=0),
       ValueError, r"`y` must have an integer dtype; got float32"),
      (lambda: model.fit(images, labels[:, None], verbose=0), ValueError,
       r"`y` must be a vector \[n\]; got shape \(16, 1\)"),
      (lambda: model.fit(images, labels[:5], verbose=0), ValueError,
       r"`y` must hold one label per image: got 5 labels for 16 images"),
      (lambda: model.fit(images, labels, validation_data=(images, labels + 3),
                         verbose=0), ValueError,
       r"`validation_data` must be in \[0, 3\)"),
      (lambda: model.train_on_batch(images, labels + 3), ValueError,
       r"`y` must be in \[0, 3\)"),
      # Known only when the step runs.
      (lambda: model.fit(_unknown(images, labels + 3), verbose=0),
       tf.errors.InvalidArgumentError, r"`y` must be ints \[n\] in \[0, 3\)"),
      (lambda: model.fit(_unknown(images, labels[:5]), verbose=0),
       tf.errors.InvalidArgumentError,
       r"`y` must hold one label per image of `x`"),
      (lambda: model.evaluate(_unknown(images, labels[:, None]), verbose=0),
       tf.errors.InvalidArgumentError, r"`y` must be ints \[n\]"),
  ]
  for call, error, match in cases:
    before = _state(model)
    with pytest.raises(error, match=match):
      call()
    assert _state(model) == before, match
  model.fit(_unknown(images, labels), verbose=0)
  assert _state(model) != before


def test_classification_weight_is_checked():
  unconditional = tfnvp.RealNVPConfig(image_shape=(8, 8, 1), num_scales=1,
                                      hidden_channels=4, num_res_blocks=1)
  with pytest.raises(ValueError, match=r"`classification_weight` needs a "
                     r"class-conditional flow .*classification_weight=0.1 "
                     r"with num_classes=None"):
    FlowModel(unconditional.make_flow(), classification_weight=0.1)
  with pytest.raises(ValueError, match=r"`classification_weight` must be"):
    FlowModel(CONFIG.make_flow(), classification_weight=-1.0)
  with pytest.raises(ValueError, match=r"`classification_weight` must be"):
    tfnvp.OptimizationConfig(classification_weight=float("nan"))
  assert tfnvp.OptimizationConfig(
      classification_weight=0.01).model_kwargs()["classification_weight"] == (
          0.01)


def test_keras_file_keeps_the_labels_and_the_weight(trained, tmp_path):
  path = str(tmp_path / "conditional.keras")
  trained.save(path)
  restored = keras.models.load_model(path)
  assert restored.classification_weight == 0.1
  assert restored.flow.num_classes == K
  images, labels = _data(8, seed=5)
  restored.compile()
  trained.compile()
  got = restored.evaluate(images, labels, verbose=0, return_dict=True)
  want = trained.evaluate(images, labels, verbose=0, return_dict=True)
  for name in want:
    np.testing.assert_allclose(got[name], want[name], rtol=1e-6)
