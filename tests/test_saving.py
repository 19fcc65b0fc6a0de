"""Keras-native saving: every tfnvp layer and FlowModel round-trip."""

import inspect
import pathlib

import keras

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tests import kit
from tfnvp import averaging
from tfnvp import flows
from tfnvp import networks

# Constructor arguments of every tfnvp Keras layer; not the defaults, so a
# get_config that drops one is caught.
LAYERS = {
    networks.ActNormParameters: dict(channels=3, epsilon=1e-5),
    networks.InvertibleConv1x1Parameters: dict(channels=4, lu_decomposed=False,
                                               seed=7),
    networks.ClassGaussianParameters: dict(num_labels=3, channels=2),
    networks.GlowCouplingNetwork: dict(channels=4, hidden_channels=6,
                                       coupling="additive", num_labels=3),
    networks.GlowSplitPrior: dict(channels=4),
    networks.ZeroConv2D: dict(filters=5, kernel_size=1),
    networks.LabelEmbedding: dict(num_labels=4, channels=3),
    networks.MovingMoments: dict(channels=3, momentum=0.9, epsilon=1e-3),
    networks.ResNetShiftAndLogScale: dict(channels=2, hidden_channels=6,
                                          num_res_blocks=2,
                                          batch_norm_momentum=0.9,
                                          num_labels=5),
    networks.ResidualBlock: dict(channels=4, batch_norm_momentum=0.8),
    networks.WeightNormConv2D: dict(filters=3, kernel_size=1, zero_init=True),
    flows.RealNVPLayers: dict(image_shape=(4, 4, 1), num_scales=1,
                              hidden_channels=3, num_res_blocks=1,
                              batch_norm_momentum=0.9,
                              batch_norm_epsilon=1e-3, num_classes=3,
                              condition_couplings=True),
    flows.GlowLayers: dict(image_shape=(4, 4, 1), num_levels=1, depth=2,
                           hidden_channels=3, coupling="additive",
                           lu_decomposed=False, learn_prior=False, seed=3,
                           num_classes=2, condition_couplings=True),
    averaging.PolyakAverage: dict(decay=0.99, shapes=[[3, 2], [], [4]]),
}


def test_every_tfnvp_layer_is_covered():
  found = {obj for module in (networks, flows, averaging)
           for _, obj in inspect.getmembers(module, inspect.isclass)
           if issubclass(obj, keras.layers.Layer)}
  assert found == set(LAYERS)


@pytest.mark.parametrize("cls", sorted(LAYERS, key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
def test_layer_config_round_trips_and_is_registered(cls):
  layer = cls(**LAYERS[cls])
  config = layer.get_config()
  for name, value in LAYERS[cls].items():
    assert config[name] == value, name
  again = cls.from_config(config)
  assert again.get_config() == config
  serialized = keras.saving.serialize_keras_object(layer)
  assert serialized["registered_name"] == f"tfnvp>{cls.__name__}"
  restored = keras.saving.deserialize_keras_object(serialized)
  assert type(restored) is cls and restored.get_config() == config


def _images(n, shape, seed):
  return tf.random.stateless_uniform([n, *shape], [seed, 3], 0.0, 256.0)


@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_model_save_and_load_model_give_the_same_flow(name, tmp_path):
  if name == "glow":
    config = tfnvp.GlowConfig(image_shape=(8, 8, 1), num_levels=2,
                              hidden_channels=6, depth=2)
  else:
    # One scale (not the default two, so a config that dropped it shows): it
    # traces its training steps in less than half the time of two scales'.
    config = tfnvp.RealNVPConfig(image_shape=(8, 8, 1), num_scales=1,
                                 hidden_channels=6, num_res_blocks=1)
  model = tfnvp.FlowModel(config.make_flow(), l2=1e-4, clip_norm=50.0)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  # One step of training: Glow's actnorms initialize, Real NVP's moving
  # statistics move; then random weights so nothing is at its initial value.
  model.fit(_images(8, (8, 8, 1), 0), batch_size=8, epochs=1, verbose=0)
  kit.randomize_weights(model.flow_layers, 1, stddev=0.05)
  if name == "glow":
    flags = [v for v in model.weights if v.path.endswith("initialized")]
    assert flags and all(float(v) == 1.0 for v in flags)
  path = str(tmp_path / "run.keras")
  model.save(path)
  restored = keras.models.load_model(path)
  assert type(restored) is tfnvp.FlowModel
  assert restored.flow_config == model.flow_config == (
      tfnvp.FlowConfig.from_flow(config.make_flow()))
  assert (restored.l2, restored.clip_norm) == (1e-4, 50.0)
  x = _images(4, (8, 8, 1), 5)
  fresh = tfnvp.FlowModel(config.make_flow())
  assert np.abs(fresh.flow.log_prob(x) - model.flow.log_prob(x)).max() > 1.0
  np.testing.assert_allclose(restored.flow.log_prob(x),
                             model.flow.log_prob(x), rtol=1e-6)
  assert len(restored.weights) == len(model.weights)
  for a, b in zip(model.weights, restored.weights):
    np.testing.assert_array_equal(a, b, err_msg=a.path)
  # The restored model keeps training from where it was.
  restored.fit(_images(8, (8, 8, 1), 2), batch_size=8, verbose=0)


@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_a_0_3_keras_file_loads_with_the_same_density(name):
  fixtures = pathlib.Path(__file__).parent / "fixtures" / "v0_3"
  restored = keras.models.load_model(str(fixtures / f"{name}.keras"))
  assert type(restored) is tfnvp.FlowModel and restored.ema_decay == 0.9
  expected = {"realnvp": tfnvp.RealNVPConfig, "glow": tfnvp.GlowConfig}[name]
  assert type(restored.flow_config) is expected
  np.testing.assert_allclose(
      restored.predict(np.load(fixtures / f"{name}_x.npy"), verbose=0),
      np.load(fixtures / f"{name}_logp.npy"), rtol=1e-5)
  # Saved again, it is written in today's layout and loads the same.
  assert "flow_config" in restored.get_config()
