"""FlowModel: fit lowers bits/dim; N replicas compute what one device does."""

import collections
import re

import numpy as np
import pytest
import tensorflow as tf
import keras

from tests import kit
import tfnvp
from tfnvp import FlowModel
from tfnvp.model import regularized_variables

# One scale: 4 couplings (with two scales, 10 take 2.6 times as long to
# trace, and nothing here depends on the depth).
CONFIG = tfnvp.RealNVPConfig(image_shape=(8, 8, 1), num_scales=1,
                             hidden_channels=8, num_res_blocks=1)


def _images(n=32, seed=0):
  ramp = tf.reshape(tf.linspace(0.0, 200.0, 64), [1, 8, 8, 1])
  noise = 20.0 * tf.random.stateless_normal([n, 8, 8, 1], [seed, 1])
  return tf.clip_by_value(ramp + noise, 0.0, 255.0)


def _model(seed=0, **kwargs):
  kwargs.setdefault("clip_norm", None)
  model = FlowModel(CONFIG.make_flow(), **kwargs)
  kit.randomize_weights(model.flow_layers, seed, stddev=0.05)
  return model


def test_regularized_variables_are_weight_norm_and_tanh_scales():
  model = _model()
  names = [v.path.rsplit("/", 1)[-1] for v in
           regularized_variables(model.flow_layers)]
  assert set(names) == {"g", "log_scale_factor"}
  # per coupling: 1 tanh scale + 4 weight-normalized convolutions
  assert len(names) == 4 * (1 + 4)


def test_fit_lowers_bits_per_dim_and_evaluate_uses_moving_statistics():
  model = _model()
  model.compile(optimizer=keras.optimizers.Adam(3e-3))
  data = tf.data.Dataset.from_tensor_slices(_images(64)).batch(32)
  before = model.evaluate(data, verbose=0, return_dict=True)
  history = model.fit(data.repeat(), epochs=1, steps_per_epoch=20, verbose=0)
  after = model.evaluate(data, verbose=0, return_dict=True)
  assert "bits_per_dim" in history.history
  assert after["bits_per_dim"] < before["bits_per_dim"] - 0.1, (before, after)
  np.testing.assert_allclose(
      after["loss"], after["bits_per_dim"] * 64 * np.log(2.0), rtol=1e-5)
  log_prob = model.predict(data, verbose=0)
  np.testing.assert_allclose(
      -np.mean(log_prob) / (64 * np.log(2.0)), after["bits_per_dim"],
      rtol=1e-5)


def test_fit_trains_glow_and_initializes_its_actnorms_on_the_first_batch():
  config = tfnvp.GlowConfig(image_shape=(8, 8, 1), num_levels=2,
                            hidden_channels=8, depth=2)
  model = FlowModel(config.make_flow())
  assert not regularized_variables(model.flow_layers)   # Glow: no L2
  model.compile(optimizer=keras.optimizers.Adam(3e-3))
  data = tf.data.Dataset.from_tensor_slices(_images(64)).batch(32)
  before = model.evaluate(data, verbose=0, return_dict=True)
  flags = [v for v in model.weights if v.path.endswith("initialized")]
  assert len(flags) == 12 and not any(float(v) for v in flags)
  model.fit(data.repeat(), epochs=1, steps_per_epoch=20, verbose=0)
  assert all(float(v) == 1.0 for v in flags)
  after = model.evaluate(data, verbose=0, return_dict=True)
  assert after["bits_per_dim"] < before["bits_per_dim"] - 0.1, (before, after)


