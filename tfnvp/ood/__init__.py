"""Out-of-distribution scores of a flow over 8-bit images.

A flow's likelihood alone is a poor outlier detector: flows trained on
Fashion-MNIST give MNIST digits a *higher* likelihood than Fashion-MNIST's
own test images, and CIFAR-10 models likewise SVHN [1]. Two corrections
that need no second model:

```none
bits_per_dim(x)             = -log2 P(x) / D,  P(x) = integral of p(x + u)
                              over u in [0, 1)^D        (8-bit image x)
complexity_bits_per_dim(x)  = 8 * len(PNG(x)) / D         (lossless)
ood_score(x)                = bits_per_dim(x) - complexity_bits_per_dim(x)
typicality(x)               = |bits_per_dim(x) - mu| / sigma
```

`bits_per_dim` is the probability of the 8-bit image under the flow's
dequantized density (what training maximizes a bound of, and what the
papers' bits/dim measure), estimated with `K` fixed uniform noise patterns:
`P(x) ~ mean_k p(x + u_k)`. The density at the pixel centres, `p(x + 1/2)`
(`num_samples=0`), is a poor proxy: a flow's density varies within a pixel's
interval, and on MNIST digits it stays at the Fashion-MNIST level while
`P(x)` is far higher (BENCHMARKS.md).

`ood_score` is the input-complexity correction of Serra et al. [2]: the
likelihood ratio, in bits, of the flow against a generic lossless
compressor, which cancels the part of the likelihood that measures how
simple an image is (its flat background) rather than how much it looks like
the training data. Larger is more anomalous. `typicality` is the test of
Nalisnick et al. [3]: in high dimensions a model's samples have bits/dim
close to its entropy `mu`, estimated (with the spread `sigma`) on
in-distribution images by `TypicalSet`, so an input far from `mu` on
*either* side is atypical, even one more likely than the data. Its batch
form, `TypicalSet.batch_typicality`, tests the mean bits/dim of `M` inputs
assumed to come from one source, with a spread `sigma / sqrt(M)`.

When each fails: raw `bits_per_dim` flags complex outliers (Fashion-MNIST
for an MNIST model) and misses simple ones; `ood_score` assumes the flow
models the in-distribution data better than PNG does, and can miss an
outlier that happens to compress as badly as the flow codes it;
`typicality` on single images misses outliers whose bits/dim falls inside
the in-distribution spread, and gains power with the batch size `M`.

`OutlierCalibration` turns a score into a decision: its threshold is the
conformal `(1 - false_positive_rate)` quantile of the score on `n`
calibration images, so that an exchangeable in-distribution image exceeds
it with probability at most `false_positive_rate` (and at least
`false_positive_rate - 1 / (n + 1)`).

#### Examples

```python
flow = tfnvp.runs.load_run("runs/fashion").flow
score = tfnvp.ood.ood_score(flow, uint8_images)            # [n], float32
calibration = tfnvp.ood.OutlierCalibration.estimate(flow, train_images)
scores = calibration.scores(flow, uint8_images)  # + typicality, is_outlier
tfnvp.ood.auroc(scores_in["ood_score"], scores_out["ood_score"])
```

#### References

[1]: Eric Nalisnick, Akihiro Matsukawa, Yee Whye Teh, Dilan Gorur and
     Balaji Lakshminarayanan. Do deep generative models know what they don't
     know? ICLR 2019. https://arxiv.org/abs/1810.09136

[2]: Joan Serra, David Alvarez, Vicenc Gomez, Olga Slizovskaia, Jose F. Nunez
     and Jordi Luque. Input complexity and out-of-distribution detection with
     likelihood-based generative models. ICLR 2020.
     https://arxiv.org/abs/1909.11480

[3]: Eric Nalisnick, Akihiro Matsukawa, Yee Whye Teh and Balaji
     Lakshminarayanan. Detecting out-of-distribution inputs to deep
     generative models using typicality. arXiv 2019.
     https://arxiv.org/abs/1906.02994
"""

from tfnvp.ood.calibration import DEFAULT_CALIBRATION_EXAMPLES
from tfnvp.ood.calibration import SCORES
from tfnvp.ood.calibration import OutlierCalibration
from tfnvp.ood.calibration import TypicalSet
from tfnvp.ood.evaluation import auroc
from tfnvp.ood.evaluation import detection_metrics
from tfnvp.ood.evaluation import false_positive_rate_at
from tfnvp.ood.scores import DEFAULT_NUM_SAMPLES
from tfnvp.ood.scores import complexity_bits_per_dim
from tfnvp.ood.scores import ood_score
from tfnvp.ood.scores import pixel_bits_per_dim

__all__ = [
    "DEFAULT_CALIBRATION_EXAMPLES",
    "DEFAULT_NUM_SAMPLES",
    "OutlierCalibration",
    "SCORES",
    "TypicalSet",
    "auroc",
    "complexity_bits_per_dim",
    "detection_metrics",
    "false_positive_rate_at",
    "ood_score",
    "pixel_bits_per_dim",
]

