"""Class-conditional Real NVP and Glow: the numerical kit per label, given()
as a TFP distribution, Bayes' rule, guidance, label dropout, bad labels."""

import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2
from tensorflow_probability import distributions as tfd

import tfnvp
from tests import kit
from tfnvp.flows.conditional import Conditioning

V03 = pathlib.Path(__file__).parents[1] / "fixtures" / "v0_3"
K = 3     # classes of the conditional test flows


def _logsumexp(a, axis=-1, keepdims=False):
  return np.asarray(tf.reduce_logsumexp(a, axis=axis, keepdims=keepdims))


def _make(family, dtype=tf.float64, **kwargs):
  """A small flow of `family` with two scales (priors at a factor-out and
  at the top)."""
  if family == "realnvp":
    return tfnvp.RealNVP((4, 4, 1), num_scales=2, hidden_channels=4,
                         num_res_blocks=0, dtype=dtype, **kwargs)
  return tfnvp.Glow((4, 4, 1), num_levels=2, depth=1, hidden_channels=4,
                    seed=0, dtype=dtype, **kwargs)


def _randomized(family, condition_couplings, dtype=tf.float64):
  keras.utils.set_random_seed(0)
  flow = _make(family, dtype=dtype, num_classes=K,
               condition_couplings=condition_couplings, label_dropout=0.25)
  kit.randomize_weights(flow.layers, 1, stddev=0.05)
  # The null label's Gaussians a little wider than the classes': every
  # guidance weight then gives a proper Gaussian product.
  for k in range(2):
    table = flow.layers.class_prior(k).log_scale
    table.assign(tf.tensor_scatter_nd_update(
        table, [[K]], tf.fill([1, table.shape[1]],
                              tf.constant(0.3, table.dtype))))
  return flow


def _flows(*kinds):
  """Parametrizes `flow` by `(family, condition_couplings)` kinds."""
  return pytest.mark.parametrize(
      "flow", kinds, indirect=True,
      ids=[f"{f}-{'couplings' if c else 'priors'}" for f, c in kinds])


# Each family with each conditioning once, over two tests.
SOME_KINDS = _flows(("realnvp", False), ("glow", True))
OTHER_KINDS = _flows(("realnvp", True), ("glow", False))
PRIORS_ONLY = _flows(("realnvp", False), ("glow", False))
COUPLINGS = _flows(("realnvp", True), ("glow", True))


@pytest.fixture(scope="module")
def flow(request):
  """A randomized float64 conditional flow, built once per kind; no test
  changes it."""
  return _randomized(*request.param)


def _pixels(shape, seed=0, dtype=tf.float64):
  return tf.random.stateless_uniform(shape, [seed, 5], 0.0, 256.0,
                                     dtype=dtype)


def _preprocessed(flow, x):
  if isinstance(flow, tfnvp.Glow):
    return x / 256.0 - 0.5
  return tfnvp.bijectors.LogitTransform(flow.logit_alpha).forward(x)


# --- num_classes=None is today's flow ---------------------------------------


@pytest.mark.parametrize("family", ["realnvp", "glow"])
def test_num_classes_none_builds_the_unconditional_flow(family):
  keras.utils.set_random_seed(3)
  today = _make(family, dtype=tf.float32)
  keras.utils.set_random_seed(3)
  explicit = _make(family, dtype=tf.float32, num_classes=None,
                   condition_couplings=False, label_dropout=0.0)
  # (Paths differ only by Keras's per-session layer counters.)
  assert [(v.name, v.shape) for v in explicit.variables] == [
      (v.name, v.shape) for v in today.variables]
  for a, b in zip(today.variables, explicit.variables):
    np.testing.assert_array_equal(a, b, err_msg=a.path)
  assert not any("class_prior" in v.path or "label" in v.path
                 for v in explicit.variables)
  kit.randomize_weights(today.layers, 0, stddev=0.1)
  for a, b in zip(today.variables, explicit.variables):
    b.assign(a)
  x = _pixels([3, 4, 4, 1], dtype=tf.float32)
  np.testing.assert_array_equal(explicit.log_prob(x), today.log_prob(x))
  np.testing.assert_array_equal(explicit.sample(2, seed=[1, 2]),
                                today.sample(2, seed=[1, 2]))
  assert explicit.num_classes is None and explicit.null_label is None


