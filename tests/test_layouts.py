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
        (Matrices(), (5, 3, 4), (1, 2), 12),
        (Matrices(axes=(2, 0)), (5, 3, 4), (2, 0), 20),  # rows along axis 2
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
        (Matrices(), (4,), r"Owner needs a weight of rank >= 2 .* got shape \(4,\)"),
        (Matrices(axes=(1, -1)), (3, 4), r"Owner: `axes`=\[1, -1\] names the same axis twice"),
    ],
)
def test_a_weight_that_does_not_fit_raises_naming_the_owner(layout, shape, message):
    with pytest.raises(ValueError, match=message):
        layout.resolve(shape, "float32", "Owner")


def test_matrix_rows_keep_row_then_column_order():
    w = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4)
    resolved = Matrices(axes=(2, 1)).resolve(w.shape, "float32", "Owner")
    rows, restore = resolved.to_rows(w)
    # Each row of `rows` is one matrix, flattened with axis 2 as its rows.
    np.testing.assert_array_equal(to_numpy(rows)[1], np.transpose(w[1]).ravel())
    np.testing.assert_array_equal(to_numpy(restore(rows)), w)
