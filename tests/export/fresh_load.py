"""Runs every signature of a SavedModel, through both of TF's loaders, in a
process without tfnvp.

python fresh_load.py SAVED_MODEL INPUTS.npz OUTPUTS.npz [SESSION_REQUESTS]

`INPUTS.npz` holds `<request>/<input>` arrays, a request being a signature's
name, or `<signature>@<variant>` for another request of the same signature.
Each request is called through `tf.saved_model.load(...).signatures` (the `object` loader)
and run in a TF1 session loaded by `tf.compat.v1.saved_model.loader.load`,
fed and fetched by tensor name (the `session` loader: the loading path of
TF Serving's C++ server, run as `saved_model_cli run` runs it); the outputs
are written as `<loader>/<request>/<output>`. `SESSION_REQUESTS`, a
comma-separated list, limits the `session` loader to those requests. Importing tfnvp, Keras or
TensorFlow Probability raises ImportError here, so the model must load
without them.
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


def _signature(request):
  return request.split("@")[0]


def _run_objects(saved_model, calls):
  signatures = tf.saved_model.load(saved_model).signatures
  return {request: {name: value.numpy() for name, value in
                    signatures[_signature(request)](**{
                        k: tf.constant(v) for k, v in kwargs.items()
                    }).items()}
          for request, kwargs in calls.items()}


def _run_session(saved_model, calls):
  outputs = {}
  with tf.compat.v1.Session(graph=tf.Graph()) as session:
    meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"],
                                                      saved_model)
    for request, kwargs in calls.items():
      definition = meta_graph.signature_def[_signature(request)]
      names = sorted(definition.outputs)
      values = session.run(
          [definition.outputs[name].name for name in names],
          feed_dict={definition.inputs[k].name: v for k, v in kwargs.items()})
      outputs[request] = dict(zip(names, values))
  return outputs


def main(saved_model, inputs_path, outputs_path, session_requests=None):
  inputs = np.load(inputs_path)
  calls = {}
  for key in inputs.files:
    signature, name = key.split("/")
    calls.setdefault(signature, {})[name] = inputs[key]
  outputs = {}
  session_calls = calls if session_requests is None else {
      request: calls[request] for request in session_requests.split(",")}
  for loader, run, requests in (("object", _run_objects, calls),
                                ("session", _run_session, session_calls)):
    for signature, values in run(saved_model, requests).items():
      for name, value in values.items():
        outputs[f"{loader}/{signature}/{name}"] = value
  loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
  if loaded:
    raise RuntimeError(f"blocked modules were imported: {loaded}")
  np.savez(outputs_path, **outputs)


if __name__ == "__main__":
  main(*sys.argv[1:])