def test_a_0_3_checkpoint_has_exactly_the_unconditional_variables():
  """tfnvp 0.3's run (tests/test_runs.py checks its density) restores into
  today's flow with no variable left over on either side."""
  config = tfnvp.FlowConfig.from_dict(
      tfnvp.runs.read_config(str(V03 / "realnvp_run"))["model"])
  assert (config.num_classes, config.condition_couplings,
          config.label_dropout) == (None, False, 0.0)
  flow = config.make_flow()
  path = str(V03 / "realnvp_run" / "checkpoints" / "ckpt-3")
  status = tf.train.Checkpoint(flow=flow.layers).read(path)
  status.assert_existing_objects_matched().expect_partial()  # optimizer
  assert _variables_under(path, "flow") == len(flow.variables)


def _variables_under(path, name):
  """How many variables a checkpoint holds under its root's child `name`
  (its object graph: each variable is written once, wherever else it is
  referenced)."""
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(tf.train.load_checkpoint(path).get_tensor(
      "_CHECKPOINTABLE_OBJECT_GRAPH"))
  stack = [c.node_id for c in graph.nodes[0].children if c.local_name == name]
  seen = set()
  while stack:
    node = stack.pop()
    if node not in seen:
      seen.add(node)
      stack.extend(c.node_id for c in graph.nodes[node].children)
  return sum(any(a.name == "VARIABLE_VALUE" for a in graph.nodes[n].attributes)
             for n in seen)


# --- the numerical kit, per label --------------------------------------------


@PRIORS_ONLY
def test_round_trips_and_log_dets_on_a_mix_of_labels(flow):
  x = _pixels([3, 4, 4, 1])
  given = flow.given([0, 2, 1])
  kit.assert_round_trips(given.flow, x, tf.random.stateless_normal(
      x.shape, [2, 2], dtype=x.dtype))
  kit.assert_ildj_is_minus_fldj(given.flow, x)
  z = given.flow.forward(x)
  np.testing.assert_allclose(
      given.log_prob(tf.identity(x)),
      given.distribution.log_prob(z) + given.flow.forward_log_det_jacobian(
          tf.identity(x), event_ndims=3), rtol=1e-10)
  _assert_two_labels_differ(flow, x)


def _assert_two_labels_differ(flow, x):
  """Two labels, two maps (of every image) and two densities."""
  zero, one = flow.given([0] * len(x)), flow.given([1] * len(x))
  moved = np.abs(zero.flow.forward(x) - one.flow.forward(x))
  assert moved.reshape([len(x), -1]).max(axis=1).min() > 1e-2
  assert np.abs(zero.log_prob(x) - one.log_prob(x)).max() > 1e-2


@COUPLINGS
def test_the_numerical_kit_where_every_part_sees_the_label(flow):
  """The whole kit (log-dets against autodiff, a `None` batch traced) on
  flows whose couplings and priors all depend on the label."""
  x = _pixels([3, 4, 4, 1])
  given = flow.given([0, 2, 1])
  kit.check_flow(given, x, _preprocessed(flow, x))
  kit.assert_ildj_is_minus_fldj(given.flow, x)
  kit.assert_none_batch_dim_under_function(given.flow, x)
  _assert_two_labels_differ(flow, x)


@SOME_KINDS
def test_given_is_a_batch_of_one_distribution_per_label(flow):
  labels = [0, 2, 1, 0]
  given = flow.given(labels)
  assert given.batch_shape == [4] and given.event_shape == [4, 4, 1]
  assert given.bijector.experimental_batch_shape() == [4]   # its priors'
  assert given.labels.dtype == tf.int32
  x = _pixels([4, 4, 4, 1])
  # The label of each batch member, as if evaluated alone.
  alone = [float(flow.given([y]).log_prob(x[i:i + 1])[0])
           for i, y in enumerate(labels)]
  np.testing.assert_allclose(given.log_prob(x), alone, rtol=1e-10)
  # Every class for every image in one call, the same numbers.
  table = flow.conditional_log_probs(x)
  assert table.shape == [4, K]
  np.testing.assert_allclose(
      np.take_along_axis(np.asarray(table), np.array(labels)[:, None], 1)[
          :, 0], alone, rtol=1e-10)
  # Images [m, n, H, W, C] broadcast against labels [n].
  wide = given.log_prob(tf.stack([x, x[::-1]]))
  assert wide.shape == [2, 4]
  np.testing.assert_allclose(wide[0], alone, rtol=1e-10)
  np.testing.assert_allclose(
      tfnvp.bits_per_dim(given, x),
      -np.asarray(alone) / (16 * np.log(2.0)), rtol=1e-10)


