"""Which dtype a weight is computed in, and the float check every entry point runs."""

from __future__ import annotations

from typing import Any

from keras import backend, ops

LOW_PRECISION = ("float16", "bfloat16")

EPSILON = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}
"""Machine epsilon (spacing of floats at 1) per dtype."""

MIN_EXPONENT = {"float16": -14, "bfloat16": -126, "float32": -126, "float64": -1022}
"""Exponent of the smallest normal number per dtype."""

MAX_EXPONENT = {"float16": 15, "bfloat16": 127, "float32": 127, "float64": 1023}
"""Exponent of the largest finite number per dtype (its value is below ``2 ** (e + 1)``)."""

LARGEST = {d: (2.0 - EPSILON[d]) * 2.0 ** MAX_EXPONENT[d] for d in EPSILON}
"""The largest finite number per dtype (exact as a Python float)."""


def float_tensor(w: Any, owner: str) -> tuple[Any, str]:
    """``w`` as a tensor and its dtype name; ``ValueError`` naming ``owner`` if not float."""
    w = ops.convert_to_tensor(w)
    dtype = backend.standardize_dtype(w.dtype)
    if not backend.is_float_dtype(dtype):
        raise ValueError(
            f"{owner} needs a floating-point weight; got dtype {dtype}. "
            "Integer and boolean weights cannot be projected."
        )
    return w, dtype


def compute_dtype(dtype: str) -> str:
    """Accumulation dtype: float32 for half precision, else ``dtype`` itself."""
    return "float32" if dtype in LOW_PRECISION else dtype
