"""Specs of the matrix sets: Orthogonal, SpectralBall, Symmetric, PSD, DoublyStochastic.

A weight is read as matrices the way the sets document it, rewritten here
in NumPy: rows indexed by ``axis`` (default: every axis but the last and the
batch axes), columns by the rest, one matrix per index of ``batch_axis``.
References: ``scipy.linalg.polar`` (Orthogonal), ``numpy.linalg.svd`` with
clipped singular values (SpectralBall), ``numpy.linalg.eigh`` with clipped
eigenvalues (PSD; eigenvalues onto the capped set by sorting, for a trace),
a convex solver's point finished by an exact solve of the optimality
conditions on its support (DoublyStochastic).
``tests/constraints/test_matrices.py`` checks the references
against a convex solver.
"""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import scipy.linalg

from tests.helpers import EPS, keras_at_least
from tests.specs import Spec
from tests.specs.affine import BAD_AXES, real

BAD_BATCH_AXES = (
    ({"batch_axis": 1.5}, "batch_axis"),
    ({"batch_axis": [0, 0]}, "batch_axis"),
    ({"batch_axis": "units"}, "batch_axis"),
    ({"batch_axis": []}, "batch_axis"),
)


def _axes(value, ndim):
    if value is None:
        return ()
    values = (value,) if isinstance(value, int) else tuple(value)
    return tuple(sorted(v % ndim for v in values))


def layout_of(params, ndim):
    """(batch axes, row axes, column axes) of a weight of rank ``ndim``."""
    batch = _axes(params.get("batch_axis"), ndim)
    if params.get("axis") is None:
        rows = tuple(a for a in range(ndim - 1) if a not in batch)
    else:
        rows = _axes(params["axis"], ndim)
    columns = tuple(a for a in range(ndim) if a not in batch + rows)
    return batch, rows, columns


def matrices_of(params, w):
    """``w`` as an array of matrices ``(count, rows, columns)`` and the map back."""
    batch, rows, columns = layout_of(params, w.ndim)
    perm = batch + rows + columns
    moved = np.transpose(w, perm)
    size = lambda axes: int(np.prod([w.shape[a] for a in axes]))  # noqa: E731
    stack = moved.reshape(-1, size(rows), size(columns))

    def back(m):
        return np.transpose(m.reshape(moved.shape), np.argsort(perm))

    return stack, back


def matrix_group(params, ndim):
    """Axes of one group (one matrix): every axis but the batch axes."""
    batch = _axes(params.get("batch_axis"), ndim)
    return tuple(a for a in range(ndim) if a not in batch)


def per_matrix(function):
    def reference(params, w):
        stack, back = matrices_of(params, w)
        return back(np.stack([function(params, m) for m in stack]))

    return reference


# --- references -------------------------------------------------------------


def polar(params, m):
    return scipy.linalg.polar(m)[0]


def spectral_clip(params, m):
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    return (u * np.minimum(s, params["max_value"])) @ vt


def symmetric_part(params, m):
    return 0.5 * (m + m.T)


def eigenvalues_onto(values, low, total):
    """Projection of a vector onto ``{x >= low, sum(x) = total}`` by sorting."""
    y = values - low
    spare = total - low * len(values)
    u = np.sort(y)[::-1]
    css = np.cumsum(u) - spare
    k = np.arange(1, len(u) + 1)
    tau = np.max(css / k)
    return low + np.maximum(y - tau, 0.0)


def psd_clip(params, m):
    values, vectors = np.linalg.eigh(0.5 * (m + m.T))
    low = params["min_eigenvalue"]
    if params.get("trace") is None:
        clipped = np.maximum(values, low)
    else:
        clipped = eigenvalues_onto(values, low, params["trace"])
    return (vectors * clipped) @ vectors.T


