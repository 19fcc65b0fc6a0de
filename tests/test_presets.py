"""tfnvp.presets: the papers' configurations build, are read-only, and say
where their numbers come from."""

import ast
import copy
import dataclasses
import inspect
import json
import math
import pathlib
import pickle
import re
import types

import numpy as np
import pytest
import tensorflow as tf

import tfnvp
from tfnvp import presets
from tfnvp.flows import coupling_plan

# The image shapes of tfnvp/data/specs.py's DATASETS, hard-coded: the library
# must not depend on training/.
_DATASET_SHAPES = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
    "celeb_a": (64, 64, 3),
    "downsampled_imagenet/32x32": (32, 32, 3),
    "downsampled_imagenet/64x64": (64, 64, 3),
    "lsun/bedroom": (64, 64, 3),
    "lsun/church_outdoor": (64, 64, 3),
    "lsun/tower": (64, 64, 3),
}

_EXPECTED = {
    # name: (dataset, model family, num_scales)
    "realnvp-cifar10": ("cifar10", "realnvp", 2),
    "realnvp-imagenet32": ("downsampled_imagenet/32x32", "realnvp", 4),
    "realnvp-imagenet64": ("downsampled_imagenet/64x64", "realnvp", 5),
    "realnvp-celeba": ("celeb_a", "realnvp", 5),
    "realnvp-lsun-bedroom": ("lsun/bedroom", "realnvp", 5),
    "realnvp-lsun-church_outdoor": ("lsun/church_outdoor", "realnvp", 5),
    "realnvp-lsun-tower": ("lsun/tower", "realnvp", 5),
    "glow-cifar10": ("cifar10", "glow", 3),
    "glow-imagenet32": ("downsampled_imagenet/32x32", "glow", 3),
}


def _small(preset):
  """Overrides that make a preset's flow fast, keeping its depth."""
  if preset.model["name"] == "realnvp":
    return dict(hidden_channels=4, num_res_blocks=1)
  return dict(hidden_channels=4, depth=1)


def test_names_datasets_and_shapes():
  assert set(presets.PRESETS) == set(_EXPECTED)
  for name, preset in presets.PRESETS.items():
    dataset, family, num_scales = _EXPECTED[name]
    assert preset.name == name
    assert preset.dataset == dataset
    assert preset.image_shape == _DATASET_SHAPES[dataset]
    assert preset.model["name"] == family
    assert preset.model["num_scales"] == num_scales
    assert presets.get_preset(name) is preset


def _recorder(cls, calls):
  """Stands in for `cls`: records the call instead of building a flow."""
  def fake(image_shape, **kwargs):
    calls.append((image_shape, kwargs))
    return "flow"
  fake.__signature__ = inspect.signature(cls)
  return fake


def _calls(preset, monkeypatch, **overrides):
  """The `(image_shape, kwargs)` that `preset.make_flow` passes its class."""
  calls = []
  with monkeypatch.context() as patch:
    for family, cls in (("realnvp", tfnvp.RealNVP), ("glow", tfnvp.Glow)):
      patch.setitem(presets._FLOWS, family, _recorder(cls, calls))
    preset.make_flow(**overrides)
  (call,) = calls
  return call


# Small flows by their constructor arguments: presets whose small flows are
# the same (the five 64x64 Real NVP presets; both Glow presets at depth 1)
# build and evaluate one. A 5-scale Real NVP's `log_prob` takes ~15 s here,
# nearly all of it in TFP's bijector-cache hashing.
_SMALL_FLOWS = {}


def _small_flow(preset, monkeypatch):
  image_shape, kwargs = _calls(preset, monkeypatch, **_small(preset))
  key = (preset.model["name"], image_shape, tuple(sorted(kwargs.items())))
  if key not in _SMALL_FLOWS:
    flow = preset.make_flow(**_small(preset))
    images = tf.random.stateless_uniform((2,) + image_shape, [3, 1], 0.0,
                                         256.0)
    _SMALL_FLOWS[key] = (flow, flow.log_prob(images),
                         flow.sample(2, seed=[1, 2]))
  return _SMALL_FLOWS[key]


