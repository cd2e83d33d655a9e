"""Inception pool3 features of uint8 image sets, and a disk cache for the real set's.

Real-image features depend only on (dataset fingerprint, which images, weights), so
they are computed once and kept under ``<cache>/metrics/``; in-training metrics and
``--mode evaluate`` reuse them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..progress import Progress
from .inception import FIDInceptionV3


def float_images(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 array (N, C, H, W) -> float32 tensor of the same values on device.

    Copies first: dataset images may be a read-only memmap, which torch must not wrap.
    """
    return torch.tensor(np.asarray(images), device=device).float()


@torch.inference_mode()
def inception_features(net: FIDInceptionV3, images: np.ndarray, device: torch.device | str = "cpu",
                       batch: int = 32, progress: str = "auto", desc: str = "inception features") -> np.ndarray:
    """uint8 (N, C, H, W), C in {1, 3} -> float64 (N, 2048) pool3 features."""
    device = torch.device(device)
    out = np.empty((len(images), 2048), np.float64)
    bar = Progress(len(images), desc, "img", progress)
    try:
        for i in range(0, len(images), batch):
            x = float_images(images[i:i + batch], device)
            x = net.preprocess(x)
            if device.type == "cpu":
                # oneDNN convolutions run faster on NHWC activations.
                x = x.contiguous(memory_format=torch.channels_last)
            out[i:i + len(x)] = net.pool3(x).double().cpu().numpy()
            bar.update(len(x))
    finally:
        bar.close()
    return out


def subset_indices(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """Which real images a metric uses: all when n >= n_total, else a seeded random subset (sorted)."""
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng([seed, 1234]).choice(n_total, n, replace=False))


def cache_path(cache_dir: Path, key: dict) -> tuple[Path, str]:
    """(the file cached_array keeps the array for ``key`` in, the key's canonical JSON)."""
    name = "-".join(str(key[k]) for k in ("fingerprint", "metric") if k in key)
    text = json.dumps(key, sort_keys=True)
    return cache_dir / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.npz", text


def cached_array(cache_dir: Path, key: dict, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Load the array stored for `key` under cache_dir, or compute and store it.

    key is a small JSON-able dict (fingerprint, metric, count, weights hash...); its
    canonical JSON is stored beside the array and must match exactly on reuse, so a
    changed protocol never reads stale numbers. Files hold plain arrays only
    (np.load without pickle).
    """
    path, text = cache_path(cache_dir, key)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                if str(f["key"]) == text:
                    return f["value"]
        except (OSError, ValueError, KeyError):
            pass  # damaged cache entry: recompute and overwrite it
    value = compute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, key=np.array(text), value=value)
    tmp.replace(path)
    return value


def real_features(net: FIDInceptionV3, images: np.ndarray, fingerprint: str, weights_key: str,
                  cache_dir: Optional[Path], device: torch.device | str = "cpu", progress: str = "auto",
                  subset: str = "all") -> np.ndarray:
    """Features of a real image set, cached by (fingerprint, subset, weights) when fingerprint is known.

    weights_key: identity of the network's weights (``InceptionWeights.cache_key``: the
    weights file's SHA-256): features of other weights are never reused, the stale-cache
    trap of tools that key by dataset alone.
    subset: how `images` were picked from the dataset (e.g. "all", "seeded-500"); part of the key.
    """
    def compute() -> np.ndarray:
        return inception_features(net, images, device, progress=progress, desc="real-image features")

    if cache_dir is None or not fingerprint:
        return compute()
    return cached_array(cache_dir, _real_key(images, fingerprint, weights_key, subset), compute)


def _real_key(images: np.ndarray, fingerprint: str, weights_key: str, subset: str) -> dict:
    return {"fingerprint": fingerprint, "metric": "inception", "n": int(len(images)), "subset": subset,
            "shape": list(images.shape[1:]), "weights": weights_key, "version": 1}


def real_features_cached(images: np.ndarray, fingerprint: str, weights_key: str, cache_dir: Optional[Path],
                         subset: str = "all") -> bool:
    """Whether real_features would read these features from the disk cache instead of computing them."""
    if cache_dir is None or not fingerprint:
        return False
    return cache_path(cache_dir, _real_key(images, fingerprint, weights_key, subset))[0].is_file()
