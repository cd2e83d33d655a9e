"""In-training metrics: the hook the training loop calls every ``--metrics_every`` iterations.

    tracker = MetricTracker(cfg, dataset, run_dir, device)
    values = tracker.measure(G_ema, step, kimg)      # appends to run_dir/metrics.jsonl
    if tracker.is_best(values): write checkpoints/best
    msg = tracker.collapse_warning(values)           # None, or one line for the log
    if msg and cfg.metrics.stop_on_collapse: stop

Generated images always come from the same fixed latent batch, so successive
numbers differ because the generator changed, not because the samples did. Real
features are cached on disk by dataset fingerprint (``<cache>/metrics/``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from ..config import Config, ConfigError
from ..data.classes import proportional_classes
from ..data.prepared import PreparedDataset
from ..runfolder import RunFolder
from ..sample import generate_images, latents
from . import collapse
from ..files import json_text, read_jsonl
from .suite import MAX_REAL, MetricSuite, parse_metric_names
from .weights import cache_root

# Metric value keys by the metric name that produces them; which way is better.
LOWER_IS_BETTER = ("fid", "kid", "swd")
_PRODUCER = {"fid": "fid", "kid": "kid", "swd": "swd", "precision": "pr", "recall": "pr",
             "density": "dc", "coverage": "dc"}
# Seed offset for the fixed evaluation latents: distinct from the sample-grid latents.
LATENT_SEED_OFFSET = 1_000_003


# What --best_metric auto picks, first measured wins. KID before FID: at the few hundred
# samples an in-training check affords, KID is unbiased and comes with its spread, while
# FID's small-sample bias depends on the features' spectrum, which changes as G trains.
AUTO_BEST_ORDER = ("kid", "fid", "swd")


def choose_best_metric(setting: str, names: list[str]) -> Optional[str]:
    """The value key that picks the best checkpoint; None when no measured metric can.

    auto: kid if measured, else fid, else swd. An explicit choice must be measured.
    """
    s = (setting or "auto").strip().lower()
    if s == "auto":
        return next((k for k in AUTO_BEST_ORDER if k in names), None)
    if s not in _PRODUCER:
        raise ConfigError(f"--best_metric {setting!r}: choose auto or one of {', '.join(_PRODUCER)}")
    if _PRODUCER[s] not in names:
        raise ConfigError(f"--best_metric {s} is not measured; add {_PRODUCER[s]} to --metrics "
                          f"(now: {','.join(names)})")
    return s


def metrics_cache_dir(cfg: Config) -> Path:
    root = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else cache_root()
    return root / "metrics"


class MetricTracker:
    """Measures the EMA generator during training; see the module docstring for the calls."""

    def __init__(self, cfg: Config, dataset: PreparedDataset, run_dir: Path, device: torch.device,
                 max_real: int = MAX_REAL) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.run_dir = Path(run_dir)
        self.files = RunFolder(self.run_dir)
        self.names = parse_metric_names(cfg.metrics.metrics, self.device, cfg.metrics.inception_weights)
        self.best_key = choose_best_metric(cfg.metrics.best_metric, self.names)
        self.n = int(cfg.metrics.metrics_samples)
        if self.n < 2:
            raise ConfigError("--metrics_samples must be at least 2")
        self.suite = MetricSuite(self.names, dataset.images, dataset.fingerprint, self.device,
                                 cfg.metrics.inception_weights, metrics_cache_dir(cfg), cfg.run.progress,
                                 seed=cfg.run.seed, max_real=max_real)
        self.path = self.files.metrics
        self.best: Optional[float] = self._best_so_far()
        self._z: Optional[torch.Tensor] = None
        # A conditional G is asked for classes in the data's proportions (None: unconditional).
        self._labels = proportional_classes(cfg.class_list, dataset, self.n)

    def _best_so_far(self) -> Optional[float]:
        """Best value already in metrics.jsonl, so a resumed run keeps its best checkpoint."""
        if self.best_key is None:
            return None
        vals = [r[self.best_key] for r in read_jsonl(self.path)
                if isinstance(r.get(self.best_key), (int, float)) and math.isfinite(r[self.best_key])]
        if not vals:
            return None
        return min(vals) if self.best_key in LOWER_IS_BETTER else max(vals)

    @torch.no_grad()
    def measure(self, G: nn.Module, step: int, kimg: float) -> dict[str, float]:
        """Metrics of G's images for the fixed latent batch; one line appended to metrics.jsonl.

        G: the EMA generator (eval mode; its mode is restored afterwards). Returns the
        values (see MetricSuite.measure) — including the collapse signals when
        'diversity' is measured.
        """
        if self._z is None:
            self._z = latents(self.n, G.latent_dim, seed=self.cfg.run.seed + LATENT_SEED_OFFSET)
        was_training = G.training
        G.eval()
        try:
            fake = generate_images(G, self._z, self.device, labels=self._labels)
        finally:
            G.train(was_training)
        values, protocol = self.suite.measure(fake)
        record = {"step": int(step), "kimg": round(float(kimg), 3), "time": round(time.time(), 3), **values,
                  "best_metric": self.best_key, "protocol": protocol}
        if "spectrum" in self.suite.curves:  # both curves, for the report's picture (lists: not drawn as metrics)
            record["spectrum"] = self.suite.curves["spectrum"]
        warning = self.collapse_warning(values)
        if warning:
            record["collapse_warning"] = warning
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json_text(record) + "\n")
        return values

    def is_best(self, values: dict[str, float]) -> bool:
        """True when values improve on every earlier measurement of the best metric (then remembered)."""
        if self.best_key is None:
            return False
        v = values.get(self.best_key)
        if v is None or not math.isfinite(v):
            return False
        lower = self.best_key in LOWER_IS_BETTER
        if self.best is None or (v < self.best if lower else v > self.best):
            self.best = float(v)
            return True
        return False

    def collapse_warning(self, values: dict[str, float]) -> Optional[str]:
        """One line when the collapse/memorisation signals cross their thresholds, else None."""
        return collapse.collapse_warning(values)
