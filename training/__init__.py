"""Training utilities for ``tfnvp`` (input pipelines, experiment helpers)."""

__all__: list[str] = []
