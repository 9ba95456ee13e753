"""Pure projection functions: ``w -> argmin_{p in C} ||p - w||``.

Every function takes a tensor (or anything ``keras.ops`` accepts), returns a
tensor of the same shape and dtype, uses ``keras.ops`` only and compiles
under XLA. Constraint classes in :mod:`keras_kernel_constraints.constraints`
wrap these with validation and serialization.
"""

from keras_kernel_constraints.projections._affine import (
    project_box,
    project_non_negative,
    project_sum_to,
)

__all__ = ["project_box", "project_non_negative", "project_sum_to"]
