"""tfnvp.presets: the papers' configurations are data (records), build,
are read-only, and say where their numbers come from."""

import ast
import dataclasses
import math
import pathlib
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
    # name: (dataset, model family, scales or levels)
    "realnvp-cifar10": ("cifar10", "realnvp", 2),
    "realnvp-imagenet32": ("downsampled_imagenet/32x32", "realnvp", 4),
    "realnvp-imagenet64": ("downsampled_imagenet/64x64", "realnvp", 5),
    "realnvp-celeba": ("celeb_a", "realnvp", 5),
    "realnvp-lsun-bedroom": ("lsun/bedroom", "realnvp", 5),
    "realnvp-lsun-church_outdoor": ("lsun/church_outdoor", "realnvp", 5),
    "realnvp-lsun-tower": ("lsun/tower", "realnvp", 5),
    "glow-cifar10": ("cifar10", "glow", 3),
    "glow-imagenet32": ("downsampled_imagenet/32x32", "glow", 3),
    "glow-cifar10-ycond": ("cifar10", "glow", 3),
}


def _small(preset):
  """Overrides that make a preset's flow fast, keeping its depth."""
  if isinstance(preset.model, tfnvp.RealNVPConfig):
    return dict(hidden_channels=4, num_res_blocks=1)
  return dict(hidden_channels=4, depth=1)


def _depth(model):
  return model.kwargs().get("num_scales") or model.kwargs()["num_levels"]


def test_names_datasets_and_shapes():
  assert set(presets.PRESETS) == set(_EXPECTED)
  for name, preset in presets.PRESETS.items():
    dataset, family, depth = _EXPECTED[name]
    assert preset.name == name
    assert preset.dataset == dataset
    assert preset.image_shape == _DATASET_SHAPES[dataset]
    assert preset.model.image_shape == _DATASET_SHAPES[dataset]
    assert preset.model.class_name.lower() == family
    assert _depth(preset.model) == depth
    assert presets.get_preset(name) is preset
    assert preset.citation and "\n" not in preset.citation


# Small flows by their records: presets whose small flows are the same (the
# five 64x64 Real NVP presets; both Glow presets at depth 1) build and
# evaluate one. A 5-scale Real NVP's `log_prob` takes ~15 s here, nearly all
# of it in TFP's bijector-cache hashing.
_SMALL_FLOWS = {}


def _small_flow(preset):
  record = dataclasses.replace(preset.model, **_small(preset))
  if record not in _SMALL_FLOWS:
    flow = preset.make_flow(**_small(preset))
    images = tf.random.stateless_uniform((2,) + preset.image_shape, [3, 1],
                                         0.0, 256.0)
    _SMALL_FLOWS[record] = (flow, flow.log_prob(images),
                            flow.sample(2, seed=[1, 2]))
  return _SMALL_FLOWS[record]


@pytest.mark.parametrize("name", sorted(_EXPECTED))
def test_small_flow_builds_at_the_presets_depth(name):
  preset = presets.get_preset(name)
  flow, log_prob, samples = _small_flow(preset)
  model = preset.model
  if isinstance(model, tfnvp.RealNVPConfig):
    assert isinstance(flow, tfnvp.RealNVP)
    assert flow.layers.num_scales == model.num_scales
    assert flow.layers.num_res_blocks == 1
    assert flow.layers.num_couplings == sum(
        len(s) for s in coupling_plan(preset.image_shape, model.num_scales))
    assert flow.logit_alpha == model.logit_alpha
    assert flow.layers.batch_norm_momentum == model.batch_norm_momentum
  else:
    assert isinstance(flow, tfnvp.Glow)
    assert flow.layers.num_levels == model.num_levels
    assert flow.layers.num_steps == model.num_levels   # depth 1 per level
    for key in ("coupling", "lu_decomposed", "learn_prior"):
      assert getattr(flow.layers, key) == getattr(model, key)
  assert flow.layers.hidden_channels == 4
  assert flow.layers.image_shape == preset.image_shape
  assert flow.event_shape == preset.image_shape
  assert log_prob.shape == (2,)
  assert np.all(np.isfinite(log_prob))
  assert samples.shape == (2,) + preset.image_shape
  assert np.all(np.isfinite(samples))
  # The flow's record is the preset's, with the overrides.
  assert tfnvp.FlowConfig.from_flow(flow) == dataclasses.replace(
      model, network_dtype="float32", **_small(preset))


def test_override_changes_the_depth():
  flow = presets.get_preset("realnvp-imagenet64").make_flow(
      num_scales=2, hidden_channels=4, num_res_blocks=0)
  assert flow.layers.num_scales == 2
  flow = presets.get_preset("glow-cifar10").make_flow(
      num_levels=1, hidden_channels=4, depth=1, dtype="float64")
  assert flow.layers.num_levels == 1 and flow.dtype == tf.float64


def test_unknown_preset_name():
  with pytest.raises(ValueError, match=r"'nope'.*realnvp-cifar10"):
    presets.get_preset("nope")
  for bad in (None, ["glow-cifar10"]):
    with pytest.raises(ValueError, match="Unknown preset"):
      presets.get_preset(bad)


