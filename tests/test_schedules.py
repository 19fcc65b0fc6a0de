"""WarmupDecaySchedule: a warm-up, then a constant, cosine or exponential."""

import keras
import numpy as np
import pytest

import tfnvp
from tfnvp.schedules import LR_SCHEDULES
from tfnvp.schedules import WarmupDecaySchedule

# learning_rate 0.1, 10 warm-up steps, 110 steps in all, final fraction 0.01:
# update s = step + 1; the decay runs over updates 10..110 (p = (s - 10)/100).
_STEPS = {"warm-up start": 0, "end of warm-up": 9, "middle": 59, "end": 109,
          "beyond the end": 500}
EXPECTED = {
    "constant": dict(zip(_STEPS, [0.01, 0.1, 0.1, 0.1, 0.1])),
    # 0.1 * (0.01 + 0.99 * (1 + cos(pi p)) / 2)
    "cosine": dict(zip(_STEPS, [0.01, 0.1, 0.0505, 0.001, 0.001])),
    # 0.1 * 0.01^p
    "exponential": dict(zip(_STEPS, [0.01, 0.1, 0.01, 0.001, 0.001])),
}


@pytest.mark.parametrize("decay", LR_SCHEDULES)
def test_the_rate_at_warm_up_start_and_end_middle_end_and_beyond(decay):
  schedule = WarmupDecaySchedule(0.1, warmup_steps=10, total_steps=110,
                                 decay=decay, final_fraction=0.01)
  got = {point: float(schedule(step)) for point, step in _STEPS.items()}
  np.testing.assert_allclose(list(got.values()),
                             list(EXPECTED[decay].values()), rtol=1e-5,
                             err_msg=str(got))


def test_without_warm_up_the_decay_starts_at_the_first_update():
  schedule = WarmupDecaySchedule(1.0, total_steps=4, decay="exponential",
                                 final_fraction=0.0625)
  np.testing.assert_allclose([float(schedule(s)) for s in range(5)],
                             [0.5, 0.25, 0.125, 0.0625, 0.0625], rtol=1e-6)
  np.testing.assert_allclose(
      float(WarmupDecaySchedule(0.3)(10**6)), 0.3, rtol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(learning_rate=0.0), r"`learning_rate` must be .*> 0; got 0\.0"),
    (dict(warmup_steps=-1), r"`warmup_steps` must be an int >= 0; got -1"),
    (dict(decay="linear"), r"`decay` must be one of .*got 'linear'"),
    (dict(final_fraction=1.5), r"`final_fraction` must be a finite number "
     r"in \(0, 1\]; got 1\.5"),
    (dict(decay="cosine", warmup_steps=10, total_steps=0),
     r"`total_steps` must be an int >= 1 for the 'cosine' decay; got 0"),
    (dict(decay="exponential"), r"`total_steps` .*got None"),
])
def test_bad_arguments_are_named(kwargs, message):
  with pytest.raises(ValueError, match=message):
    WarmupDecaySchedule(**dict(dict(learning_rate=1e-3), **kwargs))


def test_a_compiled_model_saves_and_loads_with_its_schedule(tmp_path):
  config = tfnvp.OptimizationConfig(warmup_steps=5, lr_schedule="cosine",
                                    lr_final_fraction=0.1, optimizer="adamax")
  optimizer = config.make_optimizer(total_steps=50)
  model = tfnvp.FlowModel(tfnvp.RealNVP((4, 4, 1), num_scales=1,
                                        hidden_channels=4, num_res_blocks=1))
  model.compile(optimizer=optimizer)
  optimizer.build(model.trainable_variables)
  path = str(tmp_path / "model.keras")
  model.save(path)
  restored = keras.models.load_model(path).optimizer
  assert isinstance(restored, keras.optimizers.Adamax)
  schedule = restored.get_config()["learning_rate"]
  assert schedule["registered_name"] == "tfnvp>WarmupDecaySchedule"
  assert schedule["config"] == dict(
      learning_rate=1e-3, warmup_steps=5, total_steps=50, decay="cosine",
      final_fraction=0.1)
  # At step 0: the first of 5 warm-up steps.
  np.testing.assert_allclose(float(restored.learning_rate), 2e-4, rtol=1e-6)


def test_a_run_that_ends_within_its_warm_up_never_decays():
  schedule = WarmupDecaySchedule(0.1, warmup_steps=200, total_steps=50,
                                 decay="cosine")
  rates = [float(schedule(step)) for step in (0, 49, 100)]
  np.testing.assert_allclose(rates, [0.1 / 200, 0.1 * 50 / 200,
                                     0.1 * 101 / 200], rtol=1e-6)
