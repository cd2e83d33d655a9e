"""Training curves as PNGs in ``RUN/plots/`` from stats.jsonl and metrics.jsonl.

Each curve is drawn against kimg (thousands of real images shown), the raw values
faint behind an exponentially smoothed line. Curves whose key never appears, or is
always 0 (no gradient penalty in a non-saturating run, no augmentation), are left
out. Uses matplotlib's Agg canvas directly (no pyplot), so it never touches a user's
interactive backend and is safe in a training process; it is cheap enough to rerun at
every sampling interval of a live run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

import numpy as np

from ..evaluations import read_all as read_evaluations
from ..runfolder import RunFolder
from .runfiles import numeric

# (file stem, title, y label, [(key, legend label)]): the stats panels, in report order. Only what a
# user reads: the losses, and the augmentation strength when it adapts (issue 42); D's outputs,
# penalties and speed are in stats.jsonl and TensorBoard for whoever tunes a run.
STATS_PANELS = [
    ("losses", "Generator and discriminator losses", "loss", [("loss_g", "G loss"), ("loss_d", "D loss")]),
    ("augment", "Augmentation probability", "p", [("aug_p", "augmentation p")]),
]
# The metrics a user reads as curves; the rest of metrics.jsonl (div_real and tau: references;
# swd per level; dup_rate, memorised) stays in the table and the file.
USER_METRICS = ("kid", "fid", "swd", "swd/avg", "diversity", "feature_variety", "spectral_hf")
# Keys of metrics.jsonl lines that locate a measurement rather than being one ("time" is a Unix
# timestamp; "time_metrics_s" how long measuring took).
NOT_METRICS = {"step", "kimg", "epoch", "time", "time_s", "time_metrics_s", "n_samples", "n_real", "n_fake", "seed"}
MAX_METRICS = 12
# Cycles per pixel where the spectral error's band starts: metrics/spectrum.HF_FROM (a test keeps them equal; this
# module is torch-free, that one is not).
SPECTRUM_HF_FROM = 0.25

# Which way each metric improves, shown beside it in the report. Keys without an entry
# (div_real, dup_rate_real, tau: the real data's own values and a threshold) are references.
BETTER = {"fid": "lower", "kid": "lower", "swd": "lower", "precision": "higher", "recall": "higher",
          "density": "higher", "coverage": "higher", "diversity": "higher, up to 1 (as varied as the data)",
          "div_fake": "higher", "dup_rate": "lower", "memorised": "lower",
          "train_nn_ratio": "higher (well below 1 = copying)", "spectral_hf": "lower",
          "feature_variety": "higher, up to about 0.75 (two halves of a photo folder)",
          "feature_coverage": "higher, up to about 0.96 (two halves of a photo folder)"}


def better(key: str) -> Optional[str]:
    """'lower', 'higher', ... for a metric key (swd per level, 'swd_16x16' or 'swd/16x16', as swd); None if neither."""
    base = key.split("/")[0].split("_")[0] if key.startswith("swd") else key
    return BETTER.get(base)


def smooth(y: np.ndarray, span: Optional[float] = None) -> np.ndarray:
    """Bias-corrected exponential moving average (as TensorBoard draws it), ignoring NaNs.

    span: the EMA's span in points (default: 1/30 of the series, so the curve keeps
    its shape at any length); span <= 1 returns y unchanged.
    """
    n = len(y)
    span = max(1.0, n / 30) if span is None else span
    if span <= 1 or n == 0:
        return y.astype(float)
    a = 2.0 / (span + 1)
    out = np.empty(n)
    acc, weight = 0.0, 0.0
    for i, v in enumerate(y):
        if np.isfinite(v):
            acc = (1 - a) * acc + a * v
            weight = (1 - a) * weight + a
        out[i] = acc / weight if weight > 0 else np.nan
    return out


def series(rows: list[dict], key: str, x_key: str = "kimg") -> tuple[np.ndarray, np.ndarray]:
    """(x, y) float arrays of the rows that have a numeric ``key`` (and x)."""
    xs, ys = [], []
    for r in rows:
        x, y = numeric(r.get(x_key)), numeric(r.get(key))
        if x is not None and y is not None:
            xs.append(x)
            ys.append(y)
    return np.array(xs, float), np.array(ys, float)


def flatten(row: dict, prefix: str = "") -> dict:
    """Nested dicts become 'outer/inner' keys: {'swd': {'16': 1.2}} -> {'swd/16': 1.2}."""
    out = {}
    for k, v in row.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, name + "/"))
        else:
            out[name] = v
    return out


def metric_keys(rows: list[dict]) -> list[str]:
    """Numeric keys of metrics.jsonl in first-seen order, at most MAX_METRICS."""
    keys: dict[str, None] = {}
    for r in rows:
        for k, v in r.items():
            if k not in NOT_METRICS and numeric(v) is not None and not k.endswith("_std"):
                keys.setdefault(k, None)
    return list(keys)[:MAX_METRICS]


def _x_key(rows: list[dict]) -> str:
    return "kimg" if any(numeric(r.get("kimg")) is not None for r in rows) else "step"


def _draw(ax, x: np.ndarray, y: np.ndarray, label: str, color: str) -> None:
    if len(x) > 1:
        ax.plot(x, y, color=color, alpha=0.25, linewidth=0.8)
    ax.plot(x, smooth(y), color=color, linewidth=1.8, label=label, marker="o" if len(x) < 3 else None)


def _phase_marks(ax, rows: list[dict], x_key: str) -> None:
    """Dotted vertical lines where progressive growing changed resolution."""
    last = None
    for r in rows:
        res, x = r.get("res"), numeric(r.get(x_key))
        if res is not None and x is not None:
            if last is not None and res != last:
                ax.axvline(x, color="0.6", linestyle=":", linewidth=1)
            last = res


def _save(fig, path: Path) -> Path:
    """Write atomically: a report being rebuilt never embeds half a PNG."""
    tmp = path.with_name(f".{path.stem}.partial.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


def _new_figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _varies(y: np.ndarray) -> bool:
    """Whether a curve of y says more than one number would: it changes (one point: it is not 0).
    A flat line (a reference value, a technique the run does not use) is left out."""
    return bool(len(y) and (np.ptp(y) > 0 if len(y) > 1 else y[0] != 0))


def _stats_panel(rows: list[dict], stem: str, title: str, ylabel: str, keys: list[tuple[str, str]],
                 out_dir: Path) -> Optional[Path]:
    x_key = _x_key(rows)
    lines = []
    for key, label in keys:
        x, y = series(rows, key, x_key)
        if _varies(y):
            lines.append((x, y, label))
    if not lines:
        return None
    fig = _new_figure(6.4, 3.2)
    ax = fig.add_subplot()
    for (x, y, label), color in zip(lines, COLORS):
        _draw(ax, x, y, label, color)
    _phase_marks(ax, rows, x_key)
    ax.set(title=title, xlabel=x_key, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, out_dir / f"{stem}.png")


def metric_curves(rows: list[dict]) -> list[str]:
    """The metrics drawn: those a user reads (USER_METRICS) that change over the run. A constant series
    (a reference like div_real, or 0 throughout) says nothing a line of the table would not."""
    x_key = _x_key(rows)
    return [k for k in metric_keys(rows) if k in USER_METRICS and _varies(series(rows, k, x_key)[1])]


def _metrics_panel(rows: list[dict], out_dir: Path) -> Optional[Path]:
    keys = metric_curves(rows)
    if not keys:
        return None
    x_key = _x_key(rows)
    ncol = 1 if len(keys) == 1 else 2
    nrow = -(-len(keys) // ncol)
    fig = _new_figure(6.4 if ncol == 1 else 9.6, 2.8 * nrow)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        x, y = series(rows, key, x_key)
        _draw(ax, x, y, key, COLORS[i % len(COLORS)])
        ax.set(title=key + (f" ({better(key).split(' (')[0]} is better)" if better(key) else ""), xlabel=x_key)
        ax.grid(alpha=0.3)
    return _save(fig, out_dir / "metrics.png")


def plot_stats(run_dir: Path) -> list[Path]:
    """(Re)draw the run's plots into ``run_dir/plots/``; returns the PNGs written, in report order.

    Reads only stats.jsonl and metrics.jsonl (a half-written last line is ignored), so it
    can run at every sampling interval of a live run. Returns [] before the first stats line.
    """
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    out_dir = folder.plots
    stamp = out_dir / DRAWN_FROM
    inputs = _inputs(folder)
    if stamp.is_file() and stamp.read_text() == inputs:
        # Drawn from these very files already (a resumed run's first refresh, a report right after
        # training): matplotlib needs ~0.3 s a panel, for the same pixels.
        names = [f"{panel[0]}.png" for panel in STATS_PANELS] + ["metrics.png", "spectrum.png"]
        return [out_dir / n for n in names if (out_dir / n).is_file()]
    stats = folder.read_stats()
    metrics = [flatten(r) for r in folder.read_metrics()]
    if not stats and not metrics:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [_stats_panel(stats, *panel, out_dir) for panel in STATS_PANELS] if stats else []
    written.append(_metrics_panel(metrics, out_dir))
    written.append(_spectrum_panel(folder, out_dir))
    # plots/ is the report's own: a panel not drawn now (an older version's, a curve gone flat) would
    # otherwise be shown beside today's.
    for old in set(out_dir.glob("*.png")) - set(written):
        old.unlink(missing_ok=True)
    stamp.write_text(inputs)
    return [p for p in written if p is not None]


def latest_spectrum(folder: RunFolder) -> Optional[tuple[dict, str]]:
    """(curves, where they come from) of the newest spectrum measured: the last in-training check that has one,
    or an evaluation (``snowgan evaluate``) written after it; None when the run has none."""
    found: list[tuple[float, dict, str]] = []
    rows = [r for r in folder.read_metrics() if _spectrum_ok(r.get("spectrum"))]
    if rows:
        r = rows[-1]
        n = _samples_of(r.get("protocol"))
        found.append((folder.metrics.stat().st_mtime, r["spectrum"],
                      f"the check at step {r.get('step', '?')}{n}"))
    for path, raw in read_evaluations(folder.path):
        entry = (raw.get("metrics") or {}).get("spectral_hf")
        if isinstance(entry, dict) and _spectrum_ok(entry.get("curves")):
            found.append((path.stat().st_mtime, entry["curves"],
                          f"{path.relative_to(folder.path).as_posix()} (step {raw.get('step', '?')}, "
                          f"{raw.get('n_samples', '?')} samples)"))
    if not found:
        return None
    _, curves, where = max(found, key=lambda f: f[0])
    return curves, where


def _spectrum_ok(c: object) -> bool:
    keys = ("freq", "real_db", "generated_db")
    return (isinstance(c, dict) and all(isinstance(c.get(k), list) for k in keys)
            and len({len(c[k]) for k in keys}) == 1 and len(c["freq"]) > 1
            and all(numeric(v) is not None for k in keys for v in c[k]))


def _samples_of(protocol: object) -> str:
    """', 256 samples' from a check's spectrum protocol text ('...; 256 generated vs ...'), else ''."""
    text = protocol.get("spectrum") if isinstance(protocol, dict) else None
    m = re.search(r"(\d+) generated vs", text) if isinstance(text, str) else None
    return f", {m.group(1)} samples" if m else ""


