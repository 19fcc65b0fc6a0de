"""How much of a trained Real NVP's mass lies inside the pixel cube.

A Real NVP with the logit preprocessing is a density over the open cube
`(a, b)^D` (`(-14.2, 270.2)^D` for `alpha = 0.05`, see
`tfnvp.bijectors.LogitTransform`), so `[0, 256)^D` holds at most all of it.
Monte Carlo on the model's own samples estimates

```none
mass = P_model(x in [0, 256)^D) = mean over samples of 1[all pixels in [0, 256)]
```

with its binomial standard error, and the fraction of single pixel values
outside `[0, 256)`, at temperature 1 (the density itself).

Usage (from the repository root; a run of `tfnvp-train`, e.g. the quick
start's):

  PYTHONPATH=. python bench/logit_mass.py --model-dir runs/quickstart
  PYTHONPATH=. python bench/logit_mass.py --model-dir runs/quickstart \
      --write BENCHMARKS.md
"""

import argparse
import math

import benchmark
import numpy as np
import tensorflow as tf

from tfnvp import runs

__all__ = ["main", "measure"]

MARK = "bench/logit_mass.py"


def measure(flow, num_samples, batch_size=500, seed=0):
  """`(inside, stderr, pixel_fraction_outside, low, high)` from samples."""
  inside = outside_pixels = total_pixels = 0
  low, high = math.inf, -math.inf
  for i in range(math.ceil(num_samples / batch_size)):
    n = min(batch_size, num_samples - i * batch_size)
    x = flow.sample(n, seed=tf.constant([seed, i])).numpy()
    ok = (x >= 0) & (x < 256)
    inside += int(np.all(ok, axis=(1, 2, 3)).sum())
    outside_pixels += int((~ok).sum())
    total_pixels += ok.size
    low, high = min(low, float(x.min())), max(high, float(x.max()))
  mass = inside / num_samples
  stderr = math.sqrt(max(mass * (1 - mass), 1e-12) / num_samples)
  return mass, stderr, outside_pixels / total_pixels, low, high


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model-dir", required=True)
  parser.add_argument("--num-samples", type=int, default=10000)
  parser.add_argument("--write", metavar="PATH")
  args = parser.parse_args(argv)
  run = runs.load_run(args.model_dir)
  mass, stderr, pixels, low, high = measure(run.flow, args.num_samples)
  # No sample inside: the rule of three bounds the mass at 95% confidence.
  mass_text = (f"{mass:.4f}" if mass else
               f"0 (< {3 / args.num_samples:.1e} at 95%)")
  command = benchmark.command_line(__file__, argv)
  report = "\n".join([
      "## Mass of a trained Real NVP inside the pixel cube `[0, 256)^D`",
      "",
      f"`{command.strip()}` (checkpoint `{run.checkpoint}`, "
      f"{run.config['model']}):",
      "",
      "| samples | mass inside [0, 256)^D | std. error | pixel values "
      "outside [0, 256) | sample range |",
      "|---:|---:|---:|---:|---|",
      f"| {args.num_samples:,} | {mass_text} | {stderr:.4f} | "
      f"{100 * pixels:.3f}% | [{low:.2f}, {high:.2f}] |",
      "",
      "The density is normalized over `(-14.2, 270.2)^D` (the inverse "
      "logit's image for alpha = 0.05); the rest of the mass lies outside "
      "the pixel cube, so bits/dim from `log_prob` on `[0, 256)` are an "
      "upper bound on the 8-bit model's, as in the paper. A sample is "
      "inside only if all of its D pixel values are: with a few percent of "
      "single values outside (MNIST's black background sits at the cube's "
      "lower face, and the model spreads it to both sides), almost no "
      "sample of D = 784 values is. The pixel fraction is the better "
      "measure of how far the model leaks.",
      ""])
  benchmark.publish(report, args.write, MARK)


if __name__ == "__main__":
  main()
