"""EMA under constraints, and projecting weights on demand."""

import keras
import numpy as np
import pytest

from keras_kernel_constraints.constraints import Box, NonNeg, Simplex, UnitSphere
from keras_kernel_constraints.training import ProjectedEMA, keep_ema_feasible, project_now
from tests.feasibility import allowed, max_violation

BOX = Box(0.0, 0.1)


def box_model(optimizer, constraint=BOX, units=3):
    keras.utils.set_random_seed(4)
    layer = keras.layers.Dense(units, kernel_constraint=constraint, use_bias=False)
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile(optimizer, "mse", jit_compile=True)
    return model, layer


def data():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(128, 4)).astype("float32")
    # Targets from weights far outside [0, 0.1], both signs: the raw updates
    # leave the box on every step.
    teacher = rng.normal(scale=5.0, size=(4, 3)).astype("float32")
    return x, x @ teacher


def test_plain_keras_ema_ends_fit_outside_the_box():
    # Keras 3.15 averages the weights before the constraint runs, then writes
    # the average back at the end of fit. If this starts failing, Keras has
    # fixed it and ProjectedEMA can become a no-op.
    model, layer = box_model(keras.optimizers.Adam(0.1, use_ema=True))
    model.fit(*data(), batch_size=16, epochs=3, verbose=0)
    kernel = layer.kernel.numpy()
    assert kernel.min() < -0.5 or kernel.max() > 0.6


def test_projected_ema_keeps_the_average_of_projected_weights():
    model, layer = box_model(keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.9))
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(layer.kernel.numpy().copy()))
    model.fit(*data(), batch_size=16, epochs=2, verbose=0, callbacks=[ProjectedEMA(), record])
    kernel = layer.kernel.numpy()
    assert kernel.min() >= 0.0 and kernel.max() <= np.float32(0.1)
    # The weights after each step are projected; their EMA (momentum 0 on
    # the first step, as Keras does) is what fit must end with.
    average = seen[0].astype(np.float64)
    for weights in seen[1:]:
        average = 0.9 * average + 0.1 * weights
    np.testing.assert_allclose(kernel, average, atol=2e-6)


def test_projected_ema_puts_non_convex_averages_back_on_the_sphere():
    optimizer = keras.optimizers.SGD(0.5, use_ema=True, ema_overwrite_frequency=5)
    model, layer = box_model(optimizer, UnitSphere(axis=0))
    norms_each_epoch = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: norms_each_epoch.append(
            np.linalg.norm(layer.kernel.numpy(), axis=0)))
    model.fit(*data(), batch_size=16, epochs=3, verbose=0, callbacks=[ProjectedEMA(), record])
    for norms in [*norms_each_epoch, np.linalg.norm(layer.kernel.numpy(), axis=0)]:
        np.testing.assert_allclose(norms, 1.0, rtol=1e-6)


def test_projected_ema_works_when_added_on_a_later_fit():
    model, layer = box_model(keras.optimizers.Adam(0.1, use_ema=True))
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # traces the step without it
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[ProjectedEMA()])
    kernel = layer.kernel.numpy()
    assert kernel.min() >= 0.0 and kernel.max() <= np.float32(0.1)


def test_keep_ema_feasible_unwraps_loss_scaling_and_is_idempotent():
    inner = keras.optimizers.Adam(0.1, use_ema=True)
    scaled = keras.optimizers.LossScaleOptimizer(inner)
    assert keep_ema_feasible(scaled) is inner
    patched = inner._update_model_variables_moving_average
    keep_ema_feasible(scaled)
    assert inner._update_model_variables_moving_average is patched
    model, layer = box_model(scaled)
    model.fit(*data(), batch_size=16, epochs=2, verbose=0)
    assert layer.kernel.numpy().min() >= 0.0 and layer.kernel.numpy().max() <= np.float32(0.1)


def test_projected_ema_is_a_no_op_without_ema():
    model, layer = box_model(keras.optimizers.Adam(0.1))
    model.fit(*data(), batch_size=16, epochs=1, verbose=0, callbacks=[ProjectedEMA()])
    assert not getattr(model.optimizer, "_kkc_ema_feasible", False)


def test_project_now_takes_a_model_or_variables():
    model, layer = box_model(keras.optimizers.SGD(), NonNeg())
    layer.kernel.assign(-np.ones((4, 3)))
    extra = keras.Variable(np.array([-2.0, 3.0]))
    extra.constraint = NonNeg()  # keras.Variable(constraint=...) is silently ignored (3.15)
    free = keras.Variable(np.array([-2.0]))
    assert project_now(model) == [layer.kernel]
    assert layer.kernel.numpy().min() == 0.0
    assert project_now([extra, free]) == [extra]
    np.testing.assert_array_equal(extra.numpy(), [0.0, 3.0])
    np.testing.assert_array_equal(free.numpy(), [-2.0])


@pytest.mark.parametrize("momentum", [0.5, 0.99])
def test_plain_average_of_projected_points_stays_in_a_convex_set(momentum):
    # Why step 1 of keep_ema_feasible suffices for convex sets: an EMA is a
    # convex combination.
    rng = np.random.default_rng(0)
    average = np.clip(rng.normal(size=50), 0.0, 0.1)
    for _ in range(100):
        average = momentum * average + (1 - momentum) * np.clip(rng.normal(size=50), 0.0, 0.1)
    assert average.min() >= 0.0 and average.max() <= 0.1 + 1e-15


@pytest.mark.parametrize("constraint", [BOX, Simplex(axis=0), UnitSphere(axis=0)], ids=repr)
def test_gradient_accumulation_matches_the_unaccumulated_run(constraint):
    # Keras runs constraints on every micro-step; idempotent projections make
    # the extra calls harmless, so 4 micro-batches of 8 equal one batch of 32.
    # Both runs start feasible: otherwise the accumulated run projects the
    # initial weights on its first micro-step, before any update, and the
    # plain run projects them only after the first update.
    x, y = data()
    kernels = []
    for batch_size, steps in ((32, None), (8, 4)):
        optimizer = keras.optimizers.SGD(0.05, gradient_accumulation_steps=steps)
        model, layer = box_model(optimizer, constraint)
        project_now(model)
        model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
        kernels.append(layer.kernel.numpy())
    np.testing.assert_allclose(kernels[1], kernels[0], atol=2e-6)
    assert max_violation(constraint, kernels[1]) <= allowed(constraint, kernels[1])
    untrained = box_model(keras.optimizers.SGD(), constraint)[1].kernel.numpy()
    assert not np.allclose(kernels[1], constraint(untrained))  # training moved it
