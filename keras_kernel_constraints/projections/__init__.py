"""Pure projection functions: ``w -> argmin_{p in C} ||p - w||``.

Every function takes a tensor (or anything ``keras.ops`` accepts), returns a
tensor of the same shape and dtype, uses ``keras.ops`` only and compiles
under XLA. Constraint classes in ``keras_kernel_constraints.constraints``
wrap these with validation and serialization.
"""

from keras_kernel_constraints.projections._affine import (
    project_box,
    project_non_negative,
    project_sum_to,
)
from keras_kernel_constraints.projections._monotone import project_monotone
from keras_kernel_constraints.projections._norms import (
    project_l2_ball,
    project_l2_sphere,
    project_linf_ball,
    project_norm_band,
)
from keras_kernel_constraints.projections._simplex import (
    project_capped_simplex,
    project_l1_ball,
    project_simplex,
)

__all__ = [
    "project_box",
    "project_capped_simplex",
    "project_l1_ball",
    "project_l2_ball",
    "project_l2_sphere",
    "project_linf_ball",
    "project_monotone",
    "project_non_negative",
    "project_norm_band",
    "project_simplex",
    "project_sum_to",
]
