"""The package version, read by `setup.py` and `tfnvp.__version__`."""

__all__ = ["__version__"]

__version__ = "0.4.0.dev0"
