"""Diversity, mode-collapse and memorisation signals that need no pretrained network.

All distances are RMS pixel differences between images shrunk to at most 32 pixels
per side (area average) with values in [0, 1]: 0 = identical, ~0.3 = unrelated
natural images. Shrinking keeps the cost tiny and makes the numbers about layout and
colour rather than pixel noise.

Signals (generated = a fixed latent batch, real = a same-sized real subset):

- ``diversity``: mean pairwise distance among generated images divided by the same
  on real images. ~1 when the generator is as varied as the data; a collapsed
  generator tends to 0. Warns below ``DIVERSITY_MIN``.
- ``dup_rate``: fraction of generated images whose nearest other generated image is
  closer than tau, where tau = ``DUP_FRACTION`` x the median nearest-neighbour
  distance among real images (so tau adapts to the data). Warns when it exceeds the
  same rate on real images by more than ``DUP_EXCESS``.
- ``memorised``: fraction of generated images closer than tau to some training image.
  Warns above ``MEMORISED_MAX``. ``train_nn_ratio`` = median distance of generated
  images to their nearest training image / the same for held-out-style real images
  (each real image's nearest *other* training image): well below 1 = copying.

Pixel distances miss *motif collapse*: samples that all show one creature, print or palette, each
in another layout, are far apart pixel by pixel (a run like that measured 88 % of the real images'
pixel diversity). In a frozen network's features they sit together. So, when the measurement has
such features at hand (the quality watch's Inception features; see suite.MetricSuite):

- ``feature_variety``: recall (Kynkäänniemi et al. 2019, k = 3) in those features after the samples
  are moved, all together, onto the real images' mean: the share of real images inside some sample's
  ball, reaching to its 3rd nearest sample. Samples that sit together have small balls and hold
  almost no real image, wherever they sit; samples as varied as the data hold most. Moving them first
  keeps a run that is merely far from the photos (blurry, noisy, early) from reading as collapsed: it
  is still spread like them. Measured on the t-shirt photos at 64 px, 256 a side: two halves of the
  real images 0.74; one photo's crops, recoloured, 0.00; crops of four photos 0.03; the held-out
  photos blurred (Gaussian, 1 px), at half resolution, noisy (sd 12) or blurred and noisy 0.83, 0.82,
  0.72, 0.61. Warns below ``VARIETY_MIN``.
- ``feature_coverage``: coverage (Naeem et al. 2020, k = 5) in the same features, as is: the share of
  real images whose ball, reaching to their 5th nearest real neighbour, holds a sample. It falls both
  when samples repeat a few motifs (the crops: 0.05-0.09) and when they are far from the photos (the
  blurred and noisy photos: 0.00; blurred alone 0.31; two halves 0.96), so it is reported, not warned on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch.nn.functional as F

from .features import float_images
from .prdc import DC_K, PR_K, density_coverage, pairwise_distances, precision_recall

FEATURE_SIDE = 32
DIVERSITY_MIN = 0.5
DUP_FRACTION = 0.25
DUP_EXCESS = 0.25
MEMORISED_MAX = 0.25
VARIETY_MIN = 0.3


@dataclass
class CollapseSignals:
    diversity: float        # mean pairwise distance, generated / real
    div_fake: float         # mean pairwise distance among generated images
    div_real: float         # the same among real images
    dup_rate: float         # share of generated images with a near-duplicate among them
    dup_rate_real: float    # the same among real images (baseline)
    memorised: float        # share of generated images within tau of a training image
    train_nn_ratio: float   # median NN-to-training distance, generated / real
    tau: float              # near-duplicate distance used

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def pixel_features(images: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) -> float64 (N, D) in [0, 1] / sqrt(D): Euclidean distance = RMS difference."""
    x = float_images(images) / 255.0
    h, w = x.shape[-2:]
    scale = FEATURE_SIDE / max(h, w)
    if scale < 1:
        x = F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
    f = x.reshape(len(x), -1).double().numpy()
    return f / np.sqrt(f.shape[1])


def _mean_pairwise(f: np.ndarray) -> float:
    d = pairwise_distances(f, f)
    n = len(f)
    return float(d.sum() / (n * (n - 1)))


