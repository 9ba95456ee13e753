"""The Keras version, and refusing clearly where a feature needs a newer one."""

from __future__ import annotations

import re

import keras


def version_tuple(version: str) -> tuple[int, int]:
    """``(major, minor)`` of a version string such as ``"3.4.1"`` or ``"3.5.0rc1"``."""
    major, minor = (version.split(".") + ["0"])[:2]
    return _leading_int(major), _leading_int(minor)


def _leading_int(text: str) -> int:
    digits = re.match(r"\d*", text)
    return int(digits.group()) if digits and digits.group() else 0


def keras_at_least(minimum: tuple[int, int]) -> bool:
    """Whether the installed Keras is ``minimum`` (major, minor) or newer."""
    return version_tuple(keras.__version__) >= minimum


def require_keras(owner: str, minimum: tuple[int, int], needs: str, instead: str) -> None:
    """Raise ``ValueError`` naming ``owner`` if Keras is older than ``minimum``.

    ``needs`` says what the newer Keras provides; ``instead`` what still works.
    """
    if keras_at_least(minimum):
        return
    wanted = ".".join(map(str, minimum))
    raise ValueError(
        f"{owner} needs Keras >= {wanted} ({needs}); found Keras {keras.__version__}. "
        f"Upgrade (pip install 'keras>={wanted}'){instead}."
    )
