"""The backend-neutral suites pass on every other Keras backend installed here.

Library code uses ``keras.ops`` only; this runs the projection, constraint,
regularizer, spec, layout and deprecation tests again in a subprocess under
JAX and PyTorch when they are importable (CI installs TensorFlow only, so
there these are skipped).
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import keras
import pytest

pytestmark = pytest.mark.slow  # reruns the suites on JAX and PyTorch

ROOT = pathlib.Path(__file__).resolve().parents[1]
SUITES = [
    "tests/projections",
    "tests/constraints",
    "tests/regularizers",
    "tests/test_specs.py",
    "tests/test_layouts.py",
    "tests/test_deprecations.py",
]


@pytest.mark.parametrize("backend, module", [("jax", "jax"), ("torch", "torch")])
def test_unit_suites_pass_on_other_backends(backend, module):
    if keras.backend.backend() == backend:
        pytest.skip("this run already uses that backend")
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    # JAX holds float64 arrays only with x64 enabled.
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", JAX_ENABLE_X64="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
