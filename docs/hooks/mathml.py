"""MkDocs hook: the site's math becomes MathML when the site is built.

``pymdownx.arithmatex`` (``generic: true``) leaves each formula as TeX in a
``<span class="arithmatex">\\(...\\)</span>`` or ``<div ...>\\[...\\]</div>``,
for a script to typeset in the browser. Converting it here instead, with
``latex2mathml``, makes every page self-contained: browsers draw MathML
themselves, so formulas render offline, with scripts off, and no TeX is left
in the page text. A formula the converter cannot read fails the build.
"""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert

_FORMULA = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
_CLOSING = {r"\(": r"\)", r"\[": r"\]"}
_UNREAD = re.compile(r">[^<]*\\[^<]*<")  # a backslash in a token's text


def _to_mathml(match: re.Match[str]) -> str:
    tag, body = match.groups()
    tex = html.unescape(body).strip()
    if _CLOSING.get(tex[:2]) != tex[-2:]:
        raise ValueError(f"mathml hook: unexpected arithmatex markup {body[:80]!r}")
    mathml = convert(tex[2:-2].strip(), display="block" if tag == "div" else "inline")
    # latex2mathml passes commands it does not know through as text (\arg).
    if "<merror" in mathml or _UNREAD.search(mathml):
        raise ValueError(f"mathml hook: latex2mathml could not read {tex!r}")
    return f'<{tag} class="arithmatex">{mathml}</{tag}>'


def on_page_content(content: str, **kwargs: Any) -> str:
    return _FORMULA.sub(_to_mathml, content)