@SOME_KINDS
def test_sampling_gives_one_image_per_label_in_one_call(flow):
  labels = [1, 0, 2, 1]
  given = flow.given(labels)
  x = given.sample(seed=[4, 2])
  assert x.shape == [4, 4, 4, 1]
  assert given.sample(3, seed=[4, 2]).shape == [3, 4, 4, 4, 1]
  # Image i is label i's map of the i-th base draw.
  z = tfd.BatchBroadcast(given.distribution, [4]).sample(seed=[4, 2])
  for i, y in enumerate(labels):
    np.testing.assert_allclose(flow.given([y]).flow.forward(x[i:i + 1])[0],
                               z[i], rtol=1e-8, atol=1e-8)
  # At temperature 1, the same draws as `sample`; colder, other ones.
  np.testing.assert_array_equal(
      tfnvp.sample_at_temperature(given, 3, 1.0, seed=[4, 2]),
      given.sample(3, seed=[4, 2]))
  cold = tfnvp.sample_at_temperature(given, (), 0.5, seed=[4, 2])
  assert cold.shape == [4, 4, 4, 1]
  assert np.abs(cold - x).max() > 1e-3


@OTHER_KINDS
def test_classify_is_bayes_rule_and_log_prob_the_marginal(flow):
  x = _pixels([5, 4, 4, 1], seed=1)
  by_hand = np.stack([flow.given([y] * 5).log_prob(x) for y in range(K)],
                     axis=-1)                         # log p(x | y), [5, K]
  posterior = by_hand - np.log(K) - _logsumexp(
      by_hand - np.log(K), axis=-1, keepdims=True)
  classified = flow.classify(x)
  np.testing.assert_allclose(classified, posterior, rtol=1e-9, atol=1e-9)
  np.testing.assert_allclose(np.exp(classified).sum(-1), 1.0, rtol=1e-12)
  marginal = _logsumexp(by_hand, axis=-1) - np.log(K)
  np.testing.assert_allclose(flow.marginal_log_prob(x), marginal, rtol=1e-10)
  np.testing.assert_allclose(flow.log_prob(x), marginal, rtol=1e-10)
  assert flow.batch_shape == [] and flow.log_prob(x[0]).shape == []
  assert flow.sample([2, 3], seed=[1, 2]).shape == [2, 3, 4, 4, 1]


# --- guidance -----------------------------------------------------------------


@OTHER_KINDS
def test_guidance_zero_is_exactly_conditional_sampling(flow):
  labels = [2, 0, K]         # the null label too: the flow has label dropout
  plain = flow.given(labels)
  x = _pixels([3, 4, 4, 1], seed=2)
  for zero in (0.0, tf.constant(0.0, tf.float64)):   # skipped; computed
    guided = flow.given(labels, guidance=zero)
    np.testing.assert_array_equal(guided.sample(2, seed=[7, 7]),
                                  plain.sample(2, seed=[7, 7]))
    np.testing.assert_array_equal(guided.log_prob(x), plain.log_prob(x))


@SOME_KINDS
def test_guidance_changes_the_samples_but_not_those_of_the_null_label(flow):
  labels = [2, K]
  plain = flow.given(labels).sample(seed=[7, 7])
  guided = flow.given(labels, guidance=2.0).sample(seed=[7, 7])
  assert np.abs(guided[0] - plain[0]).max() > 1e-3
  # p(x | null)^(1 + w) / p(x | null)^w = p(x | null).
  np.testing.assert_allclose(guided[1], plain[1], rtol=1e-9, atol=1e-9)


@PRIORS_ONLY
def test_prior_guidance_is_exactly_the_normalized_density_ratio(flow):
  """With unconditional couplings, the guided flow's density is
  p(x | y)^(1 + w) / p(x | null)^w times a constant, its normalizer."""
  w = 1.5
  x = _pixels([6, 4, 4, 1], seed=3)
  labels = [1] * 6
  guided = flow.given(labels, guidance=w).log_prob(x)
  ratio = ((1 + w) * flow.given(labels).log_prob(x) -
           w * flow.given([K] * 6).log_prob(x))
  log_normalizer = np.asarray(ratio - guided)
  np.testing.assert_allclose(log_normalizer, log_normalizer[0], rtol=1e-9)
  assert abs(log_normalizer[0]) > 1e-3   # a real normalization


