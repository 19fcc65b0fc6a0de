"""tfnvp: Real NVP and Glow normalizing flows for TensorFlow Probability.

```python
import tfnvp
flow = tfnvp.RealNVP(image_shape=(28, 28, 1), num_scales=2)   # or tfnvp.Glow
config = tfnvp.RealNVPConfig.from_flow(flow)   # its keywords, as a record
bpd = tfnvp.bits_per_dim(flow, images)   # dequantized pixels in [0, 256)
model = tfnvp.FlowModel(flow)            # Keras: compile, fit, save, load_model
score = tfnvp.ood_score(flow, uint8_images)   # outlier score, tfnvp.ood
```

`tfnvp.data` (the TFDS datasets) is not imported here; its preparation and
pipelines need the `data` extra.

The apps install with the library: `tfnvp.training` (`tfnvp-train`,
`tfnvp-evaluate`) and `tfnvp.export` (`tfnvp-export`, the serving clients).
"""

# pylint: disable=g-import-not-at-top,wrong-import-position
from tfnvp.internal.startup import quiet_start as _quiet_start

with _quiet_start():
  import keras as _keras
  import tensorflow as _tf
  _tf.config.list_physical_devices()

if _keras.backend.backend() != "tensorflow":
  raise ImportError(
      "tfnvp needs the TensorFlow backend of Keras 3; KERAS_BACKEND is "
      f"{_keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow.")

from tfnvp import averaging
from tfnvp import bijectors
from tfnvp import flows
from tfnvp import guidance
from tfnvp import networks
from tfnvp import ood
from tfnvp import presets
from tfnvp import runs
from tfnvp import schedules
from tfnvp.flows.config import FlowConfig
from tfnvp.flows.glow import Glow
from tfnvp.flows.glow import GlowConfig
from tfnvp.flows.real_nvp import RealNVP
from tfnvp.flows.real_nvp import RealNVPConfig
from tfnvp.metrics import bits_per_dim
from tfnvp.model import FlowModel
from tfnvp.optimization import OptimizationConfig
from tfnvp.ood import OutlierCalibration
from tfnvp.ood import TypicalSet
from tfnvp.ood import complexity_bits_per_dim
from tfnvp.ood import ood_score
from tfnvp.sampling import sample_at_temperature
from tfnvp.sampling import to_uint8
from tfnvp.version import __version__

__all__ = [
    "__version__",
    "FlowConfig",
    "FlowModel",
    "Glow",
    "GlowConfig",
    "OptimizationConfig",
    "OutlierCalibration",
    "RealNVP",
    "RealNVPConfig",
    "TypicalSet",
    "averaging",
    "bijectors",
    "bits_per_dim",
    "complexity_bits_per_dim",
    "flows",
    "guidance",
    "networks",
    "ood",
    "ood_score",
    "presets",
    "runs",
    "sample_at_temperature",
    "schedules",
    "to_uint8",
]
