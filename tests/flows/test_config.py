"""The flows' config records: exactly the constructors' keywords."""

import dataclasses
import inspect
import json

import pytest
import tensorflow as tf

import tfnvp
from tfnvp.flows.config import NOT_CONFIG

RECORDS = [tfnvp.RealNVPConfig, tfnvp.GlowConfig]


@pytest.mark.parametrize("record", RECORDS)
def test_fields_are_the_constructor_keywords_with_its_defaults(record):
  params = inspect.signature(record.flow_class).parameters
  keywords = [name for name in params if name not in NOT_CONFIG]
  assert sorted(f.name for f in dataclasses.fields(record)) == sorted(
      keywords)
  for field in dataclasses.fields(record):
    default = params[field.name].default
    if default is inspect.Parameter.empty:
      assert field.default is dataclasses.MISSING, field.name
    elif field.name == "dtype":
      assert tf.as_dtype(default).name == field.default
    else:
      assert field.default == default, field.name
    assert field.metadata["doc"], field.name
  assert tfnvp.FlowConfig.get(record.flow_class.__name__.upper()) is record


@pytest.mark.parametrize("record, fields", [
    (tfnvp.RealNVPConfig, dict(image_shape=(8, 4, 2), num_scales=2,
                               hidden_channels=5, num_res_blocks=0,
                               logit_alpha=None, batch_norm_momentum=0.5,
                               batch_norm_epsilon=1e-3, num_classes=4,
                               condition_couplings=True, label_dropout=0.1,
                               dtype="float64", network_dtype="float64")),
    (tfnvp.GlowConfig, dict(image_shape=(8, 4, 2), num_levels=2, depth=2,
                            hidden_channels=3, coupling="additive",
                            lu_decomposed=False, learn_prior=False, seed=4,
                            dtype="float32", network_dtype="bfloat16")),
])
def test_record_to_flow_to_record_and_json(record, fields):
  config = record(**fields)
  flow = config.make_flow(validate_args=True, name="mine")
  assert type(flow) is record.flow_class
  assert (flow.validate_args, flow.name) == (True, "mine")
  assert tfnvp.FlowConfig.from_flow(flow) == config
  assert tfnvp.FlowConfig.from_flow(flow.copy(training=True)) == config
  # The flow's parameters are the record's fields.
  assert {k: flow.parameters[k] for k in fields} == {
      k: (tf.as_dtype(v) if k == "dtype" else v) for k, v in fields.items()}
  text = json.dumps(config.to_dict())
  assert json.loads(text)["class_name"] == record.flow_class.__name__
  assert tfnvp.FlowConfig.from_dict(json.loads(text)) == config


def test_from_flow_records_the_resolved_network_dtype():
  config = tfnvp.RealNVPConfig(image_shape=(4, 4, 1), num_scales=1,
                               hidden_channels=2, num_res_blocks=0)
  assert config.network_dtype is None
  assert tfnvp.FlowConfig.from_flow(config.make_flow()) == (
      dataclasses.replace(config, network_dtype="float32"))
  with pytest.raises(TypeError, match="`flow` must be one of tfnvp's flows"):
    tfnvp.FlowConfig.from_flow(tfnvp.bijectors.Squeeze())