def birkhoff_projection(params, m):
    """The nearest doubly stochastic matrix: cvxpy (Clarabel), then exact.

    The solver's point is accurate to about 1e-9. On its support the
    optimality conditions read ``x = m + u_i + v_j`` with unit row and
    column sums: a linear system whose solution fixes ``x`` there exactly
    (a support that falls apart into blocks leaves ``u`` and ``v`` free by
    one shift per block, which cancels in ``x``). If that point is not
    within 1e-6 of the solver's (a support misread), the solver's is
    returned.
    """
    import cvxpy as cp

    n = m.shape[0]
    x = cp.Variable((n, n))
    constraints = [x >= 0, cp.sum(x, axis=0) == 1, cp.sum(x, axis=1) == 1]
    problem = cp.Problem(cp.Minimize(cp.sum_squares(x - m)), constraints)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    rough = np.asarray(x.value)
    support = (rough > 1e-7).astype(np.float64)
    system = np.block([[np.diag(support.sum(1)), support], [support.T, np.diag(support.sum(0))]])
    target = np.concatenate([1.0 - (support * m).sum(1), 1.0 - (support * m).sum(0)])
    multipliers = np.linalg.lstsq(system, target, rcond=None)[0]
    exact = support * (m + multipliers[:n, None] + multipliers[None, n:])
    return exact if np.abs(exact - rough).max() < 1e-6 else rough


# --- violations and allowances ----------------------------------------------


def _worst(params, w, measure):
    stack, _ = matrices_of(params, w)
    return max([0.0, *(float(measure(m)) for m in stack)])


def orthogonal_violation(params, w):
    def gap(m):
        small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        return np.abs(small - np.eye(small.shape[0])).max()

    return _worst(params, w, gap)


def spectral_violation(params, w):
    return _worst(params, w, lambda m: np.linalg.norm(m, 2) - params["max_value"])


def symmetric_violation(params, w):
    return _worst(params, w, lambda m: np.abs(m - m.T).max())


def psd_violation(params, w):
    def gap(m):
        values = np.linalg.eigvalsh(0.5 * (m + m.T))
        worst = max(np.abs(m - m.T).max(), params["min_eigenvalue"] - values.min())
        if params.get("trace") is not None:
            worst = max(worst, abs(np.trace(m) - params["trace"]))
        return worst

    return _worst(params, w, gap)


def doubly_stochastic_violation(params, w):
    def gap(m):
        sums = np.concatenate([m.sum(0) - 1.0, m.sum(1) - 1.0])
        return max(np.abs(sums).max(), -m.min())

    return _worst(params, w, gap)


def _side(params, w):
    stack, _ = matrices_of(params, w)
    return max(stack.shape[1], stack.shape[2])


def orthogonal_allowance(params, w, dtype, scale):
    """n eps: the Gram of a rounded orthonormal matrix, n entries per column."""
    return 4 * _side(params, w) * EPS[dtype]


def spectral_allowance(params, w, dtype, scale):
    """sqrt(rows * columns) eps of the larger of c and the scale: rounding the entries."""
    stack, _ = matrices_of(params, w)
    return 4 * np.sqrt(stack.shape[1] * stack.shape[2]) * EPS[dtype] * max(1.0, scale)


def psd_allowance(params, w, dtype, scale):
    """n eps scale: eigenvalues of a rounded matrix, and its trace."""
    return 8 * _side(params, w) * EPS[dtype] * scale


def doubly_stochastic_allowance(params, w, dtype, scale):
    """n eps scale: the row and column sums of entries rounded at the input's scale."""
    return 2 * _side(params, w) * EPS[dtype] * scale


# --- hypothesis cases -------------------------------------------------------


@st.composite
def matrix_layout(draw, square):
    """A shape and a layout that fit: ``(shape, {"axis": ..., "batch_axis": ...})``."""
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    side = draw(st.integers(1, 5))
    rows = [side] if square else draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))
    columns = [side] if square else [draw(st.integers(1, 5))]
    pieces = [("b", n) for n in batch] + [("r", n) for n in rows] + [("c", n) for n in columns]
    order = draw(st.permutations(range(len(pieces))))
    placed = [pieces[i] for i in order]
    shape = tuple(n for _, n in placed)
    batch_axes = [i for i, (kind, _) in enumerate(placed) if kind == "b"]
    row_axes = [i for i, (kind, _) in enumerate(placed) if kind == "r"]
    layout = {
        "axis": row_axes[0] if len(row_axes) == 1 else row_axes,
        "batch_axis": batch_axes or None,
    }
    if len(batch_axes) == 1:
        layout["batch_axis"] = batch_axes[0]
    return shape, layout


def cases(square, extra=lambda rows: st.just({})):
    """Strategy of ``(shape, params)`` for the property tests; ``extra(rows)``
    draws the set's own parameters for matrices of ``rows`` rows."""

    @st.composite
    def draw_case(draw):
        shape, layout = draw(matrix_layout(square))
        rows = int(np.prod([shape[a] for a in layout_of(layout, len(shape))[1]]))
        return shape, {**draw(extra(rows)), **layout}

    return draw_case()