@_flows(("glow", True))
def test_coupling_guidance_is_the_linear_rule_in_each_network(flow):
  w = 0.5
  net = flow.layers.step_layers(0)[2]
  h = tf.random.stateless_normal([2, 2, 2, 2], [1, 1], dtype=tf.float64)
  guided = Conditioning(
      False, tf.constant([1, 2]), w, null_label=K).network(net)(h)
  conditional = net(h, labels=tf.constant([1, 2]))
  null = net(h, labels=tf.constant(K))
  for got, c, u in zip(guided, conditional, null):
    np.testing.assert_allclose(got, c + w * (c - u), rtol=1e-12)
    assert np.abs(c - u).max() > 1e-5     # the label matters


def test_an_improper_guided_prior_is_refused_with_the_largest_weight():
  flow = _randomized("realnvp", condition_couplings=False)
  table = flow.layers.class_prior(1).log_scale
  # Class 0's first channel: log s = 1.0 against the null label's 0.3, so
  # the precision 1 + w (1 - e^1.4) stays positive for w < 1 / (e^1.4 - 1).
  table.assign(tf.tensor_scatter_nd_update(
      table, [[0, 0]], tf.constant([1.0], table.dtype)))
  largest = 1.0 / (np.exp(1.4) - 1.0)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"`guidance` makes p_c\^\(1\+w\) / p_u\^w "
                     rf"improper.*got guidance=0.34; it must be below "
                     rf"{str(largest)[:7]}"):
    flow.given([0], guidance=0.34).sample(seed=[1, 2])
  flow.given([0], guidance=0.32).sample(seed=[1, 2])
  flow.given([1], guidance=10.0).sample(seed=[1, 2])   # another class


# --- training: label dropout and gradients -----------------------------------


@_flows(("glow", False))
def test_label_dropout_applies_in_training_only(flow):
  labels = tf.zeros([2000], tf.int32)
  tf.random.set_seed(1)
  dropped = flow.copy(training=True).given(labels).labels.numpy()
  assert set(np.unique(dropped)) == {0, K}
  assert 0.2 < np.mean(dropped == K) < 0.3        # label_dropout=0.25
  np.testing.assert_array_equal(flow.given(labels).labels, labels)


@_flows(("realnvp", True))
def test_every_weight_gets_a_gradient_from_labelled_batches(flow):
  train = flow.copy(training=True)
  x = _pixels([8, 4, 4, 1], seed=4)
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(
        train.given([0, 1, 2, K, 0, 1, 2, K]).log_prob(x))
  grads = tape.gradient(loss, flow.trainable_variables)
  missing = [v.path for v, g in zip(flow.trainable_variables, grads)
             if g is None]
  assert not missing
  # Each label's row of a prior table gets its own gradient.
  table = flow.layers.class_prior(1).loc
  row_grads = tf.convert_to_tensor(
      grads[[v.path for v in flow.trainable_variables].index(table.path)])
  assert np.all(np.abs(row_grads).sum(axis=1) > 0)


@_flows(("glow", True))
def test_a_conditioned_flow_passes_through_tf_function(flow):
  @tf.function
  def log_prob(distribution, x):
    return distribution.log_prob(x)

  x = _pixels([2, 4, 4, 1], seed=5)
  np.testing.assert_allclose(log_prob(flow.given([1, 2]), x),
                             flow.given([1, 2]).log_prob(x), rtol=1e-10)
  np.testing.assert_allclose(log_prob(flow.given([0, 0]), x),
                             flow.given([0, 0]).log_prob(x), rtol=1e-10)
  assert log_prob.experimental_get_tracing_count() == 1  # labels: a tensor


# --- bad labels, guidance and calls -------------------------------------------


@pytest.fixture(scope="module")
def strict():
  """A conditional flow without label dropout (no null label for users)."""
  return _make("realnvp", dtype=tf.float32, num_classes=K)


@pytest.mark.parametrize("labels, message", [
    ([0, 3], r"`labels` must be in \[0, 3\); got \[3\] in \[0, 3\]"),
    ([-1, 1], r"`labels` must be in \[0, 3\); got \[-1\]"),
    ([0.0, 1.0], r"`labels` must have an integer dtype; got float32: "
     r"\[0.0, 1.0\]"),
    (np.array([1.5]), r"`labels` must have an integer dtype; got float64"),
    ([True, False], r"`labels` must have an integer dtype; got bool"),
    ([[0, 1]], r"`labels` must be a vector \[n\]; got shape \(1, 2\): "
     r"\[\[0, 1\]\]"),
    (2, r"`labels` must be a vector \[n\]; got shape \(\): 2"),
    (None, r"`labels` must be given: ints \[n\] in \[0, 3\); got None"),
    ("cat", r"`labels` must have an integer dtype; got string"),
])
def test_bad_labels_are_refused_by_name(strict, labels, message):
  with pytest.raises(ValueError, match=message):
    strict.given(labels)


