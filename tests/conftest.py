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


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    """On JAX, drop the compiled programs once they hold many memory maps.

    Every XLA executable keeps memory maps open; the property tests compile
    one per shape and op, and a worker reached 43,000 of Linux's 65,530
    (vm.max_map_count), then segfaulted inside XLA's compiler (twice, in
    CI's JAX lane). Clearing after every test kept the module near 1,800
    maps but recompiles what later tests share, so it clears past 20,000.
    """
    yield
    import keras

    if keras.backend.backend() == "jax" and _memory_maps() > 20_000:
        import jax

        jax.clear_caches()


def _memory_maps() -> int:
    """How many memory maps this process holds (0 where /proc is missing)."""
    try:
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return 0
