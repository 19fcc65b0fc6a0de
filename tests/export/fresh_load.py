"""Runs every signature of a SavedModel in a process without tfnvp.

python fresh_load.py SAVED_MODEL INPUTS.npz OUTPUTS.npz

`INPUTS.npz` holds `<signature>/<input>` arrays; each signature present is
called through `tf.saved_model.load(...).signatures` and its outputs are
written as `<signature>/<output>`. Importing tfnvp, Keras or TensorFlow
Probability raises ImportError here, so the model must load without them.
"""

import importlib.abc
import importlib.util
import sys

BLOCKED = ("tfnvp", "keras", "tf_keras", "tensorflow_probability", "training",
           "export")


class _Blocker(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Finds the blocked packages, and fails when they are imported.

  (Finding must succeed: TensorFlow looks Keras up without importing it.)
  """

  def find_spec(self, fullname, path=None, target=None):
    del path, target
    if fullname.split(".")[0] in BLOCKED:
      return importlib.util.spec_from_loader(fullname, self)
    return None

  def create_module(self, spec):
    raise ImportError(f"{spec.name} is blocked in this process")

  def exec_module(self, module):
    raise ImportError(f"{module.__name__} is blocked in this process")


sys.meta_path.insert(0, _Blocker())

# Imported after the blocker is installed.
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position


def main(saved_model, inputs_path, outputs_path):
  signatures = tf.saved_model.load(saved_model).signatures
  inputs = np.load(inputs_path)
  calls = {}
  for key in inputs.files:
    signature, name = key.split("/")
    calls.setdefault(signature, {})[name] = tf.constant(inputs[key])
  outputs = {}
  for signature, kwargs in calls.items():
    for name, value in signatures[signature](**kwargs).items():
      outputs[f"{signature}/{name}"] = value.numpy()
  loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
  if loaded:
    raise RuntimeError(f"blocked modules were imported: {loaded}")
  np.savez(outputs_path, **outputs)


if __name__ == "__main__":
  main(*sys.argv[1:])
