"""Keep Keras weights inside the set you choose.

One vocabulary of sets, several mechanisms on each:

* ``sets``: the sets themselves, independent of Keras layers: validated
  parameters, a layout and the exact Euclidean projection;
* ``projections``: pure functions returning a set's projection of a tensor;
* ``constraints``: ``keras.constraints`` classes that apply those
  projections after every optimizer step;
* ``regularizers``: soft penalties, zero on the set, for
  ``kernel_regularizer=`` and friends;
* ``lipschitz``: a convolution layer's operator norm (exact for circular
  padding) and a certified bound cheap enough for every step;
* ``inspection``: what a constraint does to a model's weights
  (``constraint_summary``) and the groups that are one output unit of each
  layer kind (``unit_axis``);
* ``optimizers``: ``Projected``, an optimizer wrapper that steps
  constrained variables along their sets (tangent gradients and moments);
* ``training``: helpers that keep constraints holding where Keras's
  optimizer would let them slip (weight EMA, direct assignment), and
  ``attach`` for models built without them.

Importing the package registers every class with Keras, so models that use
them load with ``keras.saving.load_model`` and no ``custom_objects``.
"""

from importlib import metadata as _metadata

from keras_kernel_constraints import (
    constraints,
    inspection,
    lipschitz,
    optimizers,
    parametrizations,
    projections,
    regularizers,
    sets,
    training,
)
from keras_kernel_constraints._core import registry as _registry

try:
    __version__ = _metadata.version("keras-kernel-constraints")
except _metadata.PackageNotFoundError:  # imported from a source tree
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "constraints",
    "inspection",
    "lipschitz",
    "optimizers",
    "parametrizations",
    "projections",
    "regularizers",
    "sets",
    "training",
]

_registry.register_with_tf_keras()
