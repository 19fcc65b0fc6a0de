"""TFDS image datasets as model inputs: specs, preparation and pipelines.

The pipelines yield batches of float32 images of shape `[batch, H, W, C]`
with values in `[0, 256)`: the raw 8-bit pixel values plus uniform
dequantization noise `u ~ U[0, 1)`, or `(images, labels)` batches for
class-conditional flows (`make_dataset(..., labels=True)`). Scaling to
`[0, 1)` and the logit transform of the Real NVP paper belong to the model,
not to this package.

* `specs`: the supported datasets, `DATASETS` and `get_spec`.
* `preprocessing`: `dequantize` and `preprocess_image` (the paper's crops,
  resizes and flips).
* `preparation`: `prepare` with TFDS, offline from `resolve_raw_data_dir`.
* `pipelines`: `make_dataset` and `pixel_batches`.

`preparation` and `pipelines` need TensorFlow Datasets, the `data` extra
(`pip install "tfnvp[data]"`); their names load on first use, so the specs
and the preprocessing work without it. Without it, using one of them raises
an `ImportError` that says so.

#### Examples

```python
from tfnvp import data
data.get_spec("mnist").image_shape             # (28, 28, 1), no TFDS needed
train = data.make_dataset("mnist", "train", 64, training=True, seed=1)
```
"""

import importlib

from tfnvp.data.preprocessing import MAX_DEQUANTIZED_VALUE
from tfnvp.data.preprocessing import dequantize
from tfnvp.data.preprocessing import preprocess_image
from tfnvp.data.specs import DATASETS
from tfnvp.data.specs import DatasetSpec
from tfnvp.data.specs import get_spec

__all__ = [
    "DATASETS",
    "DEFAULT_EVAL_SEED",
    "DatasetSpec",
    "MAX_DEQUANTIZED_VALUE",
    "RAW_DATA_DIR_ENV",
    "dequantize",
    "get_spec",
    "make_dataset",
    "num_classes",
    "pixel_batches",
    "prepare",
    "preprocess_image",
    "resolve_raw_data_dir",
]

# The names of the modules that import TensorFlow Datasets: name -> module.
_TFDS_NAMES = {
    "DEFAULT_EVAL_SEED": "pipelines",
    "RAW_DATA_DIR_ENV": "preparation",
    "make_dataset": "pipelines",
    "num_classes": "pipelines",
    "pixel_batches": "pipelines",
    "prepare": "preparation",
    "resolve_raw_data_dir": "preparation",
}


def __getattr__(name):
  """Loads the names of `preparation` and `pipelines` on first use."""
  module_name = _TFDS_NAMES.get(name)
  if module_name is None:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  try:
    module = importlib.import_module(f"{__name__}.{module_name}")
  except ModuleNotFoundError as err:
    if err.name != "tensorflow_datasets":
      raise
    raise ImportError(
        f"tfnvp.data.{name} needs TensorFlow Datasets, which is not "
        'installed: pip install "tfnvp[data]"') from err
  return getattr(module, name)


def __dir__():
  return sorted(set(globals()) | set(__all__))
