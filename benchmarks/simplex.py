"""project_simplex (TensorFlow, jit_compile) vs optax's projection_simplex (vmap, jax.jit).

Both project the same float32 batch of ``rows`` groups of ``n`` entries onto
the unit simplex, in one process, interleaved; the printed ratio is our time
divided by optax's (below 1 means we are faster). Results are also checked to
agree.

    python -m benchmarks.simplex [--rows 10000] [--n 64] [--repeats 30]
"""

from __future__ import annotations

from benchmarks._timing import batch_parser, interleaved, machine_header


def main(argv=None):
    parser = batch_parser(__doc__)
    args = parser.parse_args(argv)

    import jax
    import keras
    import numpy as np
    import optax
    import tensorflow as tf

    from keras_kernel_constraints.projections import project_simplex

    print(machine_header(tensorflow=tf.__version__, keras=keras.__version__,
                         jax=jax.__version__, optax=optax.__version__))
    print(f"batch: {args.rows} groups x {args.n} entries, float32, CPU\n")

    batch = np.random.default_rng(0).normal(size=(args.rows, args.n)).astype("float32")
    ours = tf.function(lambda x: project_simplex(x, 1.0, axis=-1), jit_compile=True)
    theirs = jax.jit(jax.vmap(lambda v: optax.projections.projection_simplex(v, 1.0)))
    x_tf, x_jax = tf.constant(batch), jax.numpy.asarray(batch)

    np.testing.assert_allclose(ours(x_tf).numpy(), np.asarray(theirs(x_jax)), atol=1e-6)
    times = interleaved(
        {
            "keras_kernel_constraints (TF XLA)": lambda: ours(x_tf).numpy(),
            "optax vmap (jax.jit)": lambda: theirs(x_jax).block_until_ready(),
        },
        repeats=args.repeats,
    )
    for name, t in times.items():
        print(f"{name:<36} min {t['min'] * 1e3:8.3f} ms   median {t['median'] * 1e3:8.3f} ms")
    (_, a), (_, b) = times.items()
    print(f"\nratio ours / optax: min {a['min'] / b['min']:.3f}, "
          f"median {a['median'] / b['median']:.3f}")
    return times


if __name__ == "__main__":
    main()
