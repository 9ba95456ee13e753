"""project_monotone (TensorFlow, jit_compile) vs a loop over scipy's isotonic_regression.

Two cases, each timed in one process with the contenders interleaved:

1. a batch of ``rows`` float32 rows of ``n`` entries (every row its own
   isotonic regression): ours on the whole batch vs a Python loop calling
   ``scipy.optimize.isotonic_regression`` per row;
2. one float32 vector of ``long`` entries: ours vs one scipy call.

Ratios are our time divided by scipy's (below 1 means we are faster).
Results are checked to agree first. Targets (issue 4): case 1 ratio <= 1,
case 2 ratio <= 5.

    python -m benchmarks.monotone [--rows 10000] [--n 64] [--long 100000] [--repeats 30]
"""

from __future__ import annotations

from benchmarks._timing import batch_parser, interleaved, machine_header


def main(argv=None):
    parser = batch_parser(__doc__)
    parser.add_argument("--long", type=int, default=100_000)
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import scipy
    import tensorflow as tf
    from scipy.optimize import isotonic_regression

    from keras_kernel_constraints.projections import project_monotone

    print(machine_header(tensorflow=tf.__version__, keras=keras.__version__,
                         scipy=scipy.__version__))
    ours = tf.function(lambda x: project_monotone(x, axis=-1), jit_compile=True)
    rng = np.random.default_rng(0)
    results = {}
    cases = {
        f"batch {args.rows} x {args.n}": (args.rows, args.n),
        f"one vector of {args.long}": (1, args.long),
    }
    for label, (rows, n) in cases.items():
        # A noisy upward trend: many pooled blocks of every size.
        data = (rng.normal(size=(rows, n)) + np.linspace(0.0, 3.0, n)).astype("float32")
        x_tf = tf.constant(data)

        def scipy_loop(data=data):
            return [isotonic_regression(row).x for row in data]

        np.testing.assert_allclose(
            ours(x_tf).numpy(), np.stack(scipy_loop()), atol=1e-5 * max(1.0, np.log2(n))
        )
        times = interleaved(
            {"keras_kernel_constraints (TF XLA)": lambda x=x_tf: ours(x).numpy(),
             "scipy isotonic_regression": scipy_loop},
            repeats=args.repeats,
        )
        print(f"\n{label}, float32, CPU")
        for name, t in times.items():
            print(f"  {name:<36} min {t['min'] * 1e3:9.3f} ms   median {t['median'] * 1e3:9.3f} ms")
        (_, a), (_, b) = times.items()
        ratio = {"min": a["min"] / b["min"], "median": a["median"] / b["median"]}
        print(f"  ratio ours / scipy: min {ratio['min']:.3f}, median {ratio['median']:.3f}")
        results[label] = {"times": times, "ratio": ratio}
    return results


if __name__ == "__main__":
    main()
