"""Speed, memory and FLOP-rate benchmark of `tfnvp.RealNVP` vs TFP's `tfb.Glow`.

Both models are 2-level flows over dequantized 28x28x1 images (uniform noise in
`[0, 256)`; `tfnvp` applies its logit preprocessing, `tfb.Glow` has none and
gets the same tensor: this does not change the work done). For each
configuration (coupling-network width and depth), model and XLA setting, one
worker subprocess measures

* training images/s: `-mean(log_prob)`, its gradient and an Adam step
  (`tfnvp` uses `flow.copy(training=True)`, batch statistics);
* `log_prob` images/s (inference mode, no gradient);
* `sample` images/s;
* the parameter count, the worker's peak RSS (`ru_maxrss`) and the
  seconds spent tracing and compiling;
* the forward FLOPs per image of the convolutions and matrix products in the
  traced `log_prob` graph (`2 * H * W * Cin * Cout * k * k` per convolution,
  from the static shapes of the graph's `Conv2D`/`MatMul`/`BatchMatMul` ops),
  hence the training GFLOP/s (training = 3x forward: the backward pass costs
  ~2x the forward one);
* the rate of a reference convolution on this CPU, in the networks'
  precision (float32 unless a spec says `network_dtype`; 3x3, 64 -> 64
  channels, batch 64, 28x28, forward + backward), timed in the same rounds.

Within a worker the measurements are interleaved: every round times each of
them once (in a rotating order), and the reported figure is the median over
rounds, after a warm-up call. The machine may be shared, so compare figures
of one run only; the reference-conv column shows how fast the CPU was during
each worker.

`tfb.Glow` uses its default coupling network `tfb.GlowDefaultNetwork` (3x3
conv, 1x1 conv, 3x3 conv) with `num_hidden` equal to tfnvp's
`hidden_channels`; `num_steps_per_block` is chosen so that its parameter
count is as close as possible to tfnvp's. Deep Glows take minutes to trace,
so the depth is capped (`--glow-max-steps`); when the cap binds, the table
adds an estimate of Glow at the matched parameter count, scaling its times
linearly with the number of steps (its steps are identical and run one after
the other).

Usage (from the repository root):

  PYTHONPATH=. python bench/benchmark.py                 # full run
  PYTHONPATH=. python bench/benchmark.py --quick         # smoke run
  PYTHONPATH=. python bench/benchmark.py --write BENCHMARKS.md
"""

import argparse
import dataclasses
import datetime
import functools
import json
import math
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time

__all__ = [
    "CONFIGS",
    "Config",
    "Settings",
    "build_model",
    "case_value",
    "command_line",
    "contraction_flops",
    "cpu_model",
    "fmt_number",
    "format_report",
    "format_table",
    "main",
    "measure",
    "on_off",
    "plan",
    "ratio",
    "run_benchmark",
    "run_worker",
    "summarize",
    "time_interleaved",
    "write_section",
]

IMAGE_SHAPE = (28, 28, 1)
NUM_SCALES = 2
GLOW = "tfb.Glow"
TFNVP = "tfnvp"
TFNVP_GLOW = "tfnvp.Glow"
# Reference convolution: [batch, size, size, channels] input, 3x3 kernel.
REF_BATCH, REF_SIZE, REF_CHANNELS = 64, 28, 64
REF_FLOPS = 2 * REF_BATCH * REF_SIZE * REF_SIZE * REF_CHANNELS**2 * 9


@dataclasses.dataclass(frozen=True)
class Config:
  """Width and depth of the coupling networks, and a cap on Glow's depth.

  `glow_max_steps` bounds Glow's `num_steps_per_block` (`None`: match tfnvp's
  parameter count exactly). Matching h64-r4 takes 159 steps per block, whose
  tracing and compilation alone would take about half an hour.
  """

  name: str
  hidden_channels: int
  num_res_blocks: int
  glow_max_steps: int | None = None


CONFIGS = {c.name: c for c in (Config("h32-r2", 32, 2),
                               Config("h64-r4", 64, 4, glow_max_steps=32))}


@dataclasses.dataclass(frozen=True)
class Settings:
  """Batch sizes, repetitions and budgets of a run.

  Attributes:
    train_batch: batch of the training step.
    eval_batch: batch of `log_prob`.
    sample_batch: samples drawn per `sample` call.
    reps: timed rounds per worker (fewer if a round is slow, see
      `round_budget_seconds`, but at least `min_reps`).
    min_reps: minimum number of timed rounds.
    round_budget_seconds: target duration of all timed rounds of a worker.
    min_call_seconds: a timed sample repeats a fast call until it lasts this
      long.
    glow_max_steps: cap on Glow's `num_steps_per_block` for every config
      (`0`: no cap), or `None` for each config's `glow_max_steps`.
  """

  train_batch: int = 64
  eval_batch: int = 256
  sample_batch: int = 64
  reps: int = 5
  min_reps: int = 3
  round_budget_seconds: float = 45.0
  min_call_seconds: float = 0.3
  glow_max_steps: int | None = None


