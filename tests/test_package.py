"""Package-level promises: version, typing marker, backend-neutral library code."""

import ast
import pathlib
import re

import keras_kernel_constraints as kkc

PACKAGE = pathlib.Path(kkc.__file__).parent


def test_version_and_modules_are_exported():
    assert re.match(r"^\d+\.\d+", kkc.__version__)
    assert {"constraints", "projections", "regularizers"} <= set(kkc.__all__)


def test_typing_marker_ships():
    assert (PACKAGE / "py.typed").exists()


# The places that run code on a backend rather than computing with it:
# project_now compiles each constraint with jax.jit on JAX (outside a step,
# eager JAX compiles every operation for every new shape), and the optimizer
# wrapper asks tf.distribute for its replica context (to sum the replicas'
# gradients before a tangent map, as Keras's LossScaleOptimizer does).
EXECUTION_ONLY = {("training.py", "_compiled"), ("optimizers.py", "_replica_context")}


def test_library_code_imports_no_backend_directly():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        allowed = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef)
            and (path.name, function.name) in EXECUTION_ONLY
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            backend = any(n.split(".")[0] in ("tensorflow", "jax", "torch") for n in names)
            if backend and id(node) not in allowed:
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
