"""Measure 1: training-step overhead of each constraint in a small Conv2D network.

One model per constraint (the same constraint on every kernel: three Conv2D
layers and the Dense head), plus an unconstrained twin, all compiled with
``jit_compile=True``; their ``train_on_batch`` steps on one fixed batch are
timed interleaved, several steps per sample. The ratio is the constrained step time over the
unconstrained one; the difference (ms) is what the projections cost per step.

    python -m benchmarks.training [--smoke] [--device cpu|gpu]
"""

from __future__ import annotations

from benchmarks import _timing

TITLE = "Training overhead"

# Targets from issue 6: cheap sets within 3 %, sorting/merging sets within 10 %;
# issue 16: matrix sets within 50 %; issue 17: intersections by an exact rule within 10 %,
# convex and concave kernels within 15 %.
CHEAP, SORTING, MATRIX, CURVATURE = 1.03, 1.10, 1.50, 1.15
# A second unconstrained model: the noise floor of the comparison.
CONTROL = "unconstrained, second copy (control)"


def contenders():
    """``{label: (constraint or None, target or None)}``; Keras built-ins have no target."""
    import keras

    from keras_kernel_constraints import constraints as kc

    return {
        "NonNeg()": (kc.NonNeg(), CHEAP),
        "Box(-0.1, 0.1)": (kc.Box(-0.1, 0.1), CHEAP),
        "SumTo(1.0)": (kc.SumTo(1.0), CHEAP),
        "L2Ball(1.0)": (kc.L2Ball(1.0), CHEAP),
        "UnitSphere(1.0)": (kc.UnitSphere(1.0), CHEAP),
        "NormBand(0.5, 1.0)": (kc.NormBand(0.5, 1.0), CHEAP),
        "L1Ball(1.0)": (kc.L1Ball(1.0), CHEAP),
        "LinfBall(0.1)": (kc.LinfBall(0.1), CHEAP),
        "Simplex(1.0)": (kc.Simplex(1.0), SORTING),
        "CappedSimplex(1.0, 0.0, 0.5)": (kc.CappedSimplex(1.0, 0.0, 0.5), SORTING),
        "Monotone()": (kc.Monotone(), SORTING),
        # every slice's 2(n + 1) isotonic fits: no target was set
        "Unimodal()": (kc.Unimodal(), None),
        "Convex()": (kc.Convex(), CURVATURE),
        "Concave()": (kc.Concave(), CURVATURE),
        "Orthogonal()": (kc.Orthogonal(), MATRIX),
        "SpectralBall(1.0)": (kc.SpectralBall(1.0), MATRIX),
        # Square matrices: one per tap of the one conv whose kernel has them.
        "Symmetric(batch_axis=(0, 1))": (kc.Symmetric(batch_axis=(0, 1)), MATRIX),
        "PSD(batch_axis=(0, 1))": (kc.PSD(batch_axis=(0, 1)), MATRIX),
        "DoublyStochastic(batch_axis=(0, 1))": (kc.DoublyStochastic(batch_axis=(0, 1)), MATRIX),
        # issue 17: intersections joined by an exact rule within 10 %
        "Intersect(SumTo(1.0), Box(-1.0, 5.0))": (
            kc.Intersect(kc.SumTo(1.0), kc.Box(-1.0, 5.0)),
            SORTING,
        ),
        "Intersect(Monotone(), Simplex(axis=0))": (
            kc.Intersect(kc.Monotone(), kc.Simplex(axis=0)),
            SORTING,
        ),
        "Intersect(Box(-0.1, 0.1), L2Ball(1.0))": (
            kc.Intersect(kc.Box(-0.1, 0.1), kc.L2Ball(1.0)),
            SORTING,
        ),
        # no rule joins these: Dykstra, reported without a target
        "Intersect(L1Ball(1.0), Box(-0.1, 0.1)) (Dykstra)": (
            kc.Intersect(kc.L1Ball(1.0), kc.Box(-0.1, 0.1)),
            None,
        ),
        "keras NonNeg()": (keras.constraints.NonNeg(), None),
        "keras MaxNorm(1.0, axis=[0, 1, 2])": (keras.constraints.MaxNorm(1.0, [0, 1, 2]), None),
        "keras UnitNorm(axis=[0, 1, 2])": (keras.constraints.UnitNorm([0, 1, 2]), None),
    }