def test_two_replicas_take_the_same_step_as_one_device(mirrored_strategy):
  """Loss, then weights after one clipped SGD step, to 1e-5.

  Clipping by global norm is the part a Keras optimizer gets wrong under a
  strategy (it clips per replica); a norm of 1 makes it active here.

  SGD's update is linear in the gradients, so it shows they agree. (Adam's
  first step is `lr * g / (|g| + eps)`: for gradients near zero it turns
  float rounding differences into visible ones, which would test Adam.)
  """
  images = _images(16, seed=3)
  single = _model(seed=3, clip_norm=1.0)
  initial = [np.asarray(v) for v in single.weights]
  # The reference runs eagerly (faster); the replicas run a traced step, as
  # one device does in the other tests of `fit`.
  single.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
  one = single.fit(tf.data.Dataset.from_tensor_slices(images).batch(16),
                   verbose=0)
  with mirrored_strategy.scope():
    mirrored = FlowModel(CONFIG.make_flow(), clip_norm=1.0)
    mirrored.compile(optimizer=keras.optimizers.SGD(0.1))
  for variable, value in zip(mirrored.weights, initial):
    variable.assign(value)
  two = mirrored.fit(tf.data.Dataset.from_tensor_slices(images).batch(16),
                     verbose=0)
  np.testing.assert_allclose(two.history["loss"], one.history["loss"],
                             rtol=1e-5)
  moved = 0
  for got, want, start in zip(mirrored.weights, single.weights, initial):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    moved += not np.allclose(want, start)
  assert moved > len(initial) / 2, "the step must change most weights"


@pytest.mark.slow
def test_the_paper_sized_model_trains():
  """64 channels, 8 residual blocks, 2 scales on 28x28x1 (minutes: tracing)."""
  config = tfnvp.RealNVPConfig(image_shape=(28, 28, 1), num_scales=2,
                               hidden_channels=64, num_res_blocks=8)
  model = FlowModel(config.make_flow(), l2=5e-5, clip_norm=100.0)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  images = tf.random.stateless_uniform([32, 28, 28, 1], [5, 5], 0.0, 256.0)
  data = tf.data.Dataset.from_tensor_slices(images).batch(16).repeat()
  history = model.fit(data, epochs=2, steps_per_epoch=2, verbose=0)
  losses = history.history["bits_per_dim"]
  assert np.all(np.isfinite(losses)) and losses[1] < losses[0], losses


def test_fit_on_numpy_uint8_images_and_labelled_batches():
  """The README's use: the user's own 8-bit images, as numpy or (x, y)."""
  model = _model(seed=4)
  model.compile(optimizer=keras.optimizers.Adam(3e-3))
  pixels = np.asarray(_images(48), np.uint8)
  labels = np.arange(48) % 10
  before = model.evaluate(pixels, batch_size=16, verbose=0, return_dict=True)
  # Pixel centres in evaluation: the same as the float images k + 0.5.
  as_float = model.evaluate(pixels.astype(np.float32) + 0.5, batch_size=16,
                            verbose=0, return_dict=True)
  np.testing.assert_allclose(before["loss"], as_float["loss"], rtol=1e-6)
  model.fit(pixels, labels, batch_size=16, epochs=2, verbose=0)
  after = model.evaluate(
      tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(16),
      verbose=0, return_dict=True)
  assert after["bits_per_dim"] < before["bits_per_dim"] - 0.1, (before, after)
  log_prob = model.predict(pixels, batch_size=16, verbose=0)
  assert log_prob.shape == (48,)
  np.testing.assert_allclose(log_prob, model.flow.log_prob(
      pixels.astype(np.float32) + 0.5), rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(l2=-1.0), r"`l2` must be a finite number >= 0; got -1.0"),
    (dict(l2=float("nan")), r"`l2` .*got nan"),
    (dict(clip_norm=0.0), r"`clip_norm` must be a finite number > 0 or None"),
    (dict(clip_norm=float("inf")), r"`clip_norm` .*got inf"),
])
def test_bad_arguments_name_the_value(kwargs, message):
  with pytest.raises(ValueError, match=message):
    tfnvp.FlowModel(CONFIG.make_flow(), **kwargs)
  with pytest.raises(TypeError, match="must be a tfnvp.RealNVP or tfnvp.Glow"):
    tfnvp.FlowModel(CONFIG)


