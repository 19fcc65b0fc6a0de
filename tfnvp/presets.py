"""The papers' own configurations of Real NVP [1] and Glow [2], as presets.

A `Preset` is data: a dataset (a `tfnvp.data.DATASETS` key), the flow's
record (`tfnvp.RealNVPConfig` or `tfnvp.GlowConfig`, whose `image_shape` is
the dataset's), the optimization (`tfnvp.OptimizationConfig`) and a
one-line citation of where the numbers come from. Where every number was
read, section by section and flag by flag, and what tfnvp cannot express
(Real NVP's widening of the coupling networks at coarser scales, Glow's
learned top prior and Adamax `beta_2`) is in `docs/presets.md`.

```none
Real NVP                    dataset                    scales width blocks
--------------------------- -------------------------- ------ ----- ------
realnvp-cifar10             cifar10                    2      64    8
realnvp-imagenet32          downsampled_imagenet/32x32 4      32    4
realnvp-imagenet64          downsampled_imagenet/64x64 5      32    2
realnvp-celeba              celeb_a                    5      32    2
realnvp-lsun-bedroom        lsun/bedroom               5      32    2
realnvp-lsun-church_outdoor lsun/church_outdoor        5      32    2
realnvp-lsun-tower          lsun/tower                 5      32    2
  all: logit_alpha 0.05, batch_norm_momentum 0.9; batch 64, adam, learning
  rate 1e-3 (constant), l2 5e-5, clip_norm 100, no warm-up, no Polyak
  averaging.

Glow                        dataset                    levels depth width
--------------------------- -------------------------- ------ ----- -----
glow-cifar10                cifar10                    3      32    512
glow-imagenet32             downsampled_imagenet/32x32 3      48    512
glow-cifar10-ycond          cifar10                    3      32    512
  all: plain (not LU) 1x1 convolutions, learned split priors; batch 512,
  adamax, learning rate 1e-3 (constant after a warm-up of 977 steps), l2 0,
  no clipping, no Polyak averaging; affine coupling but for
  glow-cifar10-ycond: class-conditional (num_classes 10, Glow's --ycond),
  additive coupling, classification_weight 0.01 (Glow's --weight_y).
```

#### Examples

```python
preset = tfnvp.presets.get_preset("realnvp-cifar10")
preset.dataset                       # "cifar10"
flow = preset.make_flow()            # the paper's tfnvp.RealNVP
tiny = preset.make_flow(hidden_channels=4, num_res_blocks=1)   # for tests
preset.optimization.batch_size       # 64
```

#### References

[1]: Laurent Dinh, Jascha Sohl-Dickstein and Samy Bengio. Density estimation
     using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
     Code: https://github.com/tensorflow/models/tree/master/research/real_nvp

[2]: Diederik P. Kingma and Prafulla Dhariwal. Glow: Generative Flow with
     Invertible 1x1 Convolutions. NeurIPS 2018.
     https://arxiv.org/abs/1807.03039 Code: https://github.com/openai/glow
"""

import dataclasses
import math
import types
from typing import Mapping

from tfnvp.flows.config import FlowConfig
from tfnvp.flows.glow import GlowConfig
from tfnvp.flows.real_nvp import RealNVPConfig
from tfnvp.optimization import OptimizationConfig

__all__ = ["PRESETS", "Preset", "get_preset"]


@dataclasses.dataclass(frozen=True)
class Preset:
  """One configuration of the Real NVP or Glow paper for one dataset.

  Args:
    name: Python `str`, e.g. `"realnvp-cifar10"`.
    dataset: Python `str`, a `tfnvp.data.DATASETS` key, e.g. `"cifar10"`.
    model: the flow's record, a `tfnvp.RealNVPConfig` or `tfnvp.GlowConfig`
      on the dataset's image shape.
    optimization: a `tfnvp.OptimizationConfig`.
    citation: Python `str`, one line: where the numbers come from.

  Raises:
    TypeError: if `model` or `optimization` is not such a record.

  #### Examples

  ```python
  preset = tfnvp.presets.PRESETS["glow-cifar10"]
  preset.model.depth, preset.optimization.batch_size   # (32, 512)
  flow = preset.make_flow(hidden_channels=4, depth=1)   # a small tfnvp.Glow
  ```
  """

  name: str
  dataset: str
  model: FlowConfig
  optimization: OptimizationConfig
  citation: str

  def __post_init__(self):
    if not isinstance(self.model, FlowConfig):
      raise TypeError(f"Preset {self.name!r}: `model` must be a flow record "
                      f"(tfnvp.RealNVPConfig, ...); got {self.model!r}.")
    if not isinstance(self.optimization, OptimizationConfig):
      raise TypeError(f"Preset {self.name!r}: `optimization` must be a "
                      f"tfnvp.OptimizationConfig; got {self.optimization!r}.")

  @property
  def image_shape(self):
    """`(H, W, C)` of the dataset's model inputs."""
    return self.model.image_shape

  def make_flow(self, training=False, validate_args=False, **overrides):
    """The preset's `tfnvp.RealNVP` or `tfnvp.Glow`.

    Args:
      training: Python `bool`, the flow's mode.
      validate_args: Python `bool`.
      **overrides: replace fields of the preset's model record (e.g.
        `hidden_channels=4` for a fast test, `dtype="float64"`).

    Returns:
      The flow, `dataclasses.replace(model, **overrides).make_flow(...)`.

    Raises:
      ValueError: for an override that is not a field of the model record
        (the message names it and lists the valid ones), and as the record
        raises for invalid values.
    """
    valid = {f.name for f in dataclasses.fields(self.model)} - {
        "image_shape"}
    unknown = sorted(set(overrides) - valid)
    if unknown:
      raise ValueError(
          f"Unknown override(s) {', '.join(repr(k) for k in unknown)} for "
          f"preset {self.name!r} ({self.model.class_name}); valid: "
          f"{', '.join(sorted(valid))}.")
    return dataclasses.replace(self.model, **overrides).make_flow(
        training=training, validate_args=validate_args)


