"""The papers' own configurations of Real NVP [1] and Glow [2], as presets.

Each `Preset` names a dataset (a `tfnvp.data.DATASETS` key, here only a
string), its image shape, the flow's architecture (`model`, the keys of
`tfnvp.ModelConfig`) and its optimization (`train`, the keys of
`training.config.TrainConfig`), and says in `source` where every number
comes from: a section of the paper, or a file and flag of the authors' code.
`preset.make_flow()` builds the `tfnvp.RealNVP` or `tfnvp.Glow`.

Every number was read from the paper's text or the authors' code, not
written from memory (Glow's from the code only: see below). Where paper and
code disagree, the preset follows the paper (the configuration its reported
bits/dim come from) and `source` says so; where the paper is silent, the
code; where neither says anything, `source` says that too. What tfnvp cannot express (Real NVP's doubling of the coupling
networks' width at every scale, Glow's learned top prior, Glow's own Adamax
`beta_2`) is listed in `source` as well.

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
  both: affine coupling, plain (not LU) 1x1 convolutions, learned split
  priors; batch 512, adamax, learning rate 1e-3 (constant after a warm-up
  of 977 steps), l2 0, no clipping, no Polyak averaging.
```

Real NVP presets (all: `logit_alpha` 0.05, `batch_norm_momentum` 0.9):

* depth: section 3.6 and 4.1 of [1] ("repeated recursively until the input
  of the last recursion is a 4 x 4 x c tensor": 4 scales at 32x32, 5 at
  64x64; "downscale only once" for CIFAR-10: 2 scales), matching the code's
  `n_scale` in `research/real_nvp/README.md` (4 for ImageNet 32x32, 5 for
  LSUN and CelebA) and in the module docstring of
  `real_nvp_multiscale_dataset.py` (5 for ImageNet 64x64);
* width and residual blocks: section 4.1 of [1] (32 feature maps and 4
  blocks at 32x32, 2 blocks at 64x64, 64 maps and 8 blocks for CIFAR-10);
  the README's LSUN and CelebA commands use 4 blocks, and the ImageNet
  64x64 example in the docstring of `real_nvp_multiscale_dataset.py` uses
  `base_dim=8`: the presets follow the paper;
* batch 64, Adam, l2 5e-5: section 4.1 of [1] and `get_default_hparams()` in
  `real_nvp_multiscale_dataset.py` (`batch_size`, `optimizer`, `l2_coeff`);
  learning rate 1e-3 and clipping 100: that function's `learning_rate` and
  `clip_gradient` (the paper says only "ADAM with default hyperparameters");
  momentum 0.9: `decay=.1` of `batch_norm` and `batch_norm_log_diff` in
  `real_nvp_utils.py`.

Glow presets: `openai/glow` `README.md` (the "Quantitative result" commands:
`--n_level`, `--depth`, `--flow_permutation 2`, `--flow_coupling 1`,
`--learntop`, `--lr 0.001`, 8 MPI processes) and the flag defaults of
`train.py` (`--width 512`, `--n_batch_train 64` per process, `--optimizer
adamax`, `--epochs_warmup 10`, `--n_train 50000`), `optim.py` (gradients
averaged over the processes; no clipping; `--weight_decay 1.` is off) and
`model.py` (`invertible_1x1_conv` is the plain, not the LU, version). The
Glow paper's own hyperparameter table could not be read for this module: its
numbers are the code's.

Code read: `tensorflow/models` `research/real_nvp/` at 2a04fd5
(`real_nvp_multiscale_dataset.py`, `README.md`) and 5798262
(`real_nvp_utils.py`); `openai/glow` at 09211ec (`README.md`) and 1f13529
(`train.py`, `optim.py`, `model.py`).

#### Examples

```python
preset = tfnvp.presets.get_preset("realnvp-cifar10")
preset.dataset                       # "cifar10"
flow = preset.make_flow()            # the paper's tfnvp.RealNVP
tiny = preset.make_flow(hidden_channels=4, num_res_blocks=1)   # for tests
print(preset.source)                 # where every number comes from
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
import inspect
import math
import types
from typing import Mapping

from tfnvp.flows.glow import Glow
from tfnvp.flows.real_nvp import RealNVP

__all__ = ["PRESETS", "Preset", "get_preset"]

# The `model` keys of each family (`tfnvp.ModelConfig` fields) and the
# `train` keys of every preset (`training.config.TrainConfig` fields).
_MODEL_KEYS = {
    "realnvp": ("name", "num_scales", "hidden_channels", "num_res_blocks",
                "logit_alpha", "batch_norm_momentum"),
    "glow": ("name", "num_scales", "depth", "hidden_channels", "coupling",
             "lu_decomposed", "learn_prior"),
}
_TRAIN_KEYS = ("batch_size", "learning_rate", "l2", "optimizer",
               "warmup_steps", "lr_schedule", "lr_final_fraction",
               "ema_decay", "clip_norm")
_OPTIMIZERS = ("adam", "adamax")
_FLOWS = {"realnvp": RealNVP, "glow": Glow}
# Preset key -> constructor argument, where they differ.
_RENAMED = {"realnvp": {}, "glow": {"num_scales": "num_levels"}}
# Constructor arguments that are not overrides: fixed by the preset, or not
# the flow's configuration.
_NOT_OVERRIDES = ("self", "image_shape", "layers", "name")


class _ReadOnlyDict(dict):
  """A `dict` that refuses changes; copies (`dict(d)`, `d.copy()`) are plain.

  A preset's numbers are shared by every caller: none may change them for the
  others. JSON, `dataclasses.asdict`, `copy` and `pickle` see a plain dict.
  """

  def _refuse(self, *args, **kwargs):
    raise TypeError("A preset's `model` and `train` are read-only; change a "
                    "copy: `dict(preset.model)`.")

  __setitem__ = __delitem__ = __ior__ = _refuse
  clear = pop = popitem = setdefault = update = _refuse

  def __reduce__(self):
    return (dict, (dict(self),))

  def __deepcopy__(self, memo):
    return dict(self)


@dataclasses.dataclass(frozen=True)
class Preset:
  """One configuration of the Real NVP or Glow paper for one dataset.

  Args:
    name: Python `str`, e.g. `"realnvp-cifar10"`.
    dataset: Python `str`, a `tfnvp.data.DATASETS` key, e.g. `"cifar10"`.
    image_shape: `(H, W, C)` of that dataset's model inputs.
    model: `dict` of the architecture, keys among `name` (`"realnvp"` or
      `"glow"`), `num_scales` (Real NVP's scales or Glow's levels),
      `hidden_channels`, `num_res_blocks`, `logit_alpha`,
      `batch_norm_momentum` (Real NVP) and `depth`, `coupling`,
      `lu_decomposed`, `learn_prior` (Glow). Stored read-only.
    train: `dict` of the optimization, keys among `batch_size` (global),
      `learning_rate`, `l2`, `optimizer` (`"adam"` or `"adamax"`),
      `warmup_steps` (optimizer steps of linear warm-up, an `int`),
      `lr_schedule` (`"constant"`, `"cosine"` or `"exponential"` after the
      warm-up), `lr_final_fraction` (a decay's final rate over
      `learning_rate`), `ema_decay` (Polyak averaging of the weights,
      `None` for none) and `clip_norm` (global-norm gradient clipping,
      `None` for none). Stored read-only.
    source: Python `str`, where every number comes from.

  Raises:
    ValueError: for an unknown model family, `model` or `train` key, or an
      `image_shape` that is not three positive ints; the message names it.

  #### Examples

  ```python
  preset = tfnvp.presets.PRESETS["glow-cifar10"]
  preset.model["depth"], preset.train["batch_size"]   # (32, 512)
  flow = preset.make_flow(hidden_channels=4, depth=1)   # a small tfnvp.Glow
  ```
  """

  name: str
  dataset: str
  image_shape: tuple
  model: dict
  train: dict
  source: str

  def __post_init__(self):
    family = self.model.get("name")
    if family not in _MODEL_KEYS:
      raise ValueError(f"Preset {self.name!r}: `model['name']` must be one of "
                       f"{tuple(_MODEL_KEYS)}; got {family!r}.")
    for field, allowed in (("model", _MODEL_KEYS[family]),
                           ("train", _TRAIN_KEYS)):
      unknown = sorted(set(getattr(self, field)) - set(allowed))
      if unknown:
        raise ValueError(f"Preset {self.name!r}: unknown `{field}` key(s) "
                         f"{unknown}; valid: {', '.join(allowed)}.")
    optimizer = self.train.get("optimizer", "adam")
    if optimizer not in _OPTIMIZERS:
      raise ValueError(f"Preset {self.name!r}: `train['optimizer']` must be "
                       f"one of {_OPTIMIZERS}; got {optimizer!r}.")
    shape = tuple(self.image_shape)
    if len(shape) != 3 or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0
        for d in shape):
      raise ValueError(f"Preset {self.name!r}: `image_shape` must be three "
                       f"positive ints (H, W, C); got {self.image_shape!r}.")
    object.__setattr__(self, "image_shape", shape)
    object.__setattr__(self, "model", _ReadOnlyDict(self.model))
    object.__setattr__(self, "train", _ReadOnlyDict(self.train))

  def make_flow(self, **overrides):
    """The preset's `tfnvp.RealNVP` or `tfnvp.Glow` on `image_shape`.

    Args:
      **overrides: replace the preset's `model` values (e.g.
        `hidden_channels=4` for a fast test; `num_scales` is Glow's levels
        too) or set other constructor arguments of the flow (`dtype`,
        `training`, `validate_args`, `batch_norm_epsilon` for Real NVP,
        `seed` for Glow).

    Returns:
      A `tfnvp.RealNVP` (`model['name'] == "realnvp"`) or `tfnvp.Glow`, in
      inference mode unless `training=True` is given.

    Raises:
      ValueError: for an override key that the preset's flow does not take
        (the message names it and lists the valid ones), and as the flow's
        constructor raises for invalid values (e.g. a depth too deep for
        `image_shape`).
    """
    family = self.model["name"]
    renamed = _RENAMED[family]
    valid = _override_keys(family)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
      hint = (" (Glow's levels are `num_scales`)"
              if family == "glow" and "num_levels" in unknown else "")
      raise ValueError(
          f"Unknown override(s) {', '.join(repr(k) for k in unknown)} for "
          f"preset {self.name!r} ({family}){hint}; valid: "
          f"{', '.join(sorted(valid))}.")
    kwargs = {k: v for k, v in self.model.items() if k != "name"}
    kwargs.update(overrides)
    kwargs = {renamed.get(k, k): v for k, v in kwargs.items()}
    return _FLOWS[family](self.image_shape, **kwargs)


def _override_keys(family):
  """The keys `Preset.make_flow` accepts for `family`."""
  params = inspect.signature(_FLOWS[family]).parameters
  renamed = _RENAMED[family]
  inverse = {v: k for k, v in renamed.items()}
  return tuple(inverse.get(p, p) for p in params if p not in _NOT_OVERRIDES)


# ---------------------------------------------------------------------------
# Real NVP [1]. The paper: section 3.6 (multi-scale architecture), 4.1
# (procedure), Table 1 (results). The code: tensorflow/models
# research/real_nvp/ (real_nvp_multiscale_dataset.py, README.md,
# real_nvp_utils.py).

_RNVP_COMMON = """\
Every Real NVP preset. Code: tensorflow/models research/real_nvp/,
real_nvp_multiscale_dataset.py get_default_hparams() (the hparams), README.md
(the commands), real_nvp_utils.py (batch norm).
* logit_alpha=0.05: paper section 4.1 ("alpha is picked here as .05").
  Paper and code disagree on the map: the paper writes logit(alpha + (1 -
  alpha) x / 256), the code (hparam data_constraint=.9) computes
  logit(alpha + (1 - 2 alpha) x / 256) with alpha = (1 - .9) / 2 = .05.
  tfnvp.bijectors.LogitTransform uses the code's symmetric map; the number
  is 0.05 either way.
