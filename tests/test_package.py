"""Package-level promises: version, typing marker, backend-neutral library code."""

import pathlib
import re

import keras_kernel_constraints as kkc

PACKAGE = pathlib.Path(kkc.__file__).parent


def test_version_and_modules_are_exported():
    assert re.match(r"^\d+\.\d+", kkc.__version__)
    assert {"constraints", "projections", "regularizers"} <= set(kkc.__all__)


def test_typing_marker_ships():
    assert (PACKAGE / "py.typed").exists()


def test_library_code_imports_no_backend_directly():
    offenders = [
        f"{path.name}:{number}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.match(r"\s*(import|from)\s+(tensorflow|jax|torch)\b", line)
    ]
    assert offenders == []