QUICK = Settings(train_batch=16, eval_batch=32, sample_batch=16, reps=2,
                 min_reps=2, round_budget_seconds=10.0, glow_max_steps=4)


# --------------------------------------------------------------------------
# Worker side: everything that imports TensorFlow.


def _import_tf():
  """Imports the TensorFlow stack (in workers only)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top
  return tf, tfp, keras


def _onednn_enabled():
  """Whether TF's oneDNN CPU kernels are on in this process.

  TF decides once, at import: `TF_ENABLE_ONEDNN_OPTS` if set, else on for
  CPUs with AVX-512 VNNI/BF16 or AMX.
  """
  _import_tf()
  from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
  return bool(_pywrap_util_port.IsMklEnabled())


def _num_params(variables):
  return int(sum(math.prod(v.shape) for v in variables))


def _build_tfnvp(hidden_channels, num_res_blocks, network_dtype=None):
  """Returns `(eval_dist, train_dist, trainable_variables)`."""
  import tfnvp  # pylint: disable=g-import-not-at-top
  flow = tfnvp.RealNVP(image_shape=IMAGE_SHAPE, num_scales=NUM_SCALES,
                       hidden_channels=hidden_channels,
                       num_res_blocks=num_res_blocks,
                       network_dtype=network_dtype)
  return flow, flow.copy(training=True), flow.trainable_variables


def _build_tfnvp_glow(hidden_channels, depth, network_dtype=None):
  """Returns `(eval_dist, train_dist, trainable_variables)` of `tfnvp.Glow`.

  Its actnorms initialize in the first call of the training copy, i.e. in
  the training step's first (untimed) call.
  """
  import tfnvp  # pylint: disable=g-import-not-at-top
  flow = tfnvp.Glow(image_shape=IMAGE_SHAPE, num_levels=NUM_SCALES,
                    depth=depth, hidden_channels=hidden_channels, seed=0,
                    network_dtype=network_dtype)
  return flow, flow.copy(training=True), flow.trainable_variables


def _build_glow(hidden_channels, steps):
  """Returns `(dist, dist, trainable_variables)` of a stock `tfb.Glow`.

  `tfb.GlowDefaultNetwork` creates its variables on construction (`plan`
  checks it); ActNorm's data-dependent initialization runs in the first
  call of whichever function is traced first.
  """
  _, tfp, _ = _import_tf()
  tfb, tfd = tfp.bijectors, tfp.distributions
  sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))  # deep Chains
  glow = tfb.Glow(
      output_shape=IMAGE_SHAPE, num_glow_blocks=NUM_SCALES,
      num_steps_per_block=steps,
      coupling_bijector_fn=functools.partial(
          tfb.GlowDefaultNetwork, num_hidden=hidden_channels),
      exit_bijector_fn=tfb.GlowDefaultExitNetwork)
  latent_shape = glow.inverse_event_shape(IMAGE_SHAPE)   # [H * W * C]
  dist = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0.0, 1.0), latent_shape), glow)
  return dist, dist, dist.trainable_variables


def build_model(spec):
  """`(eval_dist, train_dist, trainable_variables)` of a worker's `spec`.

  `spec["model"]` is `TFNVP` (with `hidden_channels`, `num_res_blocks`),
  `TFNVP_GLOW` (`hidden_channels`, `depth`) or `GLOW` (`hidden_channels`,
  `glow_steps`); tfnvp's models take an optional `network_dtype`.
  """
  model, hidden = spec["model"], spec["hidden_channels"]
  if model == TFNVP:
    return _build_tfnvp(hidden, spec["num_res_blocks"],
                        spec.get("network_dtype"))
  if model == TFNVP_GLOW:
    return _build_tfnvp_glow(hidden, spec["depth"], spec.get("network_dtype"))
  if model == GLOW:
    return _build_glow(hidden, spec["glow_steps"])
  raise ValueError(f"Unknown model {model!r}.")


def contraction_flops(graph):
  """Returns the FLOPs of the convolutions and matrix products in `graph`.

  Counts `2 * output_elements * reduction_size` for every `Conv2D` (reduction
  `kh * kw * Cin`), `MatMul` and `BatchMatMul*` op of the graph itself (not of
  nested functions), from static shapes.

  Args:
    graph: a `tf.Graph`, e.g. `concrete_function.graph`.

  Returns:
    Python `int`.

  Raises:
    ValueError: if a counted op has a partially unknown shape.
  """
  total = 0
  for op in graph.get_operations():
    if op.type == "Conv2D":
      kernel = op.inputs[1].shape.as_list()
      reduction = kernel[0] * kernel[1] * kernel[2]
    elif op.type == "MatMul":
      a = op.inputs[0].shape.as_list()
      reduction = a[0] if op.get_attr("transpose_a") else a[1]
    elif op.type.startswith("BatchMatMul"):
      a = op.inputs[0].shape.as_list()
      reduction = a[-2] if op.get_attr("adj_x") else a[-1]
    else:
      continue
    out = op.outputs[0].shape
    if not out.is_fully_defined() or reduction is None:
      raise ValueError(f"Unknown static shape in {op.name} ({op.type}).")
    total += 2 * out.num_elements() * reduction
  return total


def _count_network_calls(flow, x, seed):
  """Coupling-network evaluations per eager call of `flow`'s methods."""
  import tfnvp  # pylint: disable=g-import-not-at-top
  cls = tfnvp.networks.ResNetShiftAndLogScale
  original = cls.call
  calls = []

  def counting_call(self, *args, **kwargs):
    calls.append(self.name)
    return original(self, *args, **kwargs)

  cls.call = counting_call
  try:
    counts = {}
    for label, fn in (
        ("log_prob (training)", lambda: flow.copy(training=True).log_prob(x)),
        ("log_prob (inference)", lambda: flow.log_prob(x)),
        ("sample", lambda: flow.sample(x.shape[0], seed=seed))):
      calls.clear()
      fn()
      counts[label] = {"calls": len(calls), "distinct": len(set(calls))}
  finally:
    cls.call = original
  return {"couplings": len(flow.layers.coupling_networks), **counts}


