"""Plot helpers shared by the example scripts (importable beside them)."""


def pyplot():
    """``matplotlib.pyplot`` drawing to files only, or ``None`` (said so) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; no plot written")
        return None
    return plt


def save(fig, path):
    """Write ``fig`` to ``path`` (its folder made if needed) and say so."""
    import pathlib

    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")
