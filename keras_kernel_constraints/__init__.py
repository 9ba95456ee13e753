"""Keep Keras weights inside the set you choose.

Three modules, one vocabulary:

* ``projections``: pure functions returning the
  exact Euclidean projection of a tensor onto a set;
* ``constraints``: ``keras.constraints``
  classes that apply those projections after every optimizer step;
* ``regularizers``: soft penalties, zero on the
  set, for ``kernel_regularizer=`` and friends;
* ``training``: helpers that keep constraints
  holding where Keras's optimizer would let them slip (weight EMA, direct
  assignment).

Importing the package registers every class with Keras, so models that use
them load with ``keras.saving.load_model`` and no ``custom_objects``.
"""

from importlib import metadata as _metadata

from keras_kernel_constraints import constraints, projections, regularizers, training

try:
    __version__ = _metadata.version("keras-kernel-constraints")
except _metadata.PackageNotFoundError:  # imported from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__", "constraints", "projections", "regularizers", "training"]
