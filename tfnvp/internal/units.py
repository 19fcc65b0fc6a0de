"""Negative log-likelihoods in nats as bits per dimension."""

import math

__all__ = ["nats_to_bits_per_dim"]


def nats_to_bits_per_dim(nats, num_dims):
  """`nats / (num_dims * ln 2)`: a negative log-likelihood of `num_dims`
  scalar dimensions, in bits per dimension (Real NVP's metric)."""
  return nats / (num_dims * math.log(2.0))