@pytest.mark.parametrize("name", sorted(_EXPECTED))
def test_small_flow_builds_at_the_presets_depth(name, monkeypatch):
  preset = presets.get_preset(name)
  flow, log_prob, samples = _small_flow(preset, monkeypatch)
  num_scales = preset.model["num_scales"]
  if preset.model["name"] == "realnvp":
    assert isinstance(flow, tfnvp.RealNVP)
    assert flow.layers.num_scales == num_scales
    assert flow.layers.num_res_blocks == 1
    assert flow.layers.num_couplings == sum(
        len(s) for s in coupling_plan(preset.image_shape, num_scales))
    assert flow.logit_alpha == preset.model["logit_alpha"]
    assert flow.layers.batch_norm_momentum == (
        preset.model["batch_norm_momentum"])
  else:
    assert isinstance(flow, tfnvp.Glow)
    assert flow.layers.num_levels == num_scales
    assert flow.layers.num_steps == num_scales   # depth 1 per level
    for key in ("coupling", "lu_decomposed", "learn_prior"):
      assert getattr(flow.layers, key) == preset.model[key]
  assert flow.layers.hidden_channels == 4
  assert flow.layers.image_shape == preset.image_shape
  assert flow.event_shape == preset.image_shape
  assert log_prob.shape == (2,)
  assert np.all(np.isfinite(log_prob))
  assert samples.shape == (2,) + preset.image_shape
  assert np.all(np.isfinite(samples))


@pytest.mark.parametrize("name", sorted(_EXPECTED))
def test_make_flow_passes_the_whole_preset(name, monkeypatch):
  # The full-size flows are too big to build here: check their arguments.
  preset = presets.get_preset(name)
  expected = {k: v for k, v in preset.model.items() if k != "name"}
  if preset.model["name"] == "glow":
    expected["num_levels"] = expected.pop("num_scales")
  assert _calls(preset, monkeypatch) == (preset.image_shape, expected)
  assert _calls(preset, monkeypatch, hidden_channels=4, dtype=tf.float64) == (
      preset.image_shape, dict(expected, hidden_channels=4, dtype=tf.float64))


def test_override_changes_the_depth():
  flow = presets.get_preset("realnvp-imagenet64").make_flow(
      num_scales=2, hidden_channels=4, num_res_blocks=0)
  assert flow.layers.num_scales == 2
  flow = presets.get_preset("glow-cifar10").make_flow(
      num_scales=1, hidden_channels=4, depth=1)
  assert flow.layers.num_levels == 1


def test_unknown_preset_name():
  with pytest.raises(ValueError, match=r"'nope'.*realnvp-cifar10"):
    presets.get_preset("nope")
  for bad in (None, ["glow-cifar10"]):
    with pytest.raises(ValueError, match="Unknown preset"):
      presets.get_preset(bad)


@pytest.mark.parametrize("name,override", [
    ("realnvp-cifar10", "bogus"),
    ("realnvp-cifar10", "depth"),          # Glow's, not Real NVP's
    ("realnvp-cifar10", "image_shape"),    # fixed by the dataset
    ("realnvp-cifar10", "name"),           # the model family
    ("glow-cifar10", "num_res_blocks"),    # Real NVP's, not Glow's
    ("glow-cifar10", "layers"),
])
def test_unknown_override_names_the_key(name, override):
  with pytest.raises(ValueError, match=f"'{override}'.*valid: .*num_scales"):
    presets.get_preset(name).make_flow(hidden_channels=4, **{override: 1})


def test_glow_levels_override_is_num_scales():
  with pytest.raises(ValueError, match=r"'num_levels'.*levels are "
                     r"`num_scales`"):
    presets.get_preset("glow-cifar10").make_flow(num_levels=2)


