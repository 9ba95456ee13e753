"""Helpers that keep constraints holding in real training setups.

Keras applies a variable's constraint after every optimizer step. Some
optimizer features write to the variables *after* that, or average values
taken *before* it; the helpers here close those gaps.
"""

from __future__ import annotations

import functools

import keras


def project_now(variables):
    """Apply each variable's constraint to its current value, in place.

    Keras applies constraints only inside an optimizer step; an ``assign``, a
    weight load or an EMA swap bypasses them. Call this to make the weights
    feasible at once.

    Args:
        variables: A model or layer (its trainable weights are used) or an
            iterable of variables. Variables without a constraint are skipped.

    Returns:
        The list of variables that were projected.

    Example:

    >>> from keras_kernel_constraints.constraints import NonNeg
    >>> layer = keras.layers.Dense(2, kernel_constraint=NonNeg())
    >>> layer.build((None, 3))
    >>> _ = layer.kernel.assign(-np.ones((3, 2)))  # bypasses the constraint
    >>> [v.name for v in project_now(layer)]
    ['kernel']
    >>> float(layer.kernel.numpy().min())
    0.0
    """
    if isinstance(variables, keras.layers.Layer):
        variables = variables.trainable_weights
    projected = []
    for variable in variables:
        constraint = getattr(variable, "constraint", None)
        if constraint is not None:
            variable.assign(constraint(variable))
            projected.append(variable)
    return projected


def keep_ema_feasible(optimizer):
    """Make an optimizer's weight EMA (``use_ema=True``) respect constraints.

    Keras updates the moving average of each weight *before* it applies the
    constraints, and at the end of ``fit`` (and every
    ``ema_overwrite_frequency`` steps) writes that average into the model: a
    box-constrained kernel can end ``fit`` far outside its box. After this
    call the optimizer

    1. projects constrained weights before averaging them, so the average is
       the average of feasible points (inside the set when the set is convex:
       boxes, simplices, balls);
    2. projects the weights again right after it writes the average into
       them, which also covers non-convex sets (a sphere, a norm band), whose
       averages fall inside.

    The optimizer instance is patched in place (``LossScaleOptimizer`` is
    unwrapped); calling it twice is harmless. Do it before the first training
    step, or use :class:`ProjectedEMA`, which does it for ``fit``.

    Args:
        optimizer: A Keras optimizer, possibly a ``LossScaleOptimizer``.

    Returns:
        The (inner) optimizer that was patched.
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if getattr(inner, "_kkc_ema_feasible", False):
        return inner
    update = inner._update_model_variables_moving_average
    overwrite = inner._overwrite_model_variables_with_average_value

    @functools.wraps(update)
    def update_from_projected(trainable_variables):
        project_now(trainable_variables)
        return update(trainable_variables)

    @functools.wraps(overwrite)
    def overwrite_then_project(trainable_variables):
        result = overwrite(trainable_variables)
        project_now(trainable_variables)
        return result

    inner._update_model_variables_moving_average = update_from_projected
    inner._overwrite_model_variables_with_average_value = overwrite_then_project
    inner._kkc_ema_feasible = True
    return inner


class ProjectedEMA(keras.callbacks.Callback):
    """Callback for ``fit``: keeps constrained weights feasible under ``use_ema=True``.

    At the start of training it applies :func:`keep_ema_feasible` to the
    model's optimizer and rebuilds the train function so that the compiled
    step uses it. Without it, Keras 3 ends ``fit`` with the moving average of
    *unprojected* weights: a ``Box(0, 0.1)`` kernel has been seen to end with
    values in ``[-5.2, 7.9]``.

    Example:

    >>> from keras_kernel_constraints.constraints import Box
    >>> model = keras.Sequential([keras.Input((3,)),
    ...                           keras.layers.Dense(2, kernel_constraint=Box(0.0, 0.1))])
    >>> model.compile(keras.optimizers.Adam(use_ema=True), "mse")
    >>> history = model.fit(np.ones((8, 3)), np.ones((8, 2)), verbose=0,
    ...                     callbacks=[ProjectedEMA()])
    >>> bool(0.0 <= model.layers[0].kernel.numpy().min())
    True
    """

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if not getattr(getattr(optimizer, "inner_optimizer", optimizer), "use_ema", False):
            return
        keep_ema_feasible(optimizer)
        # The step may already be traced (a previous fit); trace it again.
        self.model.make_train_function(force=True)
