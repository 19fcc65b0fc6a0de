"""Fixtures of the `tfnvp.ood` tests: a flow with random weights and its
calibration on 199 images."""

import pytest

import tfnvp
from tests import kit
from tests.ood.images import SHAPE
from tests.ood.images import make_images


@pytest.fixture(scope="module")
def flow():
  flow = tfnvp.RealNVP(image_shape=SHAPE, num_scales=1, hidden_channels=4,
                       num_res_blocks=1)
  kit.randomize_weights(flow.layers, 3, stddev=0.05)
  return flow


@pytest.fixture(scope="module")
def calibration(flow):
  return tfnvp.OutlierCalibration.estimate(
      flow, make_images(199, 4), false_positive_rate=0.1, source="test")