def plan(spec):
  """Parameter counts, Glow depth slope and tfnvp's network-call counts.

  Args:
    spec: `{"configs": [config names]}`.

  Returns:
    A JSON-able dict: library versions and, per config, tfnvp's parameter
    count, Glow's parameter count as `intercept + slope * steps`, and how
    many times each coupling network runs per eager `log_prob`/`sample`.

  Raises:
    RuntimeError: if a Glow creates variables in its first forward pass
      (`measure` collects them before tracing).
  """
  tf, tfp, keras = _import_tf()
  out = {"tensorflow": tf.__version__, "tensorflow_probability":
         tfp.__version__, "keras": keras.__version__,
         "onednn": _onednn_enabled(), "configs": {}}
  x = tf.random.stateless_uniform((4,) + IMAGE_SHAPE, seed=(1, 2),
                                  maxval=256.0)
  for name in spec["configs"]:
    config = CONFIGS[name]
    flow, _, variables = _build_tfnvp(config.hidden_channels,
                                      config.num_res_blocks)
    glow_params = []
    for steps in (1, 2):
      glow, _, glow_variables = _build_glow(config.hidden_channels, steps)
      glow_params.append(_num_params(glow_variables))
      glow.log_prob(x)
      if _num_params(glow.trainable_variables) != glow_params[-1]:
        raise RuntimeError("tfb.Glow created variables in its first call.")
    out["configs"][name] = {
        "tfnvp_params": _num_params(variables),
        "glow_params_intercept": 2 * glow_params[0] - glow_params[1],
        "glow_params_per_step": glow_params[1] - glow_params[0],
        "network_calls": _count_network_calls(flow, x, seed=(3, 4)),
    }
  return out


def _block(value):
  """Waits for `value` (a structure of tensors) to be computed."""
  for t in value if isinstance(value, (list, tuple)) else [value]:
    t.numpy()


def _reference_functions(tf, channels=REF_CHANNELS, prefix="ref",
                         dtype="float32"):
  """Reference convolutions: `{name: (fn, make_args, flops_per_call)}`.

  A 3x3 convolution, `channels` in and out, on `[REF_BATCH, REF_SIZE,
  REF_SIZE, channels]` in `dtype`: forward (`{prefix}_fwd`) and forward +
  backward (`{prefix}_fwd_bwd`).
  """
  shape = (REF_BATCH, REF_SIZE, REF_SIZE, channels)
  flops = REF_FLOPS * channels**2 // REF_CHANNELS**2

  @tf.function
  def forward(x, w):
    return tf.nn.conv2d(x, w, 1, "SAME")

  @tf.function
  def forward_backward(x, w, dy):
    with tf.GradientTape() as tape:
      tape.watch([x, w])
      y = tf.nn.conv2d(x, w, 1, "SAME")
    return [y] + tape.gradient(y, [x, w], output_gradients=dy)

  def make_args(with_dy):
    # Created per call (outside the timer) so that they do not stay resident.
    x = tf.random.stateless_normal(shape, seed=(5, 6), dtype=dtype)
    w = tf.random.stateless_normal((3, 3, channels, channels),
                                   seed=(7, 8), stddev=0.05, dtype=dtype)
    return (x, w, tf.ones(shape, dtype)) if with_dy else (x, w)

  return {f"{prefix}_fwd": (forward, functools.partial(make_args, False),
                            flops),
          f"{prefix}_fwd_bwd": (forward_backward,
                                functools.partial(make_args, True),
                                3 * flops)}


