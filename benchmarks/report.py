"""Turn the measures' results into ``benchmarks.md``, PNG plots and a JSON dump."""

from __future__ import annotations

import json
import pathlib

# Why a target can be missed and what would fix it, shown next to a miss.
# Keys are (start of the measure title, start of the row's label); the first
# match wins, so the more specific keys come first.
MISS_NOTES = {
    ("Projection throughput, Keras on JAX", "L2Ball"): (
        "optax divides by the norm with no guard; ours adds a run-time check that picks "
        "the overflow-safe norm only when a group needs it, and a band test that returns "
        "feasible groups bit for bit (idempotence). A few elementwise operations per "
        "entry on a 0.1 ms call; a hand-fused kernel could hide them, not worth it."
    ),
    ("Projection throughput, Keras on JAX", "UnitSphere"): (
        "as for L2Ball: the overflow check and the exact zero-group handling."
    ),
    ("Projection throughput", "NormBand"): (
        "Keras's MinMaxNorm rescales every group (even feasible ones, and not exactly); "
        "ours tests the band first so feasible groups come back bit for bit, and guards "
        "the norm against overflow."
    ),
    ("Projection throughput, Keras on JAX", ""): (
        "the same work as the anchor's (a max, a clip, a mean subtraction) compiled by the "
        "same XLA; the difference is timing noise on calls of under 0.1 ms (compare the "
        "medians)."
    ),
    ("Projection throughput", ""): (
        "on a 2.4 MiB batch a call costs little more than the framework's dispatch: "
        "TensorFlow's `tf.function` call overhead is about 0.1 ms against JAX's "
        "0.01-0.02 ms (Keras's own NonNeg/MaxNorm/UnitNorm on TensorFlow are as far "
        "behind optax). Nothing in the library can remove it; inside a training step the "
        "projection is fused into the compiled step and pays no call of its own "
        "(training overhead), and the Keras-on-JAX table shows the same code at par."
    ),
    ("Training overhead", "Simplex"): (
        "64 bisection passes over every kernel; fewer halvings (the bracket only needs "
        "eps * max(|w|, s)) or a warm start from the previous step's threshold would cut "
        "them."
    ),
    ("Training overhead", "CappedSimplex"): (
        "64 bisection passes; a warm start from the previous step's threshold would cut them."
    ),
    ("Training overhead", "L1Ball"): (
        "the simplex bisection on |w| plus, since 0.2.0, two exact finishes (the second "
        "keeps the target when entries lie within rounding of the threshold, the "
        "extreme-scale fix): about 1.0-1.5 ms a step here, against a 1.03 target set when it "
        "measured 1.028; a warm start from the previous step's threshold would cut the "
        "bisection."
    ),
    ("Training overhead", "DoublyStochastic"): (
        "the exact projection onto the Birkhoff polytope is an iterative solve: semismooth "
        "Newton steps on the dual, each an n x n linear solve plus a 16-point line search, "
        "inside an XLA while loop, until the sums reach rounding (about 17 ms a step here for "
        "nine 32 x 32 matrices, and the median varies with the steps taken). A warm start "
        "from the previous step's multipliers would cut the steps; it needs state the "
        "constraint API does not carry (the optimizer wrapper of issue 18 could)."
    ),
    ("Training overhead", "Monotone"): (
        "the divide-and-conquer isotonic regression runs log2(n) merge levels; a "
        "closed-form update of the prefix sums would fuse each level into one pass."
    ),
    ("First training step", "Monotone"): (
        "the isotonic regression is traced into the step: the min-max formula for short "
        "slices (about fifteen operations), the merge levels for long or many slices."
    ),
    ("First training step", "project_now"): (
        "outside fit, JAX compiles every operation for every new shape; project_now "
        "compiles each constraint once per shape instead."
    ),
    ("Eager training step", "Monotone"): (
        "an eager step launches every operation of the projection separately; the "
        "min-max formula is about fifteen of them on the (slices, taps, taps) windows."
    ),
    ("Training overhead", ""): (
        "compare with the control row: a ratio inside the control's is measurement noise."
    ),
    ("Memory-bound floor", "SumTo"): (
        "a group sum must be read before any entry is written: two reads and one write. "
        "The sum runs as a matrix-vector product; a reduction of the scaled entries is "
        "not fused by XLA's CPU backend and costs a full extra pass."
    ),
}

