"""Choosing a penalty's ``strength`` from the constraint's Lagrange multiplier.

The data come from the mix [1.0, -0.5, 0.3, 0.8]; the second weight must stay
non-negative. Train once with the constraint, read the multiplier at its
result, then predict what each penalty will do before training with it:

1. ``Dense(1, kernel_constraint=NonNeg())`` ends at the constrained optimum
   ``w*``, with the second weight exactly 0.
2. The gradient of the data loss at ``w*`` is the multiplier ``λ``: the
   force pushing the active weight out of the set (0 on inactive weights).
3. ``NonNegPenalty(strength=s, power=1)`` is exact (ends at ``w*``) when
   ``s > λ``; below, the weight ends at ``-(λ - s) / h``.
   ``power=2`` always leaves ``-λ / (2 s + h)``, at most ``λ / (2 s)``.
   ``h`` is the loss's curvature along the weight (``2 · mean(x_i²)`` for a
   mean squared error), which only makes the violation smaller.

    python examples/penalty_strength.py [--steps 300]
"""

import argparse

import keras
import numpy as np

from keras_kernel_constraints.constraints import NonNeg
from keras_kernel_constraints.regularizers import NonNegPenalty

TRUE_MIX = np.array([1.0, -0.5, 0.3, 0.8], "float32")
ACTIVE = 1  # the weight the data want negative
# (power, strength): below and above the multiplier for power=1, rising for power=2
PENALTIES = ((1, 0.5), (1, 0.9), (1, 1.5), (1, 3.0), (2, 1.0), (2, 10.0), (2, 100.0))


def fit(x, y, steps, **kernel_options):
    """The kernel after ``steps`` full-batch steps, so each run ends at its optimum."""
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", **kernel_options)
    model = keras.Sequential([keras.Input((x.shape[1],)), layer])
    model.compile(keras.optimizers.Adam(0.02), "mse")
    # One epoch over the data repeated `steps` times: the same steps, less overhead.
    repeat = (steps, 1)
    model.fit(np.tile(x, repeat), np.tile(y, repeat), batch_size=len(x), shuffle=False, verbose=0)
    return keras.ops.convert_to_numpy(layer.kernel)[:, 0]


def data_loss_gradient(x, y, w):
    """Gradient of mean((x @ w - y)²) at ``w``."""
    return 2.0 * x.T @ (x @ w - y[:, 0]) / len(x)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="full-batch steps per run")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 4)).astype("float32")
    y = (x @ TRUE_MIX + 0.05 * rng.normal(size=1024)).astype("float32")[:, None]

    constrained = fit(x, y, args.steps, kernel_constraint=NonNeg())
    multiplier = float(data_loss_gradient(x, y, constrained)[ACTIVE])
    curvature = float(2.0 * np.mean(x[:, ACTIVE] ** 2))
    print(f"constrained optimum w* = {np.round(constrained, 4)}")
    print(f"multiplier λ = {multiplier:.3f}, curvature h = {curvature:.3f}\n")

    print(f"{'penalty':<38}{'predicted w[1]':>15}{'measured w[1]':>15}")
    rows = []
    for power, strength in PENALTIES:
        if power == 1:
            predicted = min(strength - multiplier, 0.0) / curvature
        else:
            predicted = -multiplier / (2.0 * strength + curvature)
        penalty = NonNegPenalty(strength=strength, power=power)
        measured = float(fit(x, y, args.steps, kernel_regularizer=penalty)[ACTIVE])
        name = f"NonNegPenalty(strength={strength:g}, power={power})"
        print(f"{name:<38}{predicted:>15.4f}{measured:>15.4f}")
        rows.append((power, strength, predicted, measured))
    print(
        "\nrule of thumb: power=1 with strength above λ is exact; power=2 leaves at most "
        "λ / (2 · strength), so strength = λ / (2 · tolerance)"
    )
    return {"multiplier": multiplier, "curvature": curvature, "rows": rows}


if __name__ == "__main__":
    main()