def build_model(constraint, image, filters, seed=0, parametrization=None, wrapped=False):
    """The benchmark net: ``constraint`` on every kernel, or every kernel
    parametrized by ``parametrization`` (``Parametrized`` around each layer);
    with ``wrapped``, Adam inside ``optimizers.Projected``."""
    import keras

    from keras_kernel_constraints.parametrizations import Parametrized

    keras.utils.set_random_seed(seed)
    conv = dict(kernel_size=3, padding="same", activation="relu")
    dense_constraint = constraint
    if isinstance(constraint, (keras.constraints.MaxNorm, keras.constraints.UnitNorm)):
        # Keras's norm constraints take explicit axes: a Dense kernel's are [0].
        dense_constraint = type(constraint).from_config({**constraint.get_config(), "axis": 0})

    def fitting(c, shape):
        """``c`` where it fits a kernel of ``shape`` (square-matrix sets fit few)."""
        try:
            if hasattr(c, "group_axes"):
                c.group_axes(shape)
        except ValueError:
            return None
        return c

    def kernel(layer):
        return (
            layer if parametrization is None else Parametrized(layer, {"kernel": parametrization})
        )

    channels = (3, *filters)
    model = keras.Sequential(
        [
            keras.Input((image, image, 3)),
            *(
                kernel(
                    keras.layers.Conv2D(
                        filters[i],
                        strides=1 if i == 0 else 2,
                        kernel_constraint=fitting(constraint, (3, 3, channels[i], filters[i])),
                        **conv,
                    )
                )
                for i in range(len(filters))
            ),
            keras.layers.GlobalAveragePooling2D(),
            kernel(
                keras.layers.Dense(
                    10, kernel_constraint=fitting(dense_constraint, (filters[-1], 10))
                )
            ),
        ]
    )
    from keras_kernel_constraints.optimizers import Projected

    adam = keras.optimizers.Adam(1e-3)
    model.compile(
        optimizer=Projected(adam) if wrapped else adam,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    return model


def run(sizes: dict, placement: _timing.Placement) -> dict:
    models = {"unconstrained": (None, None), CONTROL: (None, None), **contenders()}
    return {
        "title": TITLE,
        "setup": setup(sizes, placement),
        "rows": timed_rows(
            {label: (constraint, None, target) for label, (constraint, target) in models.items()},
            sizes,
            placement,
        ),
    }


def setup(sizes: dict, placement: _timing.Placement) -> str:
    """The benchmark net and the timing, in words."""
    image, filters, batch = sizes["image"], sizes["filters"], sizes["batch"]
    return (
        f"{len(filters)} Conv2D layers ({', '.join(map(str, filters))} filters, 3x3) "
        f"+ Dense(10), each constraint on every kernel it fits (the square-matrix sets: "
        f"the per-tap {filters[0]}x{filters[1]} matrices of the second conv), "
        f"inputs {image}x{image}x3, batch {batch}, Adam, "
        f"jit_compile=True, {placement.describe()}; {sizes['repeats']} interleaved "
        f"rounds of {sizes['steps_per_sample']} steps per model; '{CONTROL}' is an identical "
        f"unconstrained model: its ratio shows the resolution of the measurement"
    )


def timed_rows(
    models: dict, sizes: dict, placement: _timing.Placement, wrapped: frozenset = frozenset()
) -> list:
    """Time the benchmark net once per ``{label: (constraint, parametrization, target)}``,
    interleaved; the first label is the baseline every ratio divides by. The
    labels in ``wrapped`` train with ``optimizers.Projected(Adam)``."""
    import numpy as np

    image, filters, batch = sizes["image"], sizes["filters"], sizes["batch"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, image, image, 3)).astype("float32")
    y = rng.integers(0, 10, size=(batch,))

    block = sizes["steps_per_sample"]
    steps = {}
    with placement.scope():
        for label, (constraint, parametrization, _) in models.items():
            model = build_model(
                constraint,
                image,
                filters,
                parametrization=parametrization,
                wrapped=label in wrapped,
            )
            model.train_on_batch(x, y)  # compile now, outside the timed rounds

            def train(model=model):
                for _ in range(block):
                    model.train_on_batch(x, y)

            steps[label] = train
        times = _timing.interleaved(steps, repeats=sizes["repeats"])

    return _timing.step_rows(
        times, block, {label: target for label, (*_, target) in models.items()}
    )


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import main

    main(["--only", "training", *sys.argv[1:]])
