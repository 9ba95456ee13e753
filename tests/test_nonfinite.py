"""What each set does with infinite entries: the limit point where one exists.

For a bounded set C, the projections of ``w + t * d`` converge as ``t`` grows
(to the point of C's face in direction ``d`` nearest to ``w``), so an
infinite entry has a meaningful image. The expected values below are those
limits, written by hand. Unbounded sets (sums, orders, orthants) have no such
limit for most rays; there an infinity stays confined to its group
(test_properties.py) and this file only pins the documented results.
"""

import numpy as np
import pytest

from keras_kernel_constraints import constraints as kc
from tests.helpers import as_f64, tensor

INF = np.inf
LIMITS = [
    # constraint, input, limit, exact (else up to RESIDUE)
    (kc.L2Ball(1.0), [INF, 1.0, -2.0], [1.0, 0.0, 0.0], False),
    (kc.L2Ball(0.5), [-INF, 3.0], [-0.5, 0.0], False),
    (kc.L2Ball(1.0), [INF, INF, 0.0], [0.5**0.5, 0.5**0.5, 0.0], False),
    (kc.UnitSphere(2.0), [1.0, -INF], [0.0, -2.0], False),
    (kc.NormBand(0.5, 1.5), [INF, 7.0], [1.5, 0.0], False),
    (kc.Simplex(1.0), [INF, 1.0, 0.5], [1.0, 0.0, 0.0], True),
    (kc.Simplex(2.0), [INF, 1.0], [2.0, 0.0], True),
    (kc.Simplex(1.0), [-INF, 0.25, 0.75], [0.0, 0.25, 0.75], True),
    (kc.L1Ball(1.0), [INF, 0.5], [1.0, 0.0], True),
    (kc.L1Ball(2.0), [0.5, -INF], [0.0, -2.0], True),
    (kc.CappedSimplex(1.0, 0.0, 0.7), [INF, 1.0, 0.0], [0.7, 1 - 0.7, 0.0], True),
    (kc.CappedSimplex(1.0, 0.0, 0.7), [-INF, 1.0, 0.0], [0.0, 0.7, 1 - 0.7], True),
    (kc.LinfBall(0.5), [INF, -INF, 0.25], [0.5, -0.5, 0.25], True),
    (kc.Box(0.0, 1.0), [INF, -INF], [1.0, 0.0], True),
    (kc.Box(min_value=1.0), [INF, -INF], [INF, 1.0], True),  # an open side keeps inf
    (kc.NonNeg(), [INF, -INF], [INF, 0.0], True),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("constraint, w, limit, exact", LIMITS, ids=repr)
def test_an_infinite_entry_goes_to_the_limit_point(constraint, w, limit, exact, dtype):
    # Issue 14: L2Ball()([inf, 1]) gave [nan, nan]; the nearest point of the
    # ball to [t, 1] tends to [1, 0].
    out = as_f64(constraint(tensor(np.array(w), dtype)))
    want = np.array(limit)
    if exact:
        np.testing.assert_array_equal(out, want.astype(dtype))
    else:
        # The l2 sets read inf as the largest float, which leaves the finite
        # entries scaled by |w_i| / largest: subnormal residue, not zero.
        finite = np.abs(np.array(w)[np.isfinite(w)]).max()
        residue = finite * np.abs(want).max() / np.finfo(dtype).max
        np.testing.assert_allclose(out, want, rtol=2 * np.finfo(dtype).eps, atol=2 * residue)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_group_spanning_the_float_range(sign, dtype):
    big = sign * 0.9 * float(np.finfo(dtype).max)
    w = np.array([big, 1.0, 0.0])
    simplex = as_f64(kc.Simplex(2.0)(tensor(w, dtype)))
    assert simplex.tolist() == ([2.0, 0.0, 0.0] if sign > 0 else [0.0, 1.5, 0.5])
    out = as_f64(kc.CappedSimplex(1.0, 0.0, 0.7)(tensor(w, dtype)))
    want = [0.7, 1 - 0.7, 0.0] if sign > 0 else [0.0, 0.7, 1 - 0.7]  # sums to 1 exactly
    np.testing.assert_array_equal(out, np.array(want, dtype))


def test_unbounded_sets_keep_no_limit_inside_the_group():
    # SumTo([t, 1]) = [t/2, 1 - t/2] diverges: no limit, the group is lost
    # (NaN or inf), and only that group.
    w = np.array([[INF, 0.0], [1.0, 0.0]])
    out = as_f64(kc.SumTo(1.0)(tensor(w, "float64")))  # groups are columns
    assert not np.all(np.isfinite(out[:, 0]))
    np.testing.assert_array_equal(out[:, 1], [0.5, 0.5])
