"""The package's imports point down only: sets at the bottom, helpers on top.

Parsed from the source (function-local imports included), so an upward edge
fails here even if it would only run lazily.
"""

import ast
import pathlib

import keras_kernel_constraints as kkc

PACKAGE = pathlib.Path(kkc.__file__).parent
ROOT = "keras_kernel_constraints"

# Each floor may import from lower floors and from inside itself only.
FLOORS = {
    "_core": 0,
    "sets": 1,
    "lipschitz": 1,  # operator norms of convolutions: math beside the sets
    "projections": 2,
    "regularizers": 2,
    "constraints": 3,
    "optimizers": 3,  # the optimizer wrapper: tangent maps of the sets
    "inspection": 4,
    "parametrizations": 5,  # the wrapper resolves axis="units" through inspection
    "training": 6,
    "__init__": 7,
    "demo": 8,  # an application of the package, run by __main__ or kkc-demo
    "__main__": 9,
}


def component(module: str) -> str:
    """``keras_kernel_constraints.sets.simplex`` -> ``sets``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: pathlib.Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}


def imports_in(source: str, module: str, is_package: bool) -> set[str]:
    """Modules of this package that ``source`` (the text of ``module``) imports,
    anywhere in the file: ``from X import name`` counts as ``X.name`` when that
    is a module, else as ``X``."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {name for name in found if name == ROOT or name.startswith(ROOT + ".")}


def imports_of(path: pathlib.Path) -> set[str]:
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py")


def edges():
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for target in imports_of(path):
            yield source, target


def test_every_component_has_a_floor():
    components = {component(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert components <= set(FLOORS), components - set(FLOORS)


def test_imports_point_down_only():
    upward = [
        f"{source} -> {target}"
        for source, target in edges()
        if component(source) != component(target)
        and FLOORS[component(target)] >= FLOORS[component(source)]
    ]
    assert upward == []


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for source, target in edges():
        if target in MODULES and target != source:
            graph[source].add(target)
    state: dict[str, int] = {}
    cycles = []

    def visit(node, trail):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt) :] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_parser_finds_local_and_relative_imports():
    # Function-local and relative imports count, or the tests above prove nothing.
    code = (
        "def f():\n    from keras_kernel_constraints import constraints\n"
        "from ..regularizers import _base\nimport keras_kernel_constraints._core.layout\n"
    )
    found = imports_in(code, f"{ROOT}.sets.affine", is_package=False)
    assert found == {f"{ROOT}.constraints", f"{ROOT}.regularizers._base", f"{ROOT}._core.layout"}