def test_presets_are_read_only():
  assert isinstance(presets.PRESETS, types.MappingProxyType)
  preset = presets.get_preset("realnvp-cifar10")
  with pytest.raises(TypeError):
    presets.PRESETS["mine"] = preset
  with pytest.raises(TypeError):
    del presets.PRESETS["realnvp-cifar10"]
  with pytest.raises(dataclasses.FrozenInstanceError):
    preset.name = "mine"
  for table in (preset.model, preset.train):
    assert isinstance(table, dict)
    with pytest.raises(TypeError, match="read-only"):
      table["num_scales"] = 1
    for change in (table.clear, table.popitem, lambda: table.update(a=1),
                   lambda: table.pop("name", None),
                   lambda: table.setdefault("a", 1)):
      with pytest.raises(TypeError, match="read-only"):
        change()
  assert preset.model["num_scales"] == 2
  # Copies are plain, mutable dicts; JSON, asdict, copy and pickle work.
  mine = dict(preset.model)
  mine["num_scales"] = 3
  assert preset.model["num_scales"] == 2
  for other in (copy.deepcopy(preset.model), pickle.loads(
      pickle.dumps(preset.model)), preset.model.copy()):
    assert other.__class__ is dict and other == preset.model
  assert json.loads(json.dumps(preset.train)) == preset.train
  assert dataclasses.asdict(preset)["model"] == preset.model


def test_every_number_is_in_its_source():
  """`source` states each `model` and `train` value as `key=value`."""
  for name, preset in presets.PRESETS.items():
    assert name.split("-")[0] in preset.source.lower()
    for key, value in list(preset.model.items()) + list(preset.train.items()):
      if key == "name":
        continue
      match = re.search(rf"\b{key}=([^\s:,;]+)", preset.source)
      assert match, f"{name}: {key} is not in its source"
      stated = match.group(1)
      if isinstance(value, (bool, str)) or value is None:
        assert ast.literal_eval(stated) == value, (name, key, stated)
      else:
        assert float(stated) == pytest.approx(value), (name, key, stated)


def test_train_values():
  for preset in presets.PRESETS.values():
    train = preset.train
    assert train["optimizer"] in ("adam", "adamax")
    assert isinstance(train["warmup_steps"], int) and train[
        "warmup_steps"] >= 0
    assert isinstance(train["batch_size"], int) and train["batch_size"] > 0
    assert train["clip_norm"] is None or train["clip_norm"] > 0
    assert train["learning_rate"] > 0 and train["l2"] >= 0
    # Both papers: a constant rate (after Glow's warm-up), raw weights.
    assert (train["lr_schedule"], train["ema_decay"]) == ("constant", None)
  glow = presets.get_preset("glow-imagenet32").train
  # 10 warm-up "epochs" of --n_train 50000 images at 8 x 64 images a step.
  assert glow["warmup_steps"] == math.ceil(10 * 50_000 / (8 * 64)) == 977
  assert glow["batch_size"] == 512


def test_preset_checks_its_fields():
  fields = dict(name="x", dataset="cifar10", image_shape=(32, 32, 3),
                model=dict(name="realnvp", num_scales=2),
                train=dict(batch_size=8), source="test")
  preset = presets.Preset(**fields)
  assert preset.image_shape == (32, 32, 3)
  with pytest.raises(ValueError, match="'depth'"):
    presets.Preset(**dict(fields, model=dict(name="realnvp", depth=2)))
  with pytest.raises(ValueError, match="'momentum'"):
    presets.Preset(**dict(fields, train=dict(momentum=0.9)))
  with pytest.raises(ValueError, match="'flowpp'"):
    presets.Preset(**dict(fields, model=dict(name="flowpp")))
  with pytest.raises(ValueError, match="'sgd'"):
    presets.Preset(**dict(fields, train=dict(optimizer="sgd")))
  with pytest.raises(ValueError, match="image_shape"):
    presets.Preset(**dict(fields, image_shape=(32, 32)))


def test_exported_and_independent_of_training():
  assert tfnvp.presets is presets and "presets" in tfnvp.__all__
  assert set(presets.__all__) == {"PRESETS", "Preset", "get_preset"}
  tree = ast.parse(pathlib.Path(presets.__file__).read_text())
  imported = [alias.name for node in ast.walk(tree)
              if isinstance(node, ast.Import) for alias in node.names]
  imported += [node.module for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom)]
  assert not [m for m in imported
              if m.split(".")[0] in ("training", "export")], imported
