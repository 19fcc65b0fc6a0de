"""tfnvp: Real NVP (and Glow) normalizing flows for TensorFlow Probability."""

import setuptools

setuptools.setup(
    name="tfnvp",
    version="0.1.0",
    description=("Real NVP normalizing flows as TensorFlow Probability "
                 "bijectors and distributions, with Keras training and "
                 "TF Serving export."),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["tfnvp", "tfnvp.*"]),
    python_requires=">=3.10",
    # Versions known to work together; tensorflow-probability 0.25 imports
    # tf-keras, Keras 3 is the Keras tfnvp's layers use.
    install_requires=[
        "tensorflow==2.21.0",
        "tensorflow-probability==0.25.0",
        "tf-keras==2.21.0",
        "keras==3.15.1",
    ],
    extras_require={
        # tensorflow-datasets 4.9.10 imports importlib_resources without
        # depending on it.
        "train": [
            "tensorflow-datasets==4.9.10",
            "importlib_resources==7.1.0",
            # tf.summary (Keras's TensorBoard callback) needs it; TF 2.21
            # does not depend on it.
            "tensorboard==2.21.0",
        ],
        # export.grpc_client: TF Serving's PredictionService stub and protos.
        "serving": ["tensorflow-serving-api==2.21.0"],
        "test": ["pytest==9.2.0"],
        "bench": ["psutil==7.2.2", "matplotlib==3.11.2"],
    },
)
