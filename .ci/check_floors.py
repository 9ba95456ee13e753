"""The floor lane installs exactly the lowest versions pyproject.toml declares.

Every ``>=`` bound of a runtime dependency (``dependencies`` and the backend
extras ``tf-cpu``, ``tf``, ``jax``, ``torch`` and ``tf-keras``) must be pinned to that same
version in ``.ci/floors.txt``, and each pin installed here must be what is
installed: the declared floors cannot drift from the tested ones.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import re
import sys

import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNTIME_EXTRAS = ("tf-cpu", "tf", "jax", "torch", "tf-keras")
REQUIREMENT = r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)"


def declared_floors() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        requirements += project["optional-dependencies"][extra]
    floors = {}
    for requirement in requirements:
        match = re.fullmatch(REQUIREMENT, requirement)
        if match is None:
            sys.exit(f"{requirement!r}: every runtime dependency needs a tested floor (name>=X)")
        floors[match.group(1).lower()] = match.group(2)
    return floors


def pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / "floors.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def main() -> None:
    floors, pins = declared_floors(), pinned()
    problems = [
        f"{name}: pyproject.toml says >={version}, .ci/floors.txt pins {pins.get(name)}"
        for name, version in floors.items()
        if pins.get(name) != version
    ]
    for name, version in pins.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # another lane's backend (jax, torch): pinned for that lane
        if installed.split("+")[0] != version:  # 2.13.0+cpu is the 2.13.0 floor
            problems.append(f"{name}: {installed} installed, the floor is {version}")
    if problems:
        sys.exit("floors out of step:\n  " + "\n  ".join(problems))
    installed = {name: importlib.metadata.version(name) for name in pins if _has(name)}
    print("floor versions installed:", ", ".join(f"{k} {v}" for k, v in installed.items()))


def _has(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    main()