@st.composite
def psd_params(draw, rows):
    low = draw(real(-2.0, 2.0))
    if not keras_at_least(3, 3) or draw(st.booleans()):  # a trace needs keras.ops.eigh
        return {"min_eigenvalue": low, "trace": None}
    return {"min_eigenvalue": low, "trace": rows * low + draw(real(0.0, 5.0))}


def matrix_spec(name, **kwargs):
    defaults = dict(
        layout="matrices",
        params=lambda shape, axis: st.just({}),
        touches_boundary=lambda params, w, dtype: True,
        shapes=((3, 3, 2, 4), (6, 5)),
    )
    return Spec(name=name, **{**defaults, **kwargs})


LAYOUT = {"axis": None, "batch_axis": None}

SPECS = (
    matrix_spec(
        "Orthogonal",
        examples=(LAYOUT, {"axis": 0, "batch_axis": None}),
        violation=orthogonal_violation,
        allowance=orthogonal_allowance,
        reference=per_matrix(polar),
        bad_arguments=(*BAD_AXES, *BAD_BATCH_AXES),
        convex=lambda params: False,
        cases=cases(False),
        xla_eps=64.0,
        function="project_orthogonal",
        penalty="OrthogonalPenalty",
    ),
    matrix_spec(
        "SpectralBall",
        examples=({"max_value": 1.0, **LAYOUT}, {"max_value": 0.5, "axis": 0, "batch_axis": None}),
        violation=spectral_violation,
        allowance=spectral_allowance,
        reference=per_matrix(spectral_clip),
        bad_arguments=(
            ({"max_value": 0.0}, "max_value"),
            ({"max_value": -1.0}, "max_value"),
            ({"max_value": float("inf")}, "max_value"),
            ({"max_value": float("nan")}, "max_value"),
            *BAD_AXES,
            *BAD_BATCH_AXES,
        ),
        cases=cases(False, lambda rows: real(0.01, 10.0).map(lambda c: {"max_value": c})),
        xla_eps=64.0,
        sums=True,  # matrix products: rounding of n eps ||W||, below eps sum|w|
        function="project_spectral_ball",
        penalty="SpectralBallPenalty",
    ),
    matrix_spec(
        "Symmetric",
        examples=(LAYOUT,),
        violation=symmetric_violation,
        allowance=lambda params, w, dtype, scale: 2 * EPS[dtype] * scale,
        reference=per_matrix(symmetric_part),
        bad_arguments=(*BAD_AXES, *BAD_BATCH_AXES),
        cases=cases(True),
        shapes=((6, 6), (4, 4)),
        function="project_symmetric",
    ),
    matrix_spec(
        "PSD",
        examples=(
            {"min_eigenvalue": 0.0, "trace": None, **LAYOUT},
            # A trace needs keras.ops.eigh (Keras 3.3); without one, matrix products.
            *([{"min_eigenvalue": 0.1, "trace": 2.0, **LAYOUT}] if keras_at_least(3, 3) else []),
        ),
        violation=psd_violation,
        allowance=psd_allowance,
        reference=per_matrix(psd_clip),
        bad_arguments=(
            ({"min_eigenvalue": float("nan")}, "min_eigenvalue"),
            ({"min_eigenvalue": float("-inf")}, "min_eigenvalue"),
            ({"min_eigenvalue": None}, "min_eigenvalue"),
            ({"trace": float("inf")}, "trace"),
            ({"trace": "1"}, "trace"),
            *BAD_AXES,
            *BAD_BATCH_AXES,
        ),
        cases=cases(True, psd_params),
        shapes=((6, 6), (4, 4)),
        xla_eps=64.0,
        sums=True,  # rounding of n eps ||W||, below eps sum|w|
        function="project_psd",
    ),
    matrix_spec(
        "DoublyStochastic",
        examples=(LAYOUT, {"axis": 0, "batch_axis": None}),
        violation=doubly_stochastic_violation,
        allowance=doubly_stochastic_allowance,
        reference=per_matrix(birkhoff_projection),
        bad_arguments=(*BAD_AXES, *BAD_BATCH_AXES),
        cases=cases(True),
        shapes=((6, 6), (4, 4)),
        xla_eps=64.0,
        function="project_doubly_stochastic",
    ),
)
