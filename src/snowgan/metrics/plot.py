"""Plot in-training metrics (metrics.jsonl) over training progress into metrics.png."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..files import read_jsonl

# The headline value of each metric, in display order.
PLOTTED = ("fid", "kid", "swd", "precision", "recall", "density", "coverage", "diversity", "dup_rate", "memorised")


def plot_metrics(jsonl: Path, out: Path, best_key: Optional[str] = None) -> Optional[Path]:
    """One small panel per metric present, x = kimg; the best point of best_key is marked.

    Returns the written path, or None when there is nothing to plot yet.
    """
    rows = read_jsonl(jsonl)
    keys = [k for k in PLOTTED if any(isinstance(r.get(k), (int, float)) for r in rows)]
    if not rows or not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(keys))
    nrows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.8 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        pts = [(r.get("kimg", r.get("step", 0)), r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o", markersize=3)
        ax.set_title(key)
        ax.set_xlabel("kimg")
        ax.grid(alpha=0.3)
        if key == best_key:
            lower = key in ("fid", "kid", "swd")
            i = min(range(len(ys)), key=lambda j: ys[j] if lower else -ys[j])
            ax.plot([xs[i]], [ys[i]], marker="*", markersize=12, color="tab:red", label="best")
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(out)  # a report reading metrics.png never sees half a file
    return out
