"""Layouts resolve once, against the weight, and every error names the caller."""

import numpy as np
import pytest

from keras_kernel_constraints.sets import Elementwise, Groups, Matrices, Slices
from tests.helpers import to_numpy


@pytest.mark.parametrize(
    "layout, shape, axes, size",
    [
        (Elementwise(), (3, 4), (), 1),
        (Groups(), (3, 3, 8, 16), (0, 1, 2), 72),
        (Groups(), (7,), (0,), 7),
        (Groups(), (), (), 1),
        (Groups(axis=(-1, 0)), (2, 3, 4), (0, 2), 8),
        (Slices(axis=-2), (5, 6, 7), (1,), 6),
        (Matrices(), (5, 3, 4), (0, 1), 15),  # a (5·3) x 4 matrix
        (Matrices(batch_axis=0), (5, 3, 4), (1,), 3),  # five 3 x 4 matrices
        (Matrices(axis=2, batch_axis=0), (5, 3, 4), (2,), 4),  # five 4 x 3 matrices
    ],
)
def test_layouts_resolve_to_axes_and_group_size(layout, shape, axes, size):
    resolved = layout.resolve(shape, "bfloat16", "Owner")
    assert (resolved.axes, resolved.size, resolved.compute_dtype) == (axes, size, "float32")


@pytest.mark.parametrize(
    "layout, shape, message",
    [
        (Groups(axis=2), (3, 4), r"Owner: `axis`=2 is out of range .* \(3, 4\)"),
        (Groups(axis=(0, -2)), (3, 4), r"Owner: `axis`=\[0, -2\] names the same axis twice"),
        (Groups(axis=0), (), "Owner: `axis`=0 is out of range for a scalar weight"),
        (Slices(axis=0), (), "Owner needs a weight of rank >= 1"),
        (Matrices(), (4,), r"Owner needs a matrix: a weight of rank >= 2 .* got shape \(4,\)"),
        (Matrices(axis=(1, -1)), (3, 4), r"Owner: `axis`=\[1, -1\] names the same axis twice"),
        (Matrices(axis=(0, 1)), (3, 4), r"Owner: no axis is left for the columns"),
        (Matrices(axis=0, batch_axis=1), (3, 4), r"Owner: no axis is left for the columns"),
        (Matrices(batch_axis=0), (3, 4), r"Owner: no axis is left for the rows"),
        (Matrices(axis=1, batch_axis=(1, 2)), (3, 4, 5), r"`axis` and `batch_axis` share .*\[1\]"),
        (Matrices(batch_axis=3), (3, 4), r"Owner: `batch_axis`=3 is out of range"),
    ],
)
def test_a_weight_that_does_not_fit_raises_naming_the_owner(layout, shape, message):
    with pytest.raises(ValueError, match=message):
        layout.resolve(shape, "float32", "Owner")


def test_matrices_are_batch_then_rows_then_columns():
    w = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4)
    resolved = Matrices(axis=2, batch_axis=0).resolve(w.shape, "float32", "Owner")
    matrices, restore = resolved.to_matrices(w)
    # Matrix b has axis 2 as its rows: the transpose of w[b].
    np.testing.assert_array_equal(to_numpy(matrices)[1], np.transpose(w[1]))
    np.testing.assert_array_equal(to_numpy(restore(matrices)), w)
    kernel = np.arange(3 * 3 * 2 * 4, dtype="float32").reshape(3, 3, 2, 4)
    resolved = Matrices().resolve(kernel.shape, "float32", "Owner")
    flat, restore = resolved.to_matrices(kernel)
    np.testing.assert_array_equal(to_numpy(flat)[0], kernel.reshape(18, 4))
    np.testing.assert_array_equal(to_numpy(restore(flat)), kernel)
