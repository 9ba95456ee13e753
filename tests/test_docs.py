"""The documentation: every public object documented, the site builds with --strict."""

import importlib.util
import inspect
import os
import pathlib
import re
import subprocess
import sys
from html import parser as html_parser

import pytest

from keras_kernel_constraints import (
    constraints,
    inspection,
    lipschitz,
    parametrizations,
    projections,
    regularizers,
    sets,
    training,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = (
    sets,
    constraints,
    regularizers,
    projections,
    parametrizations,
    lipschitz,
    inspection,
    training,
)
# Adapters name the set whose page holds the math; the math is written once.
ADAPTERS = (constraints, projections)


def public_objects():
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield module, name, obj


@pytest.mark.parametrize(
    "module, name, obj",
    [pytest.param(*o, id=f"{o[0].__name__.split('.')[-1]}.{o[1]}") for o in public_objects()],
)
def test_every_public_object_has_args_returns_math_and_an_example(module, name, obj):
    doc = inspect.getdoc(obj) or ""
    parameters = [p for p in inspect.signature(obj).parameters if p != "self"]
    missing = []
    if parameters and "Args:" not in doc:
        missing.append("Args")
    if inspect.isfunction(obj) and "Returns:" not in doc:
        missing.append("Returns")
    if "Example" not in doc or ">>>" not in doc:
        missing.append("an Example with >>> (run as a doctest)")
    # Sets and penalties are written as math; adapters name their set;
    # helpers (get, training, inspection, registries) are not math.
    # ConvLipschitz scales into a set it cannot project onto: it carries its math.
    own_math = (constraints.ProjectionConstraint, constraints.ConvLipschitz)
    adapter = module in ADAPTERS and name != "get" and obj not in own_math
    if adapter:
        if "sets." not in doc:
            missing.append("the name of its set (``sets.X``)")
    elif module is sets and inspect.isclass(obj) and not issubclass(obj, sets.Set):
        pass  # layouts: which entries a set groups, not sets themselves
    elif module in (training, inspection) or name in ("get", "ALL_SETS", "ALL_MAPS", "PADDINGS"):
        pass  # helpers: not math
    elif "$" not in doc:
        missing.append("the math")
    assert not missing, f"{module.__name__}.{name} lacks {', '.join(missing)}"


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("[start:commands]")[1].split("[end:commands]")[0]
    commands = [line for line in section.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2 and commands[1].endswith("&& pytest")
    assert commands[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_every_docs_page_is_in_the_navigation():
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def pages(entries):
        for entry in entries:
            for value in entry.values() if isinstance(entry, dict) else [entry]:
                yield from pages(value) if isinstance(value, list) else [value]

    listed = set(pages(nav))
    on_disk = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert on_disk == listed


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (extra `docs`)"
)
@pytest.mark.slow
def test_site_builds_with_strict(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    api = (tmp_path / "site" / "api" / "constraints" / "index.html").read_text()
    assert "keras_kernel_constraints.constraints.SumTo" in api  # the reference is generated
    assert "arithmatex" in api  # and its math is rendered as math
    for page in (
        "sets",
        "constraints",
        "regularizers",
        "projections",
        "parametrizations",
        "training",
    ):
        html = (tmp_path / "site" / "api" / page / "index.html").read_text()
        # A module docstring's text must not render as extra page titles
        # (an RST table's ==== underline is a Markdown heading).
        assert html.count("<h1") == 1, page
    home = (tmp_path / "site" / "index.html").read_text()
    concepts = (tmp_path / "site" / "concepts" / "index.html").read_text()
    # The tables included from README.md (one source) are on the site.
    assert all(f"<code>{cls.__name__}(" in home for cls in constraints.ALL_CONSTRAINTS)
    quickstart = (tmp_path / "site" / "quickstart" / "index.html").read_text()
    assert "Conv2DTranspose" in concepts and "pip install -e" in quickstart
    assert "--8&lt;--" not in concepts + home + quickstart
    pages = {path: path.read_text() for path in (tmp_path / "site").rglob("*.html")}
    # Formulas are MathML written at build time (docs/hooks/mathml.py): no
    # TeX is left in any page's text, and no page loads anything from the
    # network (math scripts, web fonts), so the site works offline.
    assert sum(html.count("<math") for html in pages.values()) >= 50
    for path, html in pages.items():
        text = _visible_text(html)
        for raw in ("$$", "\\[", "\\]", "\\(", "\\)"):
            assert raw not in text, f"{path}: raw TeX {raw!r} in the rendered text"
        remote = re.findall(r'<(?:script|link|img|iframe)[^>]+(?:src|href)="(?:https?:)?//', html)
        assert not remote, f"{path}: loads {remote}"
    # Every parameter table names each parameter's type (from the annotations).
    for page in ("sets", "constraints", "regularizers", "projections", "inspection", "training"):
        html = pages[tmp_path / "site" / "api" / page / "index.html"]
        for row in re.findall(r'<tr class="doc-section-item">(.*?)</tr>', html, re.S):
            cells = [
                re.sub(r"<[^>]+>|\s", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            ]
            assert len(cells) < 2 or cells[1], f"api/{page}: no type for {cells[0]}"


class _Text(html_parser.HTMLParser):
    """A page's text as a reader sees it, without code, scripts and formulas."""

    SKIPPED = frozenset({"script", "style", "code", "pre", "math"})

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.depth += tag in self.SKIPPED

    def handle_endtag(self, tag):
        self.depth -= tag in self.SKIPPED

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def _visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib")
def test_figures_script_draws_every_figure_the_pages_use(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "figures.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    drawn = {p.name for p in tmp_path.glob("*.png")}
    used = set()
    for page in (ROOT / "docs").rglob("*.md"):
        used |= {part.split(")")[0] for part in page.read_text().split("](img/")[1:]}
    benchmark_plots = {name for name in used if name not in drawn}
    # Whatever the figures script does not draw comes from `python -m benchmarks`.
    assert all((ROOT / "docs" / "img" / name).exists() for name in benchmark_plots)
    assert (
        drawn <= used
        and {
            "groups_conv_kernels.png",
            "sum_to_vs_divide.png",
            "simplex_and_ball.png",
            "monotone_projection.png",
        }
        <= drawn
    )
