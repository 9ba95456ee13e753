"""A custom layer for the wrapper tests, importable without this package (for bake)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable("tests")
class Scale(keras.layers.Layer):
    """A custom layer with an ``add_weight`` variable named ``w``."""

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], 3),
            initializer=keras.initializers.RandomUniform(0.1, 1.0),
            name="w",
        )

    def call(self, x):
        return ops.matmul(x, self.w)