@pytest.mark.parametrize("name,override,valid", [
    ("realnvp-cifar10", "bogus", "num_scales"),
    ("realnvp-cifar10", "depth", "num_scales"),     # Glow's, not Real NVP's
    ("realnvp-cifar10", "image_shape", "num_scales"),  # the dataset's
    ("realnvp-cifar10", "name", "num_scales"),
    ("glow-cifar10", "num_res_blocks", "num_levels"),  # Real NVP's
    ("glow-cifar10", "num_scales", "num_levels"),      # Real NVP's word
    ("glow-cifar10", "layers", "num_levels"),
])
def test_unknown_override_names_the_key(name, override, valid):
  with pytest.raises(ValueError, match=f"'{override}'.*valid: .*{valid}"):
    presets.get_preset(name).make_flow(hidden_channels=4, **{override: 1})


def test_presets_are_read_only():
  assert isinstance(presets.PRESETS, types.MappingProxyType)
  preset = presets.get_preset("realnvp-cifar10")
  with pytest.raises(TypeError):
    presets.PRESETS["mine"] = preset
  with pytest.raises(TypeError):
    del presets.PRESETS["realnvp-cifar10"]
  for record in (preset, preset.model, preset.optimization):
    with pytest.raises(dataclasses.FrozenInstanceError):
      record.name = "mine"
  with pytest.raises(dataclasses.FrozenInstanceError):
    preset.model.num_scales = 3
  mine = dataclasses.replace(preset.model, num_scales=3)
  assert (mine.num_scales, preset.model.num_scales) == (3, 2)


def test_optimization_values():
  for preset in presets.PRESETS.values():
    o = preset.optimization
    assert isinstance(o, tfnvp.OptimizationConfig)
    # Both papers: a constant rate (after Glow's warm-up), raw weights.
    assert (o.lr_schedule, o.ema_decay) == ("constant", None)
    if isinstance(preset.model, tfnvp.RealNVPConfig):
      # Section 4.1 of Real NVP and get_default_hparams() of its code.
      assert (o.batch_size, o.optimizer, o.learning_rate, o.l2,
              o.clip_norm, o.warmup_steps) == (64, "adam", 1e-3, 5e-5,
                                               100.0, 0)
      assert (preset.model.logit_alpha,
              preset.model.batch_norm_momentum) == (0.05, 0.9)
    else:
      # openai/glow: 8 processes x 64 images, Adamax, no clipping, no decay.
      assert (o.batch_size, o.optimizer, o.learning_rate, o.l2,
              o.clip_norm) == (512, "adamax", 1e-3, 0.0, None)
      # 10 warm-up "epochs" of --n_train 50000 images at 512 images a step.
      assert o.warmup_steps == math.ceil(10 * 50_000 / (8 * 64)) == 977
      assert (preset.model.hidden_channels, preset.model.lu_decomposed,
              preset.model.learn_prior) == (512, False, True)
      # Glow's conditional commands add --ycond --weight_y=0.01 and use
      # additive coupling (--flow_coupling 0); the others are affine.
      conditional = preset.name.endswith("-ycond")
      assert (preset.model.coupling, preset.model.num_classes,
              o.classification_weight) == (
                  ("additive", 10, 0.01) if conditional else
                  ("affine", None, 0.0))


def test_preset_checks_its_fields():
  model = tfnvp.RealNVPConfig(image_shape=(32, 32, 3))
  fields = dict(name="x", dataset="cifar10", model=model,
                optimization=tfnvp.OptimizationConfig(), citation="test")
  assert presets.Preset(**fields).image_shape == (32, 32, 3)
  with pytest.raises(TypeError, match="`model` must be a flow record"):
    presets.Preset(**dict(fields, model=dict(name="realnvp")))
  with pytest.raises(TypeError, match="`optimization` must be"):
    presets.Preset(**dict(fields, optimization=dict(batch_size=8)))
  with pytest.raises(ValueError, match="'sgd'"):
    tfnvp.OptimizationConfig(optimizer="sgd")
  with pytest.raises(ValueError, match="image_shape"):
    tfnvp.RealNVPConfig(image_shape=(32, 32))


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


def test_the_provenance_page_states_every_presets_architecture():
  """docs/presets.md's table (where the numbers are traced to the papers)
  says what each record holds."""
  page = pathlib.Path(__file__).parents[1] / "docs" / "presets.md"
  rows = {}
  for line in page.read_text().splitlines():
    cells = [c.strip(" `") for c in line.strip("|").split("|")]
    if line.startswith("| [`") and len(cells) == 6:
      rows[cells[0].split("]")[0].strip("[`")] = cells[1:]
  assert set(rows) == set(presets.PRESETS)
  for name, (dataset, image, depth, width, blocks) in rows.items():
    preset = presets.get_preset(name)
    model = preset.model
    assert dataset == preset.dataset
    assert image == "x".join(map(str, preset.image_shape))
    assert int(depth.split()[0]) == _depth(model), name
    assert int(width) == model.hidden_channels, name
    per_scale = (model.num_res_blocks if isinstance(
        model, tfnvp.RealNVPConfig) else model.depth)
    assert int(blocks.replace("depth", "").split()[0]) == per_scale, name
