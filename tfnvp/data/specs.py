"""The supported TFDS image datasets and how each becomes model inputs.

A `DatasetSpec` names a dataset, the shape of its model inputs, its splits
and its preprocessing (see `tfnvp.data.preprocessing` for the choices made
for the paper's datasets). This module does not need TensorFlow Datasets:
`DATASETS` and `get_spec` work without the `data` extra.
"""

import dataclasses
from types import MappingProxyType
from typing import Mapping

from tfnvp.internal.shapes import check_image_shape

__all__ = ["DATASETS", "DatasetSpec", "get_spec"]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """How one TFDS dataset is turned into model inputs.

  Preprocessing runs in this order: `crop_box` (if set), resize so that
  the smaller side equals `resize_smaller_side` (if set), a crop to
  `image_shape` (random in training, central in evaluation; only when
  `resize_smaller_side` is set), then a random horizontal flip (training
  only, if `horizontal_flip`).

  Attributes:
    name: TFDS name, including the config if any (`"lsun/bedroom"`).
    image_shape: `(height, width, channels)` of the model input.
    train_split: TFDS split used for training.
    eval_split: TFDS split used for evaluation (the one the paper
      reports on, where known).
    horizontal_flip: Whether training uses random horizontal flips.
    crop_box: Optional `(offset_height, offset_width, height, width)`
      crop applied to the stored image first.
    resize_smaller_side: Optional target length of the smaller image side
      (aspect ratio kept) after `crop_box`.
    notes: Free-text provenance of the choices above.
  """

  name: str
  image_shape: tuple[int, int, int]
  train_split: str
  eval_split: str
  horizontal_flip: bool
  crop_box: tuple[int, int, int, int] | None = None
  resize_smaller_side: int | None = None
  notes: str = ""

  def __post_init__(self) -> None:
    check_image_shape(self.image_shape)
    if self.crop_box is not None and (
        len(self.crop_box) != 4
        or min(self.crop_box[:2]) < 0
        or min(self.crop_box[2:]) <= 0
    ):
      raise ValueError(f"invalid crop_box {self.crop_box!r}")
    if self.resize_smaller_side is not None and self.resize_smaller_side < max(
        self.image_shape[:2]
    ):
      raise ValueError(
          f"resize_smaller_side={self.resize_smaller_side} is smaller than "
          f"the target image size {self.image_shape[:2]}"
      )

  @property
  def num_dims(self) -> int:
    """Number of scalar dimensions of one image (`H * W * C`)."""
    height, width, channels = self.image_shape
    return height * width * channels


def _build_specs() -> Mapping[str, DatasetSpec]:
  specs = [
      DatasetSpec(
          name=name,
          image_shape=(28, 28, 1),
          train_split="train",
          eval_split="test",
          horizontal_flip=False,
          notes="Not in the Real NVP paper; no flips.",
      )
      for name in ("mnist", "fashion_mnist")
  ]
  specs += [
      DatasetSpec(
          name="cifar10",
          image_shape=(32, 32, 3),
          train_split="train",
          eval_split="test",
          horizontal_flip=True,
          notes="Paper: random horizontal flips for CIFAR-10.",
      ),
      DatasetSpec(
          name="celeb_a",
          image_shape=(64, 64, 3),
          train_split="train",
          # The authors' code evaluates on 19962 images: the CelebA test
          # partition (validation has 19867).
          eval_split="test",
          horizontal_flip=True,
          # 218x178 aligned images; rows 40..187 and columns 15..162 as in
          # the authors' code ("approximately central crop of 148x148").
          crop_box=(40, 15, 148, 148),
          resize_smaller_side=64,
          notes="Paper: approximately central 148x148 crop resized to 64x64; "
          "flips as in the authors' code.",
      ),
  ]
  for size in (32, 64):
    specs.append(
        DatasetSpec(
            name=f"downsampled_imagenet/{size}x{size}",
            image_shape=(size, size, 3),
            train_split="train",
            eval_split="validation",
            horizontal_flip=False,
            notes="Paper: downsampled ImageNet used as is; the authors' "
            "code does not flip it.",
        )
    )
  for category in ("bedroom", "church_outdoor", "tower"):
    specs.append(
        DatasetSpec(
            name=f"lsun/{category}",
            image_shape=(64, 64, 3),
            train_split="train",
            eval_split="validation",
            horizontal_flip=True,
            resize_smaller_side=96,
            notes="Paper: smaller side downscaled to 96, random 64x64 "
            "crops (central crop for evaluation here, to make it "
            "deterministic); flips as in the authors' code.",
        )
    )
  return MappingProxyType({spec.name: spec for spec in specs})


# Supported datasets: TFDS name -> `DatasetSpec` (read-only mapping).
DATASETS: Mapping[str, DatasetSpec] = _build_specs()


def get_spec(name: str) -> DatasetSpec:
  """Returns the `DatasetSpec` of a supported dataset.

  Args:
    name: TFDS name, e.g. `"mnist"` or `"lsun/bedroom"`.

  Returns:
    The dataset's spec.

  Raises:
    ValueError: If `name` is not in `DATASETS`.
  """
  try:
    return DATASETS[name]
  except (KeyError, TypeError):
    raise ValueError(
        f"Unknown dataset name={name!r}; supported: "
        f"{', '.join(sorted(DATASETS))}"
    ) from None