def _error_text(error):
  text = f"{type(error).__name__}: {error}".strip().splitlines()
  return " ".join(line.strip() for line in text[:3])[:300]


def _timed_call(fn, make_args, calls):
  """Seconds per call of `fn(*make_args())`, over `calls` calls."""
  args = make_args()
  start = time.perf_counter()
  for _ in range(calls):
    _block(fn(*args))
  return (time.perf_counter() - start) / calls


def time_interleaved(cases, settings):
  """Times `cases` in interleaved rounds; returns `(per-case dicts, rounds)`.

  Each case's first call (tracing, compilation) and a warm-up call are timed
  separately; a case whose first call raises (e.g. a failed XLA compilation)
  gets the error text instead of timings.

  Args:
    cases: `{name: (fn, make_args, images_per_call, flops_per_call)}`, the
      last two `None` where they do not apply.
    settings: a `Settings`.

  Returns:
    `{name: {"setup_seconds", "samples", "seconds", "images_per_second" or
    "gflops"} or {"error"}}` and the number of rounds.
  """
  out, active = {}, {}
  for name, (fn, make_args, _, _) in cases.items():
    entry = out[name] = {}
    try:
      entry["setup_seconds"] = _timed_call(fn, make_args, 1)
      estimate = _timed_call(fn, make_args, 1)
    except Exception as e:  # pylint: disable=broad-except
      entry["error"] = _error_text(e)
      continue
    entry["calls_per_sample"] = max(
        1, math.ceil(settings.min_call_seconds / max(estimate, 1e-6)))
    entry["samples"] = []
    active[name] = estimate * entry["calls_per_sample"]
  reps = max(settings.min_reps, min(settings.reps, int(
      settings.round_budget_seconds / max(sum(active.values()), 1e-6))))
  names = list(active)
  for r in range(reps if names else 0):
    for name in names[r % len(names):] + names[:r % len(names)]:
      fn, make_args, _, _ = cases[name]
      out[name]["samples"].append(
          _timed_call(fn, make_args, out[name]["calls_per_sample"]))
  for name in names:
    entry = out[name]
    entry["seconds"] = statistics.median(entry["samples"])
    _, _, batch, flops = cases[name]
    if batch:
      entry["images_per_second"] = batch / entry["seconds"]
    if flops:
      entry["gflops"] = flops / entry["seconds"] / 1e9
  return out, reps