* batch_norm_momentum=0.9: code only. real_nvp_utils.py batch_norm and
  batch_norm_log_diff: decay=.1, i.e. moving = 0.9 moving + 0.1 batch in
  tfnvp's momentum convention; DEFAULT_BN_LAG = .0, so training normalizes
  with the plain batch statistics, as tfnvp does. The paper (section 3.7,
  Appendix E) describes a running average over recent minibatches in
  training; its Appendix E, and any momentum it states, could not be read
  for this module.
* batch_size=64: paper section 4.1 ("We use a batch size of 64") and
  get_default_hparams() batch_size=64.
* optimizer="adam", learning_rate=1e-3: paper section 4.1 ("ADAM with default
  hyperparameters", i.e. 1e-3) and get_default_hparams() optimizer="adam",
  learning_rate=0.001 (beta1 = 1 - momentum=1e-1 = 0.9, beta2 = 1 -
  decay=1e-3 = 0.999, epsilon 1e-8; Keras's Adam has epsilon 1e-7).
* l2=5e-5: paper section 4.1 ("L2 regularization on the weight scale
  parameters with coefficient 5 * 10^-5") and get_default_hparams()
  l2_coeff=0.00005. The code penalizes the weight-norm "magnitude" variables
  and the checkerboard couplings' tanh scale "rescaling_scale" (the
  channel-wise couplings' tanh scale is named "scale" and escapes it);
  tfnvp's l2 takes the weight-norm scales and all tanh scales.
* clip_norm=100: code only, get_default_hparams() clip_gradient=100. (global
  norm, tf.clip_by_global_norm), also given in every README.md command; the
  paper does not mention clipping.
* warmup_steps=0: neither the paper nor the code has a warm-up (the code's
  learning rate is constant).
* lr_schedule="constant", ema_decay=None: real_nvp_multiscale_dataset.py
  passes the fixed hps.learning_rate to tf.compat.v1.train.AdamOptimizer
  (no decay) and keeps no moving average of the weights (evaluate()
  restores the trained variables with a plain Saver).
* Not expressible in tfnvp: paper section 3.6 ("as the spatial resolution is
  reduced, the number of hidden layer features in s and t is doubled") and
  the code (rec_masked_conv_coupling: dim = base_dim * 2 ** scale_idx, and
  2 * dim in the channel-wise couplings) widen the coupling networks at
  every scale; tfnvp.RealNVP has one width, so hidden_channels is the
  paper's first-scale (checkerboard) width and the coarser scales are
  narrower than the paper's.
* Training length: not given by the paper; the code runs --train_steps
  steps (default 10), with no value for the paper's runs."""

_RNVP_32 = """\
* num_scales=4: paper section 4.1 ("repeated recursively until the input of
  the last recursion is a 4 x 4 x c tensor": 32 / 2^3 = 4) and README.md's
  ImageNet 32x32 command (--hpconfig=n_scale=4,...).
* hidden_channels=32, num_res_blocks=4: paper section 4.1 ("For datasets of
  images of size 32 x 32, we use 4 residual blocks with 32 hidden feature
  maps") and README.md's ImageNet 32x32 command (base_dim=32,
  residual_blocks=4, clip_gradient=100)."""

_RNVP_64 = """\
* num_scales=5: paper section 4.1 (last recursion on 4 x 4 x c: 64 / 2^4 =
  4), README.md's LSUN and CelebA commands (n_scale=5) and the module
  docstring's ImageNet 64x64 example of real_nvp_multiscale_dataset.py
  (--image_size 64 --hpconfig=n_scale=5,base_dim=8 --dataset imnet).
* num_res_blocks=2: paper section 4.1 ("Only 2 residual blocks are used for
  images of size 64 x 64"). Disagreement: README.md's LSUN and CelebA
  commands use residual_blocks=4 (the docstring's ImageNet 64x64 example
  leaves the default, 2). The preset follows the paper, whose Table 1
  results come from its stated configuration; the README presents its
  commands as examples.
* hidden_channels=32: paper section 4.1 states 32 feature maps for 32x32
  images and changes only the block count for 64x64 ("Only 2 residual
  blocks"); README.md's LSUN and CelebA commands agree (base_dim=32), the
  docstring's ImageNet 64x64 example uses base_dim=8. The preset reads the
  paper as keeping 32, which is an interpretation: the paper does not
  repeat the number for 64x64."""


def _realnvp(name, dataset, image_shape, num_scales, hidden_channels,
             num_res_blocks, specific):
  return Preset(
      name=name, dataset=dataset, image_shape=image_shape,
      model=dict(name="realnvp", num_scales=num_scales,
                 hidden_channels=hidden_channels,
                 num_res_blocks=num_res_blocks, logit_alpha=0.05,
                 batch_norm_momentum=0.9),
      train=dict(batch_size=64, learning_rate=1e-3, l2=5e-5,
                 optimizer="adam", warmup_steps=0, lr_schedule="constant",
                 ema_decay=None, clip_norm=100.0),
      source=f"{specific}\n{_RNVP_COMMON}")


_REALNVP_PRESETS = [
    _realnvp(
        "realnvp-cifar10", "cifar10", (32, 32, 3), 2, 64, 8, """\
Real NVP on CIFAR-10 (paper Table 1: 3.49 bits/dim on the test set).
* num_scales=2, hidden_channels=64, num_res_blocks=8: paper section 4.1
  ("For CIFAR-10, we use 8 residual blocks, 64 feature maps, and downscale
  only once"). "Downscale only once" is read as one squeeze between scales:
  2 scales, the last on 16 x 16 x 6.
* The released code has no CIFAR-10 option (--dataset is imnet, celeba or
  lsun): the numbers below from the code are its defaults, not a CIFAR-10
  command."""),
    _realnvp(
        "realnvp-imagenet32", "downsampled_imagenet/32x32", (32, 32, 3), 4,
        32, 4, f"""\
Real NVP on downsampled ImageNet 32x32 (paper Table 1: 4.28 bits/dim on
validation).
{_RNVP_32}"""),
    _realnvp(
        "realnvp-imagenet64", "downsampled_imagenet/64x64", (64, 64, 3), 5,
        32, 2, f"""\
Real NVP on downsampled ImageNet 64x64 (paper Table 1: 3.98 bits/dim on
validation).
{_RNVP_64}"""),
    _realnvp(
        "realnvp-celeba", "celeb_a", (64, 64, 3), 5, 32, 2, f"""\
Real NVP on CelebA, 148x148 central crop resized to 64x64 (paper section
4.1; Table 1: 3.02 bits/dim on validation).
{_RNVP_64}"""),
] + [
    _realnvp(
        f"realnvp-lsun-{category}", f"lsun/{category}", (64, 64, 3), 5, 32,
        2, f"""\
Real NVP on LSUN {category}, one model per category as in the paper
(section 4.1: "we train on the bedroom, tower and church outdoor
categories"; Table 1 reports each: {bpd} bits/dim on validation) and the
code (README.md prepares and trains each category separately).
{_RNVP_64}""")
    for category, bpd in (("bedroom", "2.72"), ("church_outdoor", "3.08"),
                          ("tower", "2.81"))
]

# ---------------------------------------------------------------------------
# Glow [2]. The code: openai/glow README.md (commands), train.py (flags),
# optim.py (optimizer), model.py (architecture).

_GLOW_GPUS = 8              # README.md: `mpiexec -n 8 python train.py ...`
_GLOW_BATCH_PER_GPU = 64    # train.py --n_batch_train (per MPI process)
_GLOW_N_TRAIN = 50_000      # train.py --n_train ("Train epoch size")
_GLOW_EPOCHS_WARMUP = 10    # train.py --epochs_warmup
_GLOW_BATCH = _GLOW_GPUS * _GLOW_BATCH_PER_GPU
# train.py: lr = lr0 * min(1, n_processed / (n_train * epochs_warmup)), and
# n_processed grows by hvd.size() * n_batch_train per step.
_GLOW_WARMUP_STEPS = math.ceil(_GLOW_N_TRAIN * _GLOW_EPOCHS_WARMUP /
                               _GLOW_BATCH)

_GLOW_COMMON = """\
Every Glow preset: openai/glow's README.md command (above) with train.py's
flag defaults for the flags it does not give.
* hidden_channels=512: train.py --width default 512 (the commands do not set
  it).
* coupling="affine": --flow_coupling 1 ("0=additive, 1=affine").
* lu_decomposed=False: --flow_permutation 2 (invconv); model.py
  invertible_1x1_conv runs the plain W (`if True:  # Set to "False" to use
  the LU-decomposed version`), log|det W| by tf.matrix_determinant. The
  paper's section 3.2 presents the LU parameterization; which one its
  experiments used could not be checked here, so the preset follows the
  code that the commands run.
* learn_prior=True: model.py split2d_prior, a zero-initialized convolution
  of the kept half giving the mean and log-scale of the factored-out half,
  at every split, whatever the flags. Not expressible in tfnvp: --learntop
  (model.py prior()) also learns a per-position mean and log-scale of the
  top latent; tfnvp.Glow's top latent is N(0, I).
* batch_size=512: the commands run 8 processes (mpiexec -n 8), each with
  train.py --n_batch_train 64 (at 32x32, --anchor_size 32 leaves it at 64);
  optim.py averages the gradients over the processes (Z.allreduce_mean), so
  a step sees 8 x 64 = 512 images.
* optimizer="adamax": train.py --optimizer default "adamax" (the commands do
  not set it); optim.py adamax. Not expressible in tfnvp's train dict:
  there beta1 = 0.9 (--beta1) but beta2 = 1 - 1 / (train_its *
  polyak_epochs) = 1 - 1/98 (train_its = ceil(50000 / 512) = 98), epsilon
  1e-8, and a bias correction alpha * sqrt(1 - beta2^t) / (1 - beta1^t);
  Keras's Adamax uses beta_2 0.999 and epsilon 1e-7. (optim.py also keeps a
  Polyak average with decay beta2, but train.py's model.polyak_swap() calls
  are commented out.)
* learning_rate=1e-3: the commands' --lr 0.001 (also train.py's default).
* lr_schedule="constant": after the warm-up below, train.py's lr stays lr0
  (no decay).
* ema_decay=None: optim.py's Polyak average is not used, train.py's
  polyak_swap() calls being commented out (above).
* warmup_steps=977: train.py sets lr = lr0 * min(1, n_processed / (n_train *
  epochs_warmup)), n_processed growing by 8 x 64 = 512 a step, with
  --epochs_warmup 10 and --n_train 50000 (the commands set neither, so an
  "epoch" is 50,000 images, for ImageNet too): a warm-up over 10 x 50,000 =
  500,000 images, ceil(500,000 / 512) = 977 optimizer steps at batch 512. A
  linear ramp like tfnvp's (whose first step uses lr0 / 977 where the
  code's uses 0).
* l2=0.0: train.py --weight_decay default 1. ("Switched off by default";
  optim.py multiplies the weights by it) and no other penalty.
* clip_norm=None: optim.py clips no gradient.
* Training length: train.py --epochs default 1000000 (run until stopped);
  not a preset number.
* Paper: the Glow paper's hyperparameter table (secondary sources call it
  Table 4; y0ast/Glow-PyTorch's README says the paper used batch 512 on 8
  GPUs) and its optimizer statement could not be read from the stored
  copies, so no number here is checked against the paper's text."""


def _glow(name, dataset, image_shape, depth, specific):
  return Preset(
      name=name, dataset=dataset, image_shape=image_shape,
      model=dict(name="glow", num_scales=3, depth=depth,
                 hidden_channels=512, coupling="affine",
                 lu_decomposed=False, learn_prior=True),
      train=dict(batch_size=_GLOW_BATCH, learning_rate=1e-3, l2=0.0,
                 optimizer="adamax", warmup_steps=_GLOW_WARMUP_STEPS,
                 lr_schedule="constant", ema_decay=None, clip_norm=None),
      source=f"{specific}\n{_GLOW_COMMON}")


_GLOW_PRESETS = [
    _glow("glow-cifar10", "cifar10", (32, 32, 3), 32, """\
Glow on CIFAR-10, openai/glow README.md "CIFAR-10 Quantitative result":
`mpiexec -n 8 python train.py --problem cifar10 --image_size 32 --n_level 3
--depth 32 --flow_permutation 2 --flow_coupling 1 --seed 0 --learntop --lr
0.001 --n_bits_x 8`.
* num_scales=3 (levels): --n_level 3 (argparse's prefix match for train.py's
  --n_levels).
* depth=32: --depth 32."""),
    _glow("glow-imagenet32", "downsampled_imagenet/32x32", (32, 32, 3), 48,
          """\
Glow on downsampled ImageNet 32x32 (the PixelRNN/Real NVP version,
"imagenet-oord"), openai/glow README.md "ImageNet 32x32 Quantitative result":
`mpiexec -n 8 python train.py --problem imagenet-oord --image_size 32
--n_level 3 --depth 48 --flow_permutation 2 --flow_coupling 1 --seed 0
--learntop --lr 0.001 --n_bits_x 8`.
* num_scales=3 (levels): --n_level 3 (argparse's prefix match for train.py's
  --n_levels).
* depth=48: --depth 48."""),
]

# Every preset by name (read-only).
PRESETS: Mapping[str, Preset] = types.MappingProxyType(
    {p.name: p for p in _REALNVP_PRESETS + _GLOW_PRESETS})


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
