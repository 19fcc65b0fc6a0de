"""Helpers shared by tfnvp's modules; not part of the public API."""