def _nn_within(f: np.ndarray) -> np.ndarray:
    """Distance from each row to its nearest other row."""
    d = pairwise_distances(f, f)
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def _nn_across(f: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return pairwise_distances(f, ref).min(axis=1)


def collapse_signals(fake: np.ndarray, real: np.ndarray, train: Optional[np.ndarray] = None
                     ) -> CollapseSignals:
    """Signals for generated images vs real images (uint8 (N, C, H, W), at least 2 each).

    train: the training images for memorisation (default: real). Each real image's
    own copy in train is excluded when measuring the real baseline, by skipping
    exact-zero distances.
    """
    if len(fake) < 2 or len(real) < 2:
        raise ValueError("collapse signals need at least 2 generated and 2 real images")
    ff, fr = pixel_features(fake), pixel_features(real)
    ft = fr if train is None else pixel_features(train)
    div_fake, div_real = _mean_pairwise(ff), _mean_pairwise(fr)
    nn_real = _nn_within(fr)
    tau = DUP_FRACTION * float(np.median(nn_real))
    dup_fake = float((_nn_within(ff) < tau).mean())
    dup_real = float((nn_real < tau).mean())
    nn_fake_train = _nn_across(ff, ft)
    d_real_train = pairwise_distances(fr, ft)
    d_real_train[d_real_train == 0] = np.inf  # a real image's own copy is not a neighbour
    nn_real_train = d_real_train.min(axis=1)
    finite = nn_real_train[np.isfinite(nn_real_train)]
    base = float(np.median(finite)) if len(finite) else float("nan")
    return CollapseSignals(
        diversity=div_fake / div_real if div_real > 0 else float("nan"),
        div_fake=div_fake, div_real=div_real, dup_rate=dup_fake, dup_rate_real=dup_real,
        memorised=float((nn_fake_train < tau).mean()),
        train_nn_ratio=float(np.median(nn_fake_train)) / base if base > 0 else float("nan"),
        tau=tau)


def feature_coverage(fake_features: np.ndarray, real_features: np.ndarray) -> float:
    """Share of real images whose k-NN ball (k = DC_K, in their own set) holds a generated image; NaN when
    either set has too few images for a 5th neighbour (the module docstring says what it sees)."""
    if len(real_features) <= DC_K or len(fake_features) < 1:
        return float("nan")
    return density_coverage(real_features, fake_features)[1]


def feature_variety(fake_features: np.ndarray, real_features: np.ndarray) -> float:
    """Share of real images inside a generated image's k-NN ball (k = PR_K, among the generated images) once
    the generated images are shifted onto the real images' mean; NaN when either set has too few images."""
    if len(fake_features) <= PR_K or len(real_features) <= PR_K:
        return float("nan")
    moved = fake_features - fake_features.mean(axis=0) + real_features.mean(axis=0)
    return precision_recall(real_features, moved)[1]


def collapse_warning(values: dict[str, float]) -> Optional[str]:
    """One line naming every signal over its threshold, or None when all are quiet.

    values: a dict holding the CollapseSignals fields (as MetricTracker.measure returns).
    """
    collapse = []
    div = values.get("diversity")
    if div is not None and np.isfinite(div) and div < DIVERSITY_MIN:
        collapse.append(f"samples are {div:.0%} as varied as the real images (warn below {DIVERSITY_MIN:.0%})")
    dup, dup_real = values.get("dup_rate"), values.get("dup_rate_real", 0.0)
    if dup is not None and dup - dup_real > DUP_EXCESS:
        collapse.append(f"{dup:.0%} of samples have a near-duplicate among them (real images: {dup_real:.0%})")
    parts = ["possible mode collapse: " + "; ".join(collapse)] if collapse else []
    variety = values.get("feature_variety")
    if variety is not None and np.isfinite(variety) and variety < VARIETY_MIN:
        parts.append(f"possible motif collapse: as the Inception network sees them, the samples span {variety:.0%} of "
                     f"the real images' variety (half of the real images span about 75% of the other half's; warn "
                     f"below {VARIETY_MIN:.0%}): they repeat a few motifs or palettes in different layouts; if the "
                     f"latest grid shows that, train longer (it often passes early in a run), or try --gen_steps 1 "
                     f"or more images")
    mem = values.get("memorised")
    if mem is not None and mem > MEMORISED_MAX:
        parts.append(f"possible memorisation: {mem:.0%} of samples are near-copies of training images "
                     f"(warn above {MEMORISED_MAX:.0%})")
    return " | ".join(parts) if parts else None