def test_the_null_label_is_taken_only_from_a_flow_with_label_dropout(strict):
  with pytest.raises(ValueError, match=r"`labels` must be in \[0, 3\); got "
                     r"\[3\]"):
    strict.given([3])
  assert strict.null_label == K
  assert strict.copy(label_dropout=0.1).given([3]).batch_shape == [1]


def test_symbolic_labels_are_checked_when_computed(strict):
  @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
  def log_prob(labels):
    return strict.given(labels).log_prob(tf.zeros([1, 4, 4, 1]) + 100.0)

  assert log_prob(tf.constant([2])).shape == [1]
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"`labels` must be ints \[n\] in \[0, 3\)"):
    log_prob(tf.constant([3]))


def test_unconditional_flows_refuse_labels_and_classification():
  flow = _make("glow", dtype=tf.float32)
  with pytest.raises(ValueError, match=r"`labels`: Glow is unconditional "
                     r"\(num_classes=None\); got labels=\[1, 2\]"):
    flow.given([1, 2])
  for method in ("classify", "marginal_log_prob", "conditional_log_probs"):
    with pytest.raises(ValueError, match=f"`{method}` needs a "
                       "class-conditional flow"):
      getattr(flow, method)(tf.zeros([1, 4, 4, 1]))


@pytest.mark.parametrize("guidance, message", [
    (-1.0, r"`guidance` must be a finite number >= 0; got -1.0"),
    (float("nan"), r"`guidance` must be a finite number >= 0; got nan"),
    (True, r"`guidance` must be a finite number >= 0; got True"),
    ("2", r"`guidance` must be a finite number >= 0; got '2'"),
    (tf.constant([1.0, 2.0]), r"`guidance` must be a scalar float"),
    (2.0, r"`guidance`=2.0 needs the null label of a flow trained with "
     r"label dropout; RealNVP has label_dropout=0"),
])
def test_bad_guidance_is_refused_by_name(strict, guidance, message):
  with pytest.raises(ValueError, match=message):
    strict.given([0], guidance=guidance)


def test_guidance_is_refused_in_training_and_checked_as_a_tensor():
  flow = _make("realnvp", dtype=tf.float32, num_classes=K,
               label_dropout=0.1)
  with pytest.raises(ValueError, match=r"`guidance`=1.0 applies to the "
                     "inference-mode flow"):
    flow.copy(training=True).given([0], guidance=1.0)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="`guidance` must be >= 0"):
    flow.given([0], guidance=tf.constant(-1.0)).sample(seed=[1, 2])
  without_dropout = flow.copy(label_dropout=0.0)
  without_dropout.given([0], guidance=tf.constant(0.0)).sample(seed=[1, 2])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="`guidance` needs the null label of a flow trained "
                     "with label dropout"):
    without_dropout.given([0], guidance=tf.constant(1.0)).sample(seed=[1, 2])


def test_other_misuses_name_the_argument(strict):
  with pytest.raises(ValueError, match=r"class-conditional flow \(num_classes"
                     r"=3\): sample at a temperature from "
                     r"`distribution.given\(labels\)`"):
    tfnvp.sample_at_temperature(strict, 2, 0.7, seed=[1, 2])
  with pytest.raises(ValueError, match=r"the batch shape of `value` \(2,\) "
                     r"does not broadcast with `labels` of shape \(3,\)"):
    strict.given([0, 1, 2]).log_prob(tf.zeros([2, 4, 4, 1]))
  with pytest.raises(ValueError, match="`images` must have dtype float32"):
    strict.classify(tf.zeros([2, 4, 4, 1], tf.float64))
  assert strict.given([]).sample(2, seed=[1, 2]).shape == [2, 0, 4, 4, 1]
  with pytest.raises(ValueError, match=r"maps images to latents once "
                     r"`labels` are given: use `flow.given\(labels\).flow`"):
    strict.flow.forward(tf.zeros([3, 4, 4, 1]))
  assert strict.bijector.experimental_batch_shape() == [K]