_REAL_NVP = "Dinh, Sohl-Dickstein and Bengio, ICLR 2017, section 4.1"
# Section 4.1 of [1] and get_default_hparams() of its code.
_REAL_NVP_OPTIMIZATION = OptimizationConfig(
    batch_size=64, optimizer="adam", learning_rate=1e-3, warmup_steps=0,
    lr_schedule="constant", ema_decay=None, l2=5e-5, clip_norm=100.0)


def _realnvp(name, dataset, image_shape, num_scales, hidden_channels,
             num_res_blocks, citation):
  return Preset(
      name=name, dataset=dataset,
      model=RealNVPConfig(
          image_shape=image_shape, num_scales=num_scales,
          hidden_channels=hidden_channels, num_res_blocks=num_res_blocks,
          logit_alpha=0.05, batch_norm_momentum=0.9),
      optimization=_REAL_NVP_OPTIMIZATION,
      citation=f"{_REAL_NVP}: {citation}")


# openai/glow's README commands run 8 MPI processes of `--n_batch_train 64`
# with gradients averaged: a global batch of 512. train.py warms the rate up
# over `--epochs_warmup 10` epochs of `--n_train 50000` images.
_GLOW_BATCH = 8 * 64
_GLOW_OPTIMIZATION = OptimizationConfig(
    batch_size=_GLOW_BATCH, optimizer="adamax", learning_rate=1e-3,
    warmup_steps=math.ceil(10 * 50_000 / _GLOW_BATCH),
    lr_schedule="constant", ema_decay=None, l2=0.0, clip_norm=None)


def _glow(name, dataset, image_shape, depth, command, coupling="affine",
          num_classes=None, classification_weight=0.0):
  return Preset(
      name=name, dataset=dataset,
      model=GlowConfig(image_shape=image_shape, num_levels=3, depth=depth,
                       hidden_channels=512, coupling=coupling,
                       lu_decomposed=False, learn_prior=True,
                       num_classes=num_classes),
      optimization=dataclasses.replace(
          _GLOW_OPTIMIZATION, classification_weight=classification_weight),
      citation=f"Kingma and Dhariwal, NeurIPS 2018; openai/glow README.md, "
      f"{command}")


_PRESETS = [
    _realnvp("realnvp-cifar10", "cifar10", (32, 32, 3), 2, 64, 8,
             "CIFAR-10"),
    _realnvp("realnvp-imagenet32", "downsampled_imagenet/32x32", (32, 32, 3),
             4, 32, 4, "downsampled ImageNet 32x32"),
    _realnvp("realnvp-imagenet64", "downsampled_imagenet/64x64", (64, 64, 3),
             5, 32, 2, "downsampled ImageNet 64x64"),
    _realnvp("realnvp-celeba", "celeb_a", (64, 64, 3), 5, 32, 2, "CelebA"),
] + [
    _realnvp(f"realnvp-lsun-{category}", f"lsun/{category}", (64, 64, 3), 5,
             32, 2, f"LSUN {category}")
    for category in ("bedroom", "church_outdoor", "tower")
] + [
    _glow("glow-cifar10", "cifar10", (32, 32, 3), 32,
          '"CIFAR-10 Quantitative result"'),
    _glow("glow-imagenet32", "downsampled_imagenet/32x32", (32, 32, 3), 48,
          '"ImageNet 32x32 Quantitative result"'),
    # --ycond --weight_y=0.01 --flow_coupling 0. Its labelled ImageNet is
    # not a TFDS dataset (downsampled_imagenet has no labels).
    _glow("glow-cifar10-ycond", "cifar10", (32, 32, 3), 32,
          '"Conditional CIFAR-10 Qualitative result"', coupling="additive",
          num_classes=10, classification_weight=0.01),
]

# Every preset by name (read-only).
PRESETS: Mapping[str, Preset] = types.MappingProxyType(
    {p.name: p for p in _PRESETS})


def get_preset(name):
  """Returns the preset called `name`.

  Args:
    name: Python `str`, a key of `PRESETS`, e.g. `"realnvp-cifar10"`.

  Returns:
    The `Preset`.

  Raises:
    ValueError: if `name` is not a preset; the message names the value and
      lists the valid names.

  #### Examples

  ```python
  flow = tfnvp.presets.get_preset("glow-imagenet32").make_flow()
  ```
  """
  try:
    return PRESETS[name]
  except (KeyError, TypeError):
    raise ValueError(f"Unknown preset name={name!r}; valid names: "
                     f"{', '.join(sorted(PRESETS))}.") from None
