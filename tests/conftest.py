"""Fixtures shared by every test module; helpers live in ``tests/helpers.py``."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# Hypothesis profiles: "ci" (default) keeps .ci/run fast; "slow" runs 1,000
# examples per property test: HYPOTHESIS_PROFILE=slow pytest tests/test_properties.py
import hypothesis

hypothesis.settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
hypothesis.settings.register_profile("slow", max_examples=1000, deadline=None)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