# How to read each measure; printed under its heading.
READING = {
    "Training overhead": (
        "The projections run inside the compiled training step, after the optimizer's "
        "update. The control row is a second, identical unconstrained model: its ratio is "
        "the resolution of this measurement on this machine, and ratios within it cannot "
        "be told apart from no cost. `extra ms` is the difference of the mins."
    ),
    "Parametrization overhead": (
        "Each kernel is `f(v)`, computed inside the compiled step by `Parametrized` (one "
        "extra map per kernel in the forward pass and its derivative in the backward "
        "pass), next to the same net with the matching projection after the update. "
        "Ratios at or below the control row's cannot be told apart from no cost; "
        "Orthogonal runs 16 Newton-Schulz steps of three small matrix products per kernel."
    ),
    "Projection throughput": (
        "One call projecting a whole batch. Anchors that are not installed are listed as "
        "skipped; every anchor's result is checked against ours before timing. On a "
        "batch this small the TensorFlow table is dominated by `tf.function`'s call "
        "overhead (compare ours with Keras's own constraints, which pay the same); the "
        "Keras-on-JAX table runs the same code under JAX's dispatch."
    ),
    "Memory-bound floor": (
        "The floor is one read and one write of every entry (`w * one`, with `one` a "
        "run-time argument so XLA cannot fold it away). Elementwise projections are that "
        "pass; a sum-to projection needs one more read."
    ),
    "First training step": (
        "What a user waits for before the first step of `fit`: Keras traces the step "
        "and (with `jit_compile=True`) XLA compiles it, constraints included. Each round "
        "builds a fresh model per contender; `extra ms` is the difference of the mins "
        "from the unconstrained model, the cost of compiling the projection. On "
        "PyTorch, `jit_compile=True` is `torch.compile` (a few contenders, one round: "
        "Inductor caches generated code on disk, so the later models in a run compile "
        "faster than a user's first); the eager table shows its default step."
    ),
    "Eager training step": (
        "Steps that run operation by operation (PyTorch's default; `run_eagerly=True` "
        "on TensorFlow and JAX): every operation of a projection is a separate "
        "dispatch, so the number of operations counts as much as the work."
    ),
    "Scaling": (
        "Slopes are fitted over the three largest sizes. On a CPU, XLA spreads large "
        "arrays over every core, which bends our curves below slope 1 at the top sizes; "
        "scipy and optax's per-vector code stay on one core. The monotone projection is "
        "O(n log n) work in log2(n) merge levels; scipy's PAV is one sequential O(n) "
        "pass, so one very long vector remains scipy's case, and batches of kernels "
        "ours."
    ),
}


def _ms(seconds):
    return f"{seconds * 1e3:.3f}"


def _ratio(r):
    if not r:
        return "—"
    if r.get("unit") == "s":  # an absolute figure in seconds, not a ratio
        form = "+.2f" if r.get("what", "").startswith("extra") else ".2f"
        return f"{r['min']:{form}} s ({r['median']:{form}} s)"
    return f"{r['min']:.3f} ({r['median']:.3f})"


def _target(figure, target):
    if figure.get("unit") == "s":
        sign = "+" if figure.get("what", "").startswith("extra") else ""
        return f"≤ {sign}{target:g} s ({figure['what']})"
    return f"≤ {target:g}"


def _met(ratio, target):
    if target is None or ratio is None:
        return ""
    return "yes" if ratio["min"] <= target else "**no**"


def summary_rows(results):
    """``(measure, item, figure, target)`` for every targeted figure.

    The figure is the row's ratio, or its ``judged`` figure where the target
    is absolute (``{"min", "median", "unit": "s", "what"}``).
    """
    rows = []
    for measure in results.get("measures", []):
        title = measure["title"]
        for row in measure.get("rows", []):
            if row.get("target") is not None:
                figure = row.get("judged", row["ratio"])
                rows.append((title, row["contender"], figure, row["target"]))
        for s in measure.get("sets", []):
            if s.get("target") is not None:
                rows.append(
                    (title, f"{s['set']} vs {s['fastest_anchor']}", s["ratio"], s["target"])
                )
    return rows


def misses(results):
    out = []
    for title, item, ratio, target in summary_rows(results):
        if ratio["min"] > target:
            note = next(
                (
                    text
                    for (t, prefix), text in MISS_NOTES.items()
                    if title.startswith(t) and item.startswith(prefix)
                ),
                "",
            )
            out.append((title, item, ratio, target, note))
    return out