def measure(spec):
  """Measures one (model, config, XLA) combination; runs in a subprocess.

  Args:
    spec: dict with `model` and its sizes (see `build_model`), `config`
      (the row's label, e.g. a key of `CONFIGS`), `jit` (bool) and
      `settings` (the fields of `Settings`).

  Returns:
    A JSON-able dict: parameter count, FLOPs per image, per-measurement median
    seconds per call / images per second / setup seconds or error text, and
    the worker's peak RSS.
  """
  tf, _, keras = _import_tf()
  settings = Settings(**spec["settings"])
  dist, train_dist, variables = build_model(spec)
  variables = tuple(variables)
  optimizer = keras.optimizers.Adam(1e-3)
  optimizer.build(variables)
  compile_fn = functools.partial(tf.function, jit_compile=spec["jit"])

  @compile_fn
  def train_step(x):
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(train_dist.log_prob(x))
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables))
    return loss

  log_prob = compile_fn(dist.log_prob)
  sample = compile_fn(lambda: dist.sample(settings.sample_batch, seed=(9, 10)))

  def images(batch, seed):
    return tf.random.stateless_uniform((batch,) + IMAGE_SHAPE, seed=seed,
                                       maxval=256.0)

  train_x = images(settings.train_batch, (11, 12))
  eval_x = images(settings.eval_batch, (13, 14))
  # name: (fn, make_args, images per call or None, flops per call or None)
  cases = {"train": (train_step, lambda: (train_x,), settings.train_batch,
                     None),
           "log_prob": (log_prob, lambda: (eval_x,), settings.eval_batch,
                        None),
           "sample": (sample, tuple, settings.sample_batch, None)}
  # In the networks' precision: what TF's kernels reach in it.
  ref_dtype = spec.get("network_dtype") or "float32"
  references = _reference_functions(tf, dtype=ref_dtype)
  if spec["hidden_channels"] != REF_CHANNELS:
    # What TF's kernels reach at the model's own width.
    references.update(_reference_functions(
        tf, spec["hidden_channels"], prefix="width", dtype=ref_dtype))
  for name, (fn, make_args, flops) in references.items():
    cases[name] = (fn, make_args, None, flops)

  result = {"model": spec["model"], "config": spec["config"],
            "jit": spec["jit"], "onednn": _onednn_enabled(),
            "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "glow_steps": spec.get("glow_steps"),
            "network_dtype": spec.get("network_dtype"),
            "params": _num_params(variables)}
  result["cases"], result["reps"] = time_interleaved(cases, settings)
  # The graph `log_prob` traced above (with or without XLA, the same graph).
  graph = log_prob.get_concrete_function(eval_x).graph
  try:
    result["fwd_flops_per_image"] = (contraction_flops(graph) /
                                     settings.eval_batch)
  except ValueError as e:
    result["fwd_flops_per_image_error"] = _error_text(e)
  result["peak_rss_mib"] = (
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  return result


# --------------------------------------------------------------------------
# Driver side: no TensorFlow import.


def run_worker(spec):
  """Runs `spec` in a fresh interpreter; returns its JSON result.

  `spec["onednn"]` (if present and not None) sets `TF_ENABLE_ONEDNN_OPTS`
  for the worker: TensorFlow reads it once, at import.
  """
  env = dict(os.environ)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if spec.get("onednn") is not None:
    env["TF_ENABLE_ONEDNN_OPTS"] = "1" if spec["onednn"] else "0"
  proc = subprocess.run(
      [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
      capture_output=True, text=True, env=env, check=False)
  lines = proc.stdout.strip().splitlines()
  if proc.returncode or not lines:
    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
    return {"error": f"worker exited with {proc.returncode}: {tail}"[:400]}
  return json.loads(lines[-1])


def _glow_steps(info, max_steps):
  """`(steps, matched_steps)`: Glow depth to run and the parameter match."""
  matched = max(1, round((info["tfnvp_params"] - info["glow_params_intercept"])
                         / info["glow_params_per_step"]))
  return (min(matched, max_steps) if max_steps else matched), matched


def run_benchmark(configs, jit_modes, settings, with_glow=True, log=print,
                  onednn_modes=(None,)):
  """Runs all workers; returns `{"plan": ..., "rows": [...], ...}`.

  Args:
    configs: names of `CONFIGS` entries.
    jit_modes: iterable of bools (`jit_compile` settings).
    settings: a `Settings`.
    with_glow: whether to measure `tfb.Glow` too.
    log: callable taking a progress message.
    onednn_modes: iterable of `None` (TF's default for this CPU) or bools
      (`TF_ENABLE_ONEDNN_OPTS` of the workers: TF's oneDNN kernels and
      graph rewrites, on by default only on CPUs with AVX-512 VNNI/BF16 or
      AMX).

  Returns:
    A dict with the `plan` result, one result per worker under `rows` (in
    run order, each with a `wall_seconds`), the Glow depths under
    `glow_steps` and the load average before and after.
  """
  started = time.time()
  load_before = os.getloadavg()
  log(f"planning {', '.join(configs)} ...")
  planned = run_worker({"kind": "plan", "configs": list(configs)})
  if "error" in planned:
    raise RuntimeError(f"plan worker failed: {planned['error']}")
  glow_steps = {}
  for name in configs:
    cap = settings.glow_max_steps
    glow_steps[name] = _glow_steps(
        planned["configs"][name],
        CONFIGS[name].glow_max_steps if cap is None else cap)
  rows = []
  turn = 0
  for name in configs:
    for onednn in onednn_modes:
      for jit in jit_modes:
        models = [TFNVP, GLOW] if with_glow else [TFNVP]
        if turn % 2:    # alternate which model runs first
          models.reverse()
        turn += 1
        for model in models:
          config = CONFIGS[name]
          spec = {"kind": "measure", "model": model, "config": name,
                  "hidden_channels": config.hidden_channels,
                  "num_res_blocks": config.num_res_blocks,
                  "jit": jit, "onednn": onednn,
                  "settings": dataclasses.asdict(settings)}
          if model == GLOW:
            spec["glow_steps"] = glow_steps[name][0]
          log(f"  {name} jit={on_off(jit)} onednn="
              f"{'default' if onednn is None else on_off(onednn)} {model} ...")
          t0 = time.time()
          row = run_worker(spec)
          # The worker reports the effective oneDNN setting.
          row.setdefault("onednn", planned["onednn"] if onednn is None
                         else onednn)
          row.update(model=model, config=name, jit=jit,
                     wall_seconds=time.time() - t0)
          rows.append(row)
  return {"plan": planned, "rows": rows, "glow_steps": glow_steps,
          "settings": dataclasses.asdict(settings),
          "load_average": [load_before[0], os.getloadavg()[0]],
          "total_seconds": time.time() - started}


def on_off(flag):
  return "on" if flag else "off"


def fmt_number(value, digits=3):
  """Formats a number with `digits` significant digits (`-` if missing)."""
  if value is None:
    return "-"
  if isinstance(value, str):
    return value
  if value == 0 or abs(value) >= 10 ** (digits - 1):
    return f"{value:,.0f}"
  return f"{value:.{max(0, digits - 1 - math.floor(math.log10(abs(value))))}f}"


def case_value(row, name, key):
  entry = row.get("cases", {}).get(name, {})
  if "error" in entry:
    return "failed: " + entry["error"]
  return entry.get(key)


def ratio(a, b):
  if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
    return f"{a / b:.2f}x"
  return "-"


def summarize(row):
  """The table's numbers for one worker result (dict of column -> value)."""
  if "error" in row:
    return {"error": row["error"]}
  flops = row.get("fwd_flops_per_image")
  train = case_value(row, "train", "images_per_second")
  ref = case_value(row, "ref_fwd_bwd", "gflops")
  width = (case_value(row, "width_fwd_bwd", "gflops")
           if "width_fwd_bwd" in row["cases"] else ref)
  out = {"params": row["params"],
         "train": train,
         "log_prob": case_value(row, "log_prob", "images_per_second"),
         "sample": case_value(row, "sample", "images_per_second"),
         "rss": row["peak_rss_mib"],
         "mflop": flops / 1e6 if flops else None,
         "ref": ref,
         "width": width,
         "setup": sum(c.get("setup_seconds", 0.0)
                      for n, c in row["cases"].items()
                      if n in ("train", "log_prob", "sample"))}
  if flops and isinstance(train, float):
    out["gflops"] = 3 * flops * train / 1e9
    if isinstance(ref, float):
      out["fraction"] = out["gflops"] / ref
  return out


_COLUMNS = (("params", "params"), ("train", "train img/s"),
            ("log_prob", "log_prob img/s"), ("sample", "sample img/s"),
            ("rss", "peak RSS MiB"), ("mflop", "fwd MFLOP/img"),
            ("gflops", "train GFLOP/s"), ("ref", "ref conv GFLOP/s"),
            ("fraction", "of ref conv"),
            ("width", "same-width conv GFLOP/s"),
            ("setup", "trace+compile s"))
_RATIO_KEYS = ("params", "train", "log_prob", "sample", "rss", "mflop",
               "gflops", "ref", "width")


def _variant(row):
  """`(config, jit, onednn)` of a worker's row (oneDNN off if not recorded)."""
  return row["config"], row["jit"], row.get("onednn", False)


def format_table(results):
  """The markdown table of `run_benchmark`'s results."""
  header = ["config", "XLA", "oneDNN", "model"] + [
      label for _, label in _COLUMNS]
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * 4 + "---:|" * len(_COLUMNS)]

  def add(variant, label, values):
    config, jit, onednn = variant
    cells = [config, on_off(jit), on_off(onednn), label]
    for key, _ in _COLUMNS:
      value = values.get(key)
      if key == "fraction" and isinstance(value, float):
        value = f"{100 * value:.0f}%"
      cells.append(fmt_number(value))
    if "error" in values:
      cells[4] = "failed: " + values["error"]
    lines.append("| " + " | ".join(cells) + " |")

  by_key = {_variant(r) + (r["model"],): r for r in results["rows"]}
  for variant in dict.fromkeys(_variant(r) for r in results["rows"]):
    config = variant[0]
    ours = summarize(by_key[variant + (TFNVP,)])
    add(variant, TFNVP, ours)
    if variant + (GLOW,) not in by_key:
      continue
    theirs = summarize(by_key[variant + (GLOW,)])
    steps, matched = results["glow_steps"][config]
    add(variant, f"{GLOW} ({steps} steps/block)", theirs)
    add(variant, "ratio tfnvp / Glow",
        {k: ratio(ours.get(k), theirs.get(k)) for k in _RATIO_KEYS})
    if steps < matched and "error" not in theirs:
      info = results["plan"]["configs"][config]
      scale = steps / matched
      scaled = {k: theirs[k] * scale for k in ("train", "log_prob", "sample")
                if isinstance(theirs.get(k), float)}
      scaled["params"] = (info["glow_params_intercept"] +
                          matched * info["glow_params_per_step"])
      if theirs.get("mflop"):
        scaled["mflop"] = theirs["mflop"] / scale   # approximately
      add(variant, f"{GLOW} est. at {matched} steps/block", scaled)
      add(variant, "ratio tfnvp / Glow est.",
          {k: ratio(ours.get(k), scaled.get(k)) for k in _RATIO_KEYS})
  return "\n".join(lines)


def cpu_model():
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return "unknown"


def _details_table(results):
  """Per-worker wall time, rounds and spread of the timed samples."""
  lines = ["| config | XLA | oneDNN | model | wall s | rounds | train s/step "
           "(min / median / max) | ref conv GFLOP/s (min / max) |",
           "|---|---|---|---|---:|---:|---:|---:|"]
  for row in results["rows"]:
    cases = row.get("cases", {})
    train = cases.get("train", {}).get("samples")
    ref = cases.get("ref_fwd_bwd", {}).get("samples")
    spread = (" / ".join(fmt_number(v) for v in (min(train), statistics.median(
        train), max(train))) if train else "-")
    ref_range = (" / ".join(fmt_number(3 * REF_FLOPS / v / 1e9)
                            for v in (max(ref), min(ref))) if ref else "-")
    lines.append(f"| {row['config']} | {on_off(row['jit'])} | "
                 f"{on_off(row.get('onednn', False))} | {row['model']} | "
                 f"{row['wall_seconds']:.0f} | {row.get('reps', '-')} | "
                 f"{spread} | {ref_range} |")
  return "\n".join(lines)


def _rounds(rows):
  reps = sorted({row["reps"] for row in rows if "reps" in row})
  if not reps:
    return "-"
  return str(reps[0]) if len(reps) == 1 else f"{reps[0]} to {reps[-1]}"


def format_report(results, command):
  """The full markdown report (for `--write`)."""
  planned = results["plan"]
  settings = results["settings"]
  load = results["load_average"]
  refs = [r["cases"]["ref_fwd"]["gflops"] for r in results["rows"]
          if "gflops" in r.get("cases", {}).get("ref_fwd", {})]
  depths = "; ".join(
      f"{name}: {steps} steps/block" +
      (" (parameter match)" if steps == matched else
       f" (capped; {matched} would match the parameter count)")
      for name, (steps, matched) in results["glow_steps"].items())
  calls = [
      f"  * {name}, {info['network_calls']['couplings']} couplings: " +
      ", ".join(f"{label} {v['calls']} ({v['distinct']} distinct networks)"
                for label, v in info["network_calls"].items()
                if isinstance(v, dict))
      for name, info in planned["configs"].items()]
  lines = [
      "## Speed: `tfnvp.RealNVP` vs stock `tfb.Glow`",
      "",
      "`tfnvp.RealNVP` vs TensorFlow Probability's stock `tfb.Glow` on "
      "dequantized 28x28x1 images, 2 levels (scales), float32, CPU. "
      "Generated by `bench/benchmark.py`.",
      "",
      f"* Date: {datetime.date.today().isoformat()}",
      f"* Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}; "
      f"TensorFlow {planned['tensorflow']}, TensorFlow Probability "
      f"{planned['tensorflow_probability']}, Keras {planned['keras']}. "
      "oneDNN: the setting each worker ran with (TF's default on this "
      f"CPU: {on_off(planned['onednn'])}; `--onednn on/off` sets "
      "`TF_ENABLE_ONEDNN_OPTS=1/0`).",
      f"* Load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f}."
      " The machine is shared: compare numbers of one run only, and see the "
      "reference-conv column for how fast the CPU was during each worker.",
      f"* Command: `{command}` ({results['total_seconds'] / 60:.0f} min)",
      f"* Batches: training {settings['train_batch']}, `log_prob` "
      f"{settings['eval_batch']}, `sample` {settings['sample_batch']}; "
      f"medians of {_rounds(results['rows'])} interleaved timed rounds per "
      "worker, after a warm-up call.",
      f"* Glow depth: {depths}.",
      "",
      format_table(results),
      "",
      "Columns:",
      "",
      "* `hN-rM`: coupling networks of width N (tfnvp's `hidden_channels`, "
      "Glow's `num_hidden` of `tfb.GlowDefaultNetwork`) with M residual "
      "blocks (tfnvp). \"est.\" rows scale a capped Glow's times linearly "
      "to the depth that matches tfnvp's parameter count (an estimate: its "
      "steps are identical and sequential).",
      "* train: images/s of `-mean(log_prob)` + gradient + "
      "`keras.optimizers.Adam` step (tfnvp: `flow.copy(training=True)`, "
      "batch statistics). log_prob: inference mode, no gradient. sample: "
      f"`sample({settings['sample_batch']}, seed=...)`.",
      "* peak RSS: `ru_maxrss` of the worker process that measured the row "
      "(model, traced functions, XLA executables if on).",
      "* fwd MFLOP/img: FLOPs of the `Conv2D`/`MatMul`/`BatchMatMul` ops of "
      "the traced `log_prob` graph (`2 * H * W * Cin * Cout * k * k` per "
      "convolution, from static shapes), per image. train GFLOP/s = 3 x "
      "that x train img/s (the backward pass costs ~2x the forward one).",
      "* ref conv: a 3x3 convolution, 64 -> 64 channels, batch 64, 28x28, "
      f"forward + backward (3 x {REF_FLOPS / 1e9:.2f} GFLOP), "
      "`tf.function`, timed in the same worker, interleaved with the "
      "model's measurements; \"of ref conv\" = train GFLOP/s / that rate. "
      "Forward-only rate of the same convolution: median "
      f"{fmt_number(statistics.median(refs)) if refs else '-'} GFLOP/s.",
      "* same-width conv: the reference convolution at the model's width "
      "(hN in and out, forward + backward; the ref conv itself at h64): "
      "what TF's kernels reach at that width, a ceiling for the model's "
      "\"of ref conv\".",
      "* trace+compile s: first calls of train, log_prob and sample.",
      "* Glow gets the same dequantized tensor as tfnvp although it has no "
      "logit preprocessing (its base is `tfd.Sample(tfd.Normal(0, 1), "
      "[784])`, the shape `tfb.Glow` flattens to); this does not change "
      "the amount of work.",
      "* Coupling-network evaluations per eager call (one per coupling per "
      "direction is the target):",
      *calls,
      "",
      "Per worker:",
      "",
      _details_table(results),
      "",
  ]
  return "\n".join(lines)


def main(argv=None):
  """Command-line entry point."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS),
                      help="configurations (default: all; --quick: h32-r2)")
  parser.add_argument("--jit", choices=("both", "off", "on"),
                      help="jit_compile settings (default: both; --quick: "
                           "off)")
  parser.add_argument("--onednn", choices=("default", "both", "off", "on"),
                      default="default",
                      help="TF_ENABLE_ONEDNN_OPTS of the workers (default: "
                           "unset, TF's choice for this CPU)")
  parser.add_argument("--no-glow", action="store_true",
                      help="measure tfnvp only")
  parser.add_argument("--quick", action="store_true",
                      help="smoke run: small batches, few rounds, shallow "
                           "Glow; numbers are not meaningful")
  parser.add_argument("--reps", type=int, help="timed rounds per worker")
  parser.add_argument("--glow-max-steps", type=int,
                      help="cap on Glow's num_steps_per_block (0: none)")
  parser.add_argument("--write", metavar="PATH",
                      help="write the markdown report to PATH")
  parser.add_argument("--json", metavar="PATH",
                      help="write the raw results to PATH")
  parser.add_argument("--worker", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)

  if args.worker:
    spec = json.loads(args.worker)
    result = plan(spec) if spec["kind"] == "plan" else measure(spec)
    print(json.dumps(result), flush=True)
    return

  settings = QUICK if args.quick else Settings()
  overrides = {"reps": args.reps, "glow_max_steps": args.glow_max_steps}
  settings = dataclasses.replace(
      settings, **{k: v for k, v in overrides.items() if v is not None})
  configs = args.configs or (["h32-r2"] if args.quick else list(CONFIGS))
  jit = args.jit or ("off" if args.quick else "both")
  jit_modes = {"both": (False, True), "off": (False,), "on": (True,)}[jit]
  log = functools.partial(print, file=sys.stderr, flush=True)
  onednn_modes = {"default": (None,), "both": (False, True),
                  "off": (False,), "on": (True,)}[args.onednn]
  results = run_benchmark(configs, jit_modes, settings,
                          with_glow=not args.no_glow, log=log,
                          onednn_modes=onednn_modes)
  command = command_line(__file__, argv)
  print(format_table(results))
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump(results, f, indent=1)
  if args.write:
    publish(format_report(results, command), args.write,
            "bench/benchmark.py", log)


def command_line(script, argv=None):
  """How `script` (a `__file__`) was run, to print beside its figures."""
  return "PYTHONPATH=. python " + shlex.join(
      [os.path.relpath(os.path.abspath(script))] +
      list(sys.argv[1:] if argv is None else argv))


def publish(report, path, name, log=None):
  """Prints `report`; with a `path`, writes it there as `name`'s section.

  The section ends with the tfnvp version and date that produced it.
  """
  import tfnvp  # pylint: disable=g-import-not-at-top
  print(report)
  if path:
    write_section(path, f"{report.rstrip()}\n\n*Written by tfnvp "
                  f"{tfnvp.__version__} on "
                  f"{datetime.date.today().isoformat()}.*\n", name)
    (log or print)(f"wrote {path}")


def write_section(path, report, name="bench/benchmark.py"):
  """Writes `report` between the markers of benchmark `name` in `path`.

  The markers are `<!-- {name}: begin -->` and `<!-- {name}: end -->`. A
  missing file gets the marked report; a file without these markers gets it
  at its end: other sections are never overwritten.
  """
  begin, end = f"<!-- {name}: begin -->\n", f"<!-- {name}: end -->\n"
  text = ""
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      text = f.read()
  section = begin + report.rstrip("\n") + "\n" + end
  if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + section + rest.split(end, 1)[1]
  else:
    text = (text.rstrip("\n") + "\n\n" if text else "") + section
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)


if __name__ == "__main__":
  main()