def _spectrum_panel(folder: RunFolder, out_dir: Path) -> Optional[Path]:
    """plots/spectrum.png: the real and the generated images' azimuthal power spectra (metrics/spectrum.py),
    log power against frequency, the high-frequency band the error is measured over shaded."""
    got = latest_spectrum(folder)
    if got is None:
        return None
    c, where = got
    f = np.array(c["freq"], float)
    real, fake = np.array(c["real_db"], float), np.array(c["generated_db"], float)
    hf_from = SPECTRUM_HF_FROM
    band = f > hf_from
    diff = fake[band] - real[band]
    fig = _new_figure(6.4, 3.4)
    ax = fig.add_subplot()
    ax.axvspan(hf_from, f[-1], color="0.92", zorder=0)
    ax.plot(f, real, color="#1d2329", linewidth=1.8, label="real images")
    ax.plot(f, fake, color=COLORS[1], linewidth=1.8, label="generated")
    if band.any():
        ax.text(0.99, 0.97, f"high-frequency error {np.abs(diff).mean():.2f} dB\n"
                            f"({'more' if diff.mean() > 0 else 'less'} fine detail than the real images)",
                transform=ax.transAxes, ha="right", va="top", fontsize=8)
    ax.set(title=f"Power spectrum, from {where}", xlabel="radial frequency (cycles / pixel); shaded: high frequencies",
           ylabel="power (dB, vs the image's\nlow frequencies)")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, out_dir / "spectrum.png")


DRAWN_FROM = ".drawn-from"  # in plots/: the size and mtime of the files the PNGs were drawn from


def _inputs(folder: RunFolder) -> str:
    """The current state of stats.jsonl and metrics.jsonl: one line each, name, size and mtime in ns."""
    parts = []
    for path in (folder.stats, folder.metrics):
        try:
            st = path.stat()
            parts.append(f"{path.name} {st.st_size} {st.st_mtime_ns}")
        except FileNotFoundError:
            parts.append(f"{path.name} -")
    # The evaluations, whose spectrum the spectrum panel may show.
    parts.append("evaluations " + " ".join(f"{p.name} {p.stat().st_mtime_ns}" for p in folder.evaluation_files()
                                           if p.is_file()))
    # What is drawn, too: plots an older snowgan drew from the same logs are drawn again today's way.
    parts.append("curves " + " ".join([p[0] for p in STATS_PANELS] + list(USER_METRICS) + ["spectrum-v1"]))
    return "\n".join(parts) + "\n"
