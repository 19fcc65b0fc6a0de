"""`OptimizationConfig`: how a flow is trained, as one typed record.

The optimizer, its learning-rate schedule and the `tfnvp.FlowModel`
settings of a training run (weight averaging, L2 penalty, gradient
clipping) and its global batch size. Presets (`tfnvp.presets`) carry one,
`tfnvp-train` writes one into each run's `config.json` and generates its
optimization flags from the fields.
"""

import dataclasses

import keras

from tfnvp.internal.checks import check_choice
from tfnvp.internal.checks import check_int
from tfnvp.internal.checks import check_number
from tfnvp.config import config_field
from tfnvp.config import record_from_fields
from tfnvp.schedules import LR_SCHEDULES
from tfnvp.schedules import WarmupDecaySchedule

__all__ = ["OPTIMIZERS", "OptimizationConfig"]

OPTIMIZERS = ("adam", "adamax")


@dataclasses.dataclass(frozen=True)
class OptimizationConfig:
  """The optimization of a training run.

  The learning rate rises linearly from `learning_rate / warmup_steps` to
  `learning_rate` over the first `warmup_steps` optimizer steps, then
  follows `lr_schedule` over the rest of the run: `"constant"`, or a
  `"cosine"` or `"exponential"` decay to `learning_rate *
  lr_final_fraction` at the last step (`tfnvp.schedules.WarmupDecaySchedule`).
  `ema_decay` keeps a Polyak average of the weights (`tfnvp.FlowModel`),
  which evaluation, sampling and export use. `batch_size` is global: under a
  distribution strategy each replica gets `batch_size / num_replicas`
  examples.

  `classification_weight` adds the Bayes classifier's cross-entropy to the
  loss of a class-conditional flow (`tfnvp.FlowModel`).

  `ema_decay=0` and `clip_norm=0` mean none, as `None` does (the record
  stores `None`).

  Raises:
    ValueError: for a field out of range or an unknown name; the message
      names the field and the value.

  #### Examples

  ```python
  optimization = tfnvp.OptimizationConfig(optimizer="adamax",
                                          warmup_steps=500)
  model = tfnvp.FlowModel(flow, **optimization.model_kwargs())
  model.compile(optimizer=optimization.make_optimizer(total_steps=10_000))
  ```
  """

  batch_size: int = config_field(
      64, doc="global batch size, split over all replicas")
  optimizer: str = config_field("adam", doc="optimizer", choices=OPTIMIZERS)
  learning_rate: float = config_field(
      1e-3, doc="learning rate after the warm-up, > 0")
  warmup_steps: int = config_field(
      0, doc="linear learning-rate warm-up over this many optimizer steps")
  lr_schedule: str = config_field(
      "constant", doc="learning rate after the warm-up: constant, or a "
      "cosine or exponential decay to lr_final_fraction x learning_rate at "
      "the last step", choices=LR_SCHEDULES)
  lr_final_fraction: float = config_field(
      0.01, doc="final learning rate of a decay over learning_rate, in "
      "(0, 1]")
  ema_decay: float | None = config_field(
      None, doc="Polyak averaging: decay in [0, 1) of the moving average of "
      "the weights that validation, samples, evaluation and export use; 0 "
      "or none disables it")
  l2: float = config_field(
      5e-5, doc="L2 penalty on weight-norm scales and tanh scales (Real NVP; "
      "Glow has neither)")
  clip_norm: float | None = config_field(
      100.0, doc="gradient clipping by global norm; 0 or none disables it")
  classification_weight: float = config_field(
      0.0, doc="class-conditional models: weight lambda of the Bayes "
      "classifier's bits in Glow's hybrid loss bits_x + lambda bits_y "
      "(Glow's weight_y); 0 trains the density alone")

  def __post_init__(self):
    for name in ("ema_decay", "clip_norm"):
      if getattr(self, name) == 0 and not isinstance(getattr(self, name),
                                                      bool):
        object.__setattr__(self, name, None)
    check_int("batch_size", self.batch_size, 1)
    check_choice("optimizer", self.optimizer, OPTIMIZERS)
    check_number("learning_rate", self.learning_rate, 0, low_open=True)
    check_int("warmup_steps", self.warmup_steps, 0)
    check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
    check_number("lr_final_fraction", self.lr_final_fraction, 0, 1,
                 low_open=True)
    check_number("ema_decay", self.ema_decay, 0, 1, high_open=True,
                 optional=True)
    check_number("l2", self.l2, 0)
    check_number("clip_norm", self.clip_norm, 0, low_open=True,
                 optional=True)
    check_number("classification_weight", self.classification_weight, 0)

  def make_optimizer(self, total_steps):
    """The Keras optimizer (Adam or Adamax) on this record's schedule.

    Args:
      total_steps: Python `int >= 1`, the run's optimizer steps, where the
        learning-rate decay ends.

    Returns:
      A `keras.optimizers.Adam` or `keras.optimizers.Adamax`.
    """
    rate = WarmupDecaySchedule(
        self.learning_rate, self.warmup_steps, total_steps,
        decay=self.lr_schedule, final_fraction=self.lr_final_fraction)
    if self.optimizer == "adamax":
      return keras.optimizers.Adamax(rate)
    return keras.optimizers.Adam(rate)

  def model_kwargs(self):
    """The `tfnvp.FlowModel` arguments: `l2`, `clip_norm`, `ema_decay`,
    `classification_weight`."""
    return dict(l2=self.l2, clip_norm=self.clip_norm,
                ema_decay=self.ema_decay,
                classification_weight=self.classification_weight)

  def to_dict(self):
    """The fields as a JSON-ready `dict`."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, fields, source="config"):
    """A record from `to_dict()`'s output.

    Raises:
      ValueError: if `fields` is not a dict, has unknown fields or invalid
        values; the message names `source`.
    """
    try:
      return record_from_fields(cls, fields, "optimization")
    except ValueError as err:
      raise ValueError(f"{source}: {err}") from None