@pytest.mark.parametrize("record, fields, message", [
    (tfnvp.RealNVPConfig, dict(image_shape=(8, 8)), r"`image_shape` must be "
     r"three positive ints \(H, W, C\); got \(8, 8\)"),
    (tfnvp.RealNVPConfig, dict(num_scales=5), r"`num_scales`=5 is too deep"),
    (tfnvp.RealNVPConfig, dict(num_scales=True), r"`num_scales` must be an "
     r"int >= 1; got True"),
    (tfnvp.RealNVPConfig, dict(hidden_channels=0),
     r"`hidden_channels` must be an int >= 1; got 0"),
    (tfnvp.RealNVPConfig, dict(num_res_blocks=-1),
     r"`num_res_blocks` must be an int >= 0; got -1"),
    (tfnvp.RealNVPConfig, dict(logit_alpha=0.5),
     r"`logit_alpha` must be a finite number in \(0, 0.5\) or None; got 0.5"),
    (tfnvp.RealNVPConfig, dict(batch_norm_momentum=1.0),
     r"`batch_norm_momentum` must be a finite number in \[0, 1\); got 1.0"),
    (tfnvp.RealNVPConfig, dict(batch_norm_epsilon=float("nan")),
     r"`batch_norm_epsilon` must be a finite number > 0; got nan"),
    (tfnvp.RealNVPConfig, dict(dtype="float16"),
     r"`dtype` must be float32 or float64; got 'float16'"),
    (tfnvp.RealNVPConfig, dict(dtype="float64", network_dtype="bfloat16"),
     r"`network_dtype` must be None or one of \('float64',\)"),
    (tfnvp.GlowConfig, dict(num_levels=4), r"`num_levels`=4 is too deep"),
    (tfnvp.GlowConfig, dict(depth=0), r"`depth` must be an int >= 1; got 0"),
    (tfnvp.GlowConfig, dict(coupling="spline"),
     r"`coupling` must be one of \('affine', 'additive'\); got 'spline'"),
    (tfnvp.GlowConfig, dict(lu_decomposed="yes"),
     r"`lu_decomposed` must be a bool; got 'yes'"),
    (tfnvp.GlowConfig, dict(seed=-1), r"`seed` must be an int >= 0 or None"),
    (tfnvp.GlowConfig, dict(num_classes=1),
     r"`num_classes` must be an int >= 2 or None; got 1"),
    (tfnvp.RealNVPConfig, dict(num_classes=2.0),
     r"`num_classes` must be an int >= 2 or None; got 2.0"),
    (tfnvp.GlowConfig, dict(num_classes=3, condition_couplings="yes"),
     r"`condition_couplings` must be a bool; got 'yes'"),
    (tfnvp.RealNVPConfig, dict(condition_couplings=True),
     r"`condition_couplings` needs `num_classes`; got "
     r"condition_couplings=True with num_classes=None"),
    (tfnvp.GlowConfig, dict(label_dropout=0.1),
     r"`label_dropout` needs `num_classes`"),
    (tfnvp.RealNVPConfig, dict(num_classes=3, label_dropout=1.0),
     r"`label_dropout` must be a finite number in \[0, 1\); got 1.0"),
])
def test_bad_fields_are_named_by_the_record_and_the_constructor(
    record, fields, message):
  fields = dict(dict(image_shape=(8, 8, 1)), **fields)
  with pytest.raises(ValueError, match=message):
    record(**fields)
  with pytest.raises(ValueError, match=message):
    record.flow_class(**fields)


def test_from_dict_names_the_source_and_the_problem():
  good = tfnvp.GlowConfig(image_shape=(8, 8, 1)).to_dict()
  cases = [
      ([1, 2], r"f.json: the model must be a JSON object; got \[1, 2\]"),
      (dict(good, extra=1), r"f.json: the model must be \{\"class_name\""),
      (dict(good, class_name="Flow++"),
       r"f.json: `model` must be one of \('glow', 'realnvp'\); got 'Flow\+\+'"),
      (dict(good, config=dict(good["config"], width=3)),
       r"f.json: unknown Glow field\(s\) \['width'\]"),
      (dict(good, config=dict(good["config"], depth=-1)),
       r"f.json: `depth` must be an int >= 1; got -1"),
      (dict(name="realnvp", image_shape=[8, 8, 1], width=2),
       r"f.json: unknown model field\(s\) \['width'\]"),
  ]
  for value, message in cases:
    with pytest.raises(ValueError, match=message):
      tfnvp.FlowConfig.from_dict(value, source="f.json")


def test_a_0_3_model_record_reads_as_its_family():
  legacy = dict(name="glow", image_shape=[8, 8, 1], num_scales=2,
                hidden_channels=4, num_res_blocks=2, logit_alpha=0.05,
                batch_norm_momentum=0.95, depth=3, coupling="additive",
                lu_decomposed=False, learn_prior=True, dtype="float32",
                network_dtype="float32")
  assert tfnvp.FlowConfig.from_dict(legacy) == tfnvp.GlowConfig(
      image_shape=(8, 8, 1), num_levels=2, depth=3, hidden_channels=4,
      coupling="additive", lu_decomposed=False, learn_prior=True,
      network_dtype="float32")
  legacy["name"] = "realnvp"
  assert tfnvp.FlowConfig.from_dict(legacy) == tfnvp.RealNVPConfig(
      image_shape=(8, 8, 1), num_scales=2, hidden_channels=4,
      num_res_blocks=2, logit_alpha=0.05, batch_norm_momentum=0.95,
      network_dtype="float32")