def test_integer_images_outside_8_bits_are_refused():
  model = _model()
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  images = np.asarray(_images(8), np.int32)
  images[0, 0, 0, 0] = 300
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"`x` holds int32 images outside \[0, 255\] "
                     r"\(min 0, max 300\): integer images must be 8-bit"):
    model.predict(images, verbose=0)


# Refused input. Each test refuses calls to a model that has trained once,
# snapshots every variable of the model and of its optimizer before each,
# finds them bit-identical after, and trains on. The model keeps a Polyak
# average and its optimizer decays the weights (AdamW): a decay reads no
# image, so only the ordering of the whole step after the batch's checks
# keeps it from running on a refused batch. Each test traces the training
# step once (the seeds set before every test make Keras trace again), so the
# cases of one kind share a test.


@pytest.fixture(scope="module")
def guarded():
  """The refusal tests' model; `guarded_model` has trained it."""
  model = _model(seed=5, ema_decay=0.9)
  model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.1))
  return model


@pytest.fixture
def guarded_model(guarded):
  """The shared model, after at least one step on 16 float images (taken in
  the test that comes first: a step traced before the test's seeds are set
  would be traced again)."""
  if not int(guarded.optimizer.iterations):
    guarded.fit(_unknown_shape(_images(16, seed=5)), verbose=0)
  return guarded


def _state(model):
  """Every variable of the model (flow, moving statistics, average) and of
  its optimizer (step counter, slots), as bytes."""
  variables = model.weights + model.optimizer.variables
  return {v.path: np.asarray(v).tobytes() for v in variables}


def _unknown_shape(images):
  """One batch whose static shape is unknown: Keras traces the step with
  unknown dimensions, as it does once an input's shape has changed."""
  images = np.asarray(images)
  return tf.data.Dataset.from_generator(
      lambda: iter([images]),
      output_signature=tf.TensorSpec(None, tf.as_dtype(images.dtype))).apply(
          tf.data.experimental.assert_cardinality(1))


def _assert_refused(model, call, error, match, valid=None):
  """`call()` raises `error` matching `match` and changes no variable; a
  `fit` on `valid` (default: float images) then trains. Returns the
  message."""
  before = _state(model)
  with pytest.raises(error, match=match) as raised:
    call()
  assert _state(model) == before
  valid = _images(16, seed=6).numpy() if valid is None else valid
  history = model.fit(_unknown_shape(valid), verbose=0)
  assert np.isfinite(history.history["loss"][0])
  assert _state(model) != before
  return str(raised.value)


def test_a_batch_of_another_shape_changes_nothing(guarded_model):
  model = guarded_model
  expected = r"`x` must be a batch of images of shape \[batch, 8, 8, 1\]; "
  for x, got in [
      (np.zeros((16, 8, 8), np.uint8),
       r"got shape \(16, 8, 8\)\. The channel axis is missing: add it"),
      (np.zeros((8, 8, 1), np.uint8), r"got shape \(8, 8, 1\)\. That is "
       r"one image, or a dataset of single images: add the batch axis"),
      (tf.data.Dataset.from_tensor_slices(
          np.zeros((16, 12, 12, 1), np.uint8)).batch(8),
       r"got shape \(None, 12, 12, 1\)\.$")]:
    _assert_refused(model, lambda x=x: model.fit(x, verbose=0), ValueError,
                    expected + got)
  _assert_refused(model, lambda: model.train_on_batch(
      np.zeros((4, 8, 8, 3), np.float32)), ValueError,
                  expected + r"got shape \(4, 8, 8, 3\)\.$")
  # Known only at run time: after Keras traced the step with unknown
  # dimensions (the shape checks of the flow see none).
  expected = (r"`x` must be a batch of at least one image of shape "
              r"\[batch, 8, 8, 1\]; got shape ")
  for shape in [(16, 12, 12, 1), (16, 8, 8), (2, 16, 8, 8, 1), (0, 8, 8, 1),
                (8, 8, 1)]:
    images = _unknown_shape(np.full(shape, 100.0, np.float32))
    _assert_refused(
        model, lambda x=images: model.fit(x, verbose=0),
        tf.errors.InvalidArgumentError,
        expected + re.escape(str(list(shape)).replace(",", "")) + r"\.")