def markdown(results, images):
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks` "
        f"({'smoke mode, tiny sizes: not a measurement' if results['smoke'] else 'full run'})"
        f" on {results['date']}; rerun the command to refresh this page and its plots.",
        "",
        f"**Machine:** {results['machine']}  ",
        f"**Backend / device:** Keras on {results['backend']}, {results['device']}",
        "",
        "**Method.** Every figure is a ratio or a pair measured in the same process "
        "run: the contenders of one comparison are warmed up, then timed in interleaved "
        "rounds (one call each per round), so they share the machine's state. Times are "
        "the min and, in parentheses, the median over the rounds; a target is judged on "
        "the ratio of the mins (the least noisy estimate of each cost). Ratios are ours "
        "divided by the reference: below 1 means we are faster.",
        "",
        *[line for note in results.get("notes", []) for line in (f"**Note.** {note}", "")],
        "## Summary",
        "",
        "| measure | item | ratio min (median) | target | met |",
        "|---|---|---|---|---|",
    ]
    for title, item, figure, target in summary_rows(results):
        lines.append(
            f"| {title} | {item} | {_ratio(figure)} | {_target(figure, target)} | "
            f"{_met(figure, target)} |"
        )
    missed = misses(results)
    if missed:
        lines += ["", "### Misses", ""]
        grouped = {}
        for title, item, figure, target, note in missed:
            unit = f" {figure['unit']}" if "unit" in figure else ""
            grouped.setdefault((title, target, note), []).append(
                f"{item} {figure['min']:.3f}{unit}"
            )
        for (title, target, note), items in grouped.items():
            note = note[:1].upper() + note[1:]
            lines.append(f"- **{title}** (target ≤ {target:g}): {'; '.join(items)}. {note}")
    for measure in results["measures"]:
        lines += ["", f"## {measure['title']}", "", measure["setup"] + "."]
        reading = next(
            (text for key, text in READING.items() if measure["title"].startswith(key)), None
        )
        lines += ["", reading, ""] if reading else [""]
        lines += _measure_table(measure)
        for image in images.get(measure["title"], []):
            lines += ["", f"![{measure['title']}](img/{image})"]
    return "\n".join(lines) + "\n"


def _measure_table(measure):
    if "sets" in measure:
        lines = ["| set | contender | min ms | median ms | ours / this |", "|---|---|---|---|---|"]
        for s in measure["sets"]:
            for row in s["rows"]:
                if "skipped" in row:
                    lines.append(
                        f"| {s['set']} | {row['contender']} | — | — | skipped: {row['skipped']} |"
                    )
                else:
                    lines.append(
                        f"| {s['set']} | {row['contender']} | {_ms(row['min'])} | "
                        f"{_ms(row['median'])} | {_ratio(row.get('ratio'))} |"
                    )
        return lines
    if "sweeps" in measure:
        lines = [
            "| family | sweep | contender | exponent | " + "time (ms, min) by size |",
            "|---|---|---|---|---|",
        ]
        for sweep in measure["sweeps"]:
            for name, curve in sweep["curves"].items():
                times = ", ".join(
                    f"{size:,}: {_ms(t)}"
                    for size, t in zip(sweep["sizes"], curve["min"], strict=True)
                )
                slope = f"{curve['exponent']:.2f}" if curve["exponent"] is not None else "—"
                lines.append(
                    f"| {sweep['family']} | {sweep['sweep']} | {name} | {slope} | {times} |"
                )
        lines += [
            "",
            "First call of ours per size (tracing + XLA compilation, once per shape), seconds:",
            "",
        ]
        for sweep in measure["sweeps"]:
            first = ", ".join(
                f"{size:,}: {s:.1f}"
                for size, s in zip(
                    sweep["sizes"], sweep["curves"]["ours"]["first_call_s"], strict=True
                )
            )
            lines.append(f"- {sweep['family']}, {sweep['sweep']}: {first}")
        return lines
    extra = "extra_ms" in measure["rows"][0]
    lines = [
        "| contender | min ms | median ms | ratio min (median) | "
        + ("extra ms | " if extra else "")
        + "target | met |",
        "|---|---|---|---|" + ("---|" if extra else "") + "---|---|",
    ]
    for row in measure["rows"]:
        figure = row.get("judged", row["ratio"])
        target = _target(figure, row["target"]) if row.get("target") is not None else ""
        cost = ""
        if extra:
            cost = "— | " if row["extra_ms"] is None else f"{row['extra_ms']:+.2f} | "
        lines.append(
            f"| {row['contender']} | {_ms(row['min'])} | {_ms(row['median'])} | "
            f"{_ratio(row['ratio'])} | {cost}{target} | "
            f"{_met(figure, row['target'])} |"
        )
    return lines


def plots(results, img_dir: pathlib.Path) -> dict:
    """Write one PNG per measure; ``{measure title: [file names]}`` (empty without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: no plots (pip install -e ".[bench]")')
        return {}
    img_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for measure in results["measures"]:
        if "sweeps" in measure:
            names = _scaling_plots(plt, measure, img_dir)
        elif "sets" in measure:
            names = [_throughput_plot(plt, measure, img_dir)]
        else:
            names = [_ratio_plot(plt, measure, img_dir)]
        written[measure["title"]] = names
    return written


def _slug(title):
    return title.lower().replace(" ", "_").replace(",", "")


def _ratio_plot(plt, measure, img_dir):
    rows = [r for r in measure["rows"][1:] if r["ratio"] is not None]
    labels = [r["contender"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    ax.barh(labels, [r["ratio"]["min"] for r in rows], color="tab:blue", label="ratio of mins")
    ax.plot(
        [r["ratio"]["median"] for r in rows], labels, "k|", markersize=10, label="ratio of medians"
    )
    ratio_targets = {r["target"] for r in rows if r["target"] is not None and "judged" not in r}
    for target in sorted(ratio_targets):
        ax.axvline(target, color="tab:red", linestyle="--", linewidth=1)
    ax.axvline(1.0, color="gray", linewidth=0.8)
    ax.invert_yaxis()
    low = min(min(r["ratio"]["min"] for r in rows), 0.9)
    ax.set_xlim(low * 0.95, None)
    ax.set_xlabel(f"time / {measure['rows'][0]['contender']} (dashed: targets)")
    ax.set_title(measure["title"])
    ax.legend(loc="lower right", fontsize="small")
    return _save(plt, fig, img_dir, f"{_slug(measure['title'])}.png")


def _throughput_plot(plt, measure, img_dir):
    import numpy as np

    sets = measure["sets"]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(sets) + 1.5))
    y = np.arange(len(sets))
    ours = [s["rows"][0]["min"] * 1e3 for s in sets]
    best = [
        min((r["min"] for r in s["rows"][1:] if "skipped" not in r), default=np.nan) * 1e3
        for s in sets
    ]
    ax.barh(y - 0.2, ours, 0.4, label="ours", color="tab:blue")
    ax.barh(y + 0.2, best, 0.4, label="fastest anchor", color="tab:orange")
    ax.set_yticks(y, [s["set"] for s in sets])
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("time per call, ms (min, log scale)")
    ax.set_title(f"{measure['title']}")
    ax.legend(loc="lower right", fontsize="small")
    return _save(plt, fig, img_dir, f"{_slug(measure['title'])}.png")


def _scaling_plots(plt, measure, img_dir):
    names = []
    for sweep_name in ("length", "groups"):
        sweeps = [s for s in measure["sweeps"] if s["sweep"] == sweep_name]
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        for sweep in sweeps:
            for name, curve in sweep["curves"].items():
                slope = f", slope {curve['exponent']:.2f}" if curve["exponent"] is not None else ""
                ax.loglog(
                    sweep["sizes"][: len(curve["min"])],
                    [t * 1e3 for t in curve["min"]],
                    "o-" if name == "ours" else "s--",
                    label=f"{sweep['family']}: {name}{slope}",
                )
        ax.set_xlabel(
            "group length n (one group)"
            if sweep_name == "length"
            else "number of groups (64 entries each)"
        )
        ax.set_ylabel("time per call, ms (min)")
        ax.set_title(f"{measure['title']}: time vs {sweep_name}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        names.append(_save(plt, fig, img_dir, f"scaling_{sweep_name}.png"))
    return names


def _save(plt, fig, img_dir, name):
    fig.tight_layout()
    fig.savefig(img_dir / name, dpi=110)
    plt.close(fig)
    return name


def write(results, out_dir: pathlib.Path):
    """Write ``benchmarks.md``, ``benchmarks.json`` and ``img/*.png`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images = plots(results, out_dir / "img")
    (out_dir / "benchmarks.md").write_text(markdown(results, images))
    (out_dir / "benchmarks.json").write_text(json.dumps(results, indent=1))
    return out_dir / "benchmarks.md"


if __name__ == "__main__":
    # Re-render a page from a results file without measuring again:
    #     python -m benchmarks.report docs/benchmarks.json
    import sys

    path = pathlib.Path(sys.argv[1])
    print(write(json.loads(path.read_text()), path.parent))
