"""tfnvp: Real NVP (and Glow) normalizing flows for TensorFlow Probability.

The library is `tfnvp/`; the apps `training/` and `export/` keep their
top-level folders in the repository and are installed as `tfnvp.training`
and `tfnvp.export` (`pip install -e .` in a checkout), with the console
scripts `tfnvp-train`, `tfnvp-evaluate` and `tfnvp-export`.
"""

import pathlib
import re

import setuptools

_ROOT = pathlib.Path(__file__).resolve().parent
# One version source: tfnvp/version.py.
_VERSION = re.search(r'__version__ = "([^"]+)"',
                     (_ROOT / "tfnvp" / "version.py").read_text()).group(1)

_DATA = [
    "tensorflow-datasets>=4.9.10,<5",
    # tensorflow-datasets 4.9.10 imports it without depending on it.
    "importlib_resources>=6",
]

setuptools.setup(
    name="tfnvp",
    version=_VERSION,
    description=("Real NVP and Glow normalizing flows as TensorFlow "
                 "Probability bijectors and distributions, with a Keras "
                 "model, training and TF Serving export."),
    long_description=(_ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["tfnvp", "tfnvp.*"]) + [
        "tfnvp.training", "tfnvp.export"],
    package_dir={"tfnvp.training": "training", "tfnvp.export": "export"},
    python_requires=">=3.10",
    # Compatible ranges; the exact versions CI uses are in
    # requirements/constraints.txt. tensorflow-probability 0.25 imports
    # tf-keras; Keras 3 is the Keras of tfnvp's layers and model.
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "tensorflow-probability>=0.25,<0.26",
        "tf-keras>=2.21,<2.22",
        "keras>=3.15,<4",
        "numpy>=1.26",
    ],
    extras_require={
        # tfnvp.data: TFDS datasets (training, evaluation, export's
        # calibration).
        "data": _DATA,
        # tf.summary (Keras's TensorBoard callback) needs tensorboard; TF
        # 2.21 does not depend on it.
        "train": _DATA + ["tensorboard>=2.21,<2.22"],
        # tfnvp.export.grpc_client: TF Serving's PredictionService stub.
        "serving": ["tensorflow-serving-api>=2.21,<2.22"],
        # The suite (on two processes: pytest-xdist), its line coverage
        # (pytest-cov) and the lint (ruff).
        "test": ["pytest>=8", "pytest-cov>=5", "pytest-xdist>=3", "ruff>=0.6"],
        "bench": ["psutil>=5", "matplotlib>=3.8"],
        # mkdocs build --strict (scripts/test.sh): the guides in docs/ and
        # the API reference generated from the docstrings.
        "docs": ["mkdocs>=1.6,<2", "mkdocstrings[python]>=1.0,<2"],
    },
    entry_points={
        "console_scripts": [
            "tfnvp-train=tfnvp.training.train:main",
            "tfnvp-evaluate=tfnvp.training.evaluate:main",
            "tfnvp-export=tfnvp.export.export:main",
        ],
    },
)