def test_every_update_of_a_training_step_follows_the_batch_checks(
    guarded_model):
  """In the graph of a step traced with unknown dimensions, every variable
  update (weights, slots, step counter, moving statistics, average) depends
  on every check of the batch.

  The tests above see a refused step change nothing, but TF may run an
  update that does not depend on the checks before or after they fail;
  this is what makes the order certain.
  """
  step = tf.function(guarded_model.train_step,
                     input_signature=[tf.TensorSpec(None, tf.float32)])
  graph = step.get_concrete_function().graph
  operations = graph.get_operations()
  children = collections.defaultdict(list)
  for op in operations:
    for parent in [t.op for t in op.inputs] + list(op.control_inputs):
      children[parent].append(op)

  def downstream(op):
    seen, stack = set(), [op]
    while stack:
      for child in children[stack.pop()]:
        if child not in seen:
          seen.add(child)
          stack.append(child)
    return seen

  # The divergence check is another graph's (a branch of an `If`).
  checks = [op for op in operations if op.type == "Assert"]
  assert len(checks) == 3   # shape, finite, range of pixels
  updates = [op for op in operations if op.type in (
      "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "If")]
  # AdamW: 2 slots, the weight and its decay per variable; and more.
  assert len(updates) > 4 * len(guarded_model.trainable_variables)
  for check in checks:
    after = downstream(check)
    assert [op.name for op in updates if op not in after] == []


def _filtered_out(images):
  """A dataset of unknown size that turns out to be empty."""
  return tf.data.Dataset.from_tensor_slices(images).filter(
      lambda image: False).batch(16)


def test_empty_input_changes_nothing(guarded_model):
  model = guarded_model
  empty = np.zeros((0, 8, 8, 1), np.uint8)
  for call, match in [
      (lambda: model.fit(empty, verbose=0),
       r"^`x` holds no images: got shape \(0, 8, 8, 1\)\.$"),
      (lambda: model.fit(tf.data.Dataset.from_tensor_slices(empty).batch(4),
                         verbose=0),
       r"^`x` is an empty dataset: it yields no batches\.$"),
      (lambda: model.fit(_filtered_out(_images(4)), verbose=0),
       r"^`x` yielded no batches: nothing was trained"),
      (lambda: model.fit(_images(16), validation_data=(empty, None),
                         verbose=0),
       r"^`validation_data` holds no images"),
      (lambda: model.train_on_batch(empty), r"^`x` holds no images"),
      (lambda: model.evaluate(_filtered_out(_images(4)), verbose=0),
       r"^`x` yielded no batches: nothing was evaluated"),
      (lambda: model.predict(empty, verbose=0), r"^`x` holds no images")]:
    _assert_refused(model, call, ValueError, match)


def test_non_finite_images_change_nothing(guarded_model):
  for value in (np.nan, np.inf, -np.inf):
    images = _images(16).numpy()
    images[3, 2, 2, 0] = value
    _assert_refused(
        guarded_model,
        lambda x=images: guarded_model.fit(_unknown_shape(x), verbose=0),
        tf.errors.InvalidArgumentError,
        r"`x` holds NaN or inf in 1 of its 1024 values \(shape "
        r"\[16 8 8 1\]\): images must be finite\.")


def test_float_images_that_are_not_pixels_change_nothing(guarded_model):
  """Whatever `validate_args` says (off here), training refuses them."""
  assert not guarded_model.flow.validate_args
  pixels = _images(16).numpy()
  for images, match in [
      (pixels / 255.0, r"holds no value above 1: the images look scaled to "
       r"\[0, 1\], not 8-bit pixels \(min 0, max 0\.\d+\)\. "),
      (pixels / 127.5 - 1.0, r"holds negative values: the images look "
       r"standardized, not 8-bit pixels \(min -1, max 0\.\d+\)\. "),
      (pixels + 56.0, r"holds values of 256 or more, outside \[0, 256\), "
       r"the range of dequantized 8-bit pixels \(min 56, max 2\d\d\.\d+\)"),
      (np.full((16, 8, 8, 1), 256.0), r"holds values of 256 or more")]:
    x = _unknown_shape(images.astype(np.float32))
    message = _assert_refused(
        guarded_model, lambda x=x: guarded_model.fit(x, verbose=0),
        tf.errors.InvalidArgumentError, "`x` " + match)
    hint = message[message.index("Pass"):]
    assert hint.startswith(
        "Pass the 8-bit pixels as uint8, or floats in [0, 256) (the pixels "
        "plus dequantization noise in [0, 1)).")
    assert "255" not in hint and "cast" not in hint


def test_images_of_another_dtype_change_nothing(guarded_model):
  model = guarded_model
  pixels = np.asarray(_images(16), np.int32)    # converted exactly
  _assert_refused(
      model, lambda: model.fit(np.zeros((16, 8, 8, 1), bool), verbose=0),
      TypeError, r"^`x` must hold images as uint8 pixels, integers in "
      r"\[0, 255\] or floats; got dtype bool\.$", valid=pixels)
  for low, high in [(-1, 200), (0, 256)]:
    images = pixels.copy()
    images[0, 0, 0, 0], images[1, 0, 0, 0] = low, high
    _assert_refused(
        model, lambda x=images: model.fit(_unknown_shape(x), verbose=0),
        tf.errors.InvalidArgumentError,
        rf"`x` holds int32 images outside \[0, 255\] \(min {low}, max "
        rf"{max(high, pixels.max())}\): integer images must be 8-bit pixel "
        r"values\.", valid=pixels)


def test_evaluate_and_predict_refuse_what_training_would_not_see(
    guarded_model):
  """`evaluate` runs its step on unknown dimensions; `predict` takes each
  batch's shape (Keras hands it the batch, not the iterator), so its
  shape check is static."""
  model = guarded_model
  before = _state(model)
  bad = np.full((16, 12, 12, 1), 100.0, np.float32)
  nan = _images(16).numpy()
  nan[0, 0, 0, 0] = np.nan
  expected = r"`x` must be a batch of (at least one image|images) of shape "
  expected += r"\[batch, 8, 8, 1\]; got shape "
  for method, error, got in [
      (model.evaluate, tf.errors.InvalidArgumentError, r"\[16 12 12 1\]"),
      (model.predict, ValueError, r"\(16, 12, 12, 1\)")]:
    with pytest.raises(error, match=expected + got):
      method(_unknown_shape(bad), verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"`x` holds NaN or inf in 1 of its 1024"):
      method(_unknown_shape(nan), verbose=0)
  assert _state(model) == before   # the raw weights are back
  assert np.all(np.isfinite(model.predict(_unknown_shape(_images(16)),
                                          verbose=0)))


def test_a_refused_first_fit_leaves_glow_uninitialized_and_fit_works():
  """Refused while Keras traces the first step (a generator's batch of
  another size), then at run time (NaN): the actnorms stay uninitialized,
  the optimizer has taken no step, and the next fit trains."""
  model = FlowModel(tfnvp.Glow((8, 8, 1), num_levels=1, depth=1,
                               hidden_channels=4))
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  flags = [v for v in model.weights if v.path.endswith("initialized")]
  before = _state(model)
  with pytest.raises(ValueError, match=r"got shape \(None, 12, 12, 1\)"):
    model.fit(((b,) for b in [np.full((16, 12, 12, 1), 9.0, np.float32)]),
              verbose=0)
  nan = _images(16).numpy()
  nan[0, 0, 0, 0] = np.nan
  with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
    model.fit(nan, batch_size=16, verbose=0)
  assert _state(model) == before
  assert not any(float(v) for v in flags)
  model.fit(_images(16), batch_size=16, verbose=0)
  assert all(float(v) == 1.0 for v in flags)
  assert int(model.optimizer.iterations) == 1
