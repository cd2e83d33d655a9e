"""The azimuthally averaged power spectrum of an image set, and the high-frequency error between two sets.

What it sees: checkerboard texture from transposed convolutions, grid-like upsampling
artifacts and pixel noise (too much power at high frequencies), and blur (too little).
Those are hard to read from a KID or an FID, which look at 299 px Inception features.

Definition (every number snowgan prints under this name follows it):

1. Each uint8 image (N, C, H, W), at the size it is measured at (the training size), becomes
   grey: the mean of its channels, in [0, 1]. Its own mean is subtracted and it is multiplied
   by a 2-D Hann window (so the jump between opposite borders adds no false high frequencies).
2. Its power spectrum |FFT2|^2 is averaged azimuthally: the power of every 2-D frequency
   (fy, fx) in cycles per pixel goes to the radial bin round(r * S), r = sqrt(fy^2 + fx^2),
   S = min(H, W), and stands at the mean r of its frequencies. Bins run from 1 (DC left out) to the
   corner (r up to sqrt(0.5) cycles per pixel, where a one-pixel checkerboard's (0.5, 0.5) lies); the
   corner's last few bins, which hold a handful of frequencies each, are merged into one of at least 16.
3. Each image's curve is divided by its own power at low frequencies (the bins up to a quarter
   cycle per pixel) and taken in dB, floored at -100 dB: the curve says how much fine detail an
   image has *for its coarse content*, whatever its contrast, and a high-frequency artifact does
   not move the reference it is measured against.
4. A set's spectrum is the mean of its images' dB curves (a mean of logs: one very textured photo
   does not outweigh the rest; measured on the t-shirt photos, this halves the error between two
   halves of one real set against a log of the mean power).
5. High-frequency error (``spectral_hf``, dB): the mean of |generated dB - real dB| over the bins
   above a quarter cycle per pixel (the upper half of the radial range up to the Nyquist
   frequency 0.5, and the corners beyond it), every bin weighted alike. 0 = the same spectrum;
   1 dB = power 26 % off on average; 3 dB = a factor of two. ``spectral_hf_bias`` is the same mean
   of the signed difference: above 0, the samples have more fine detail than the photos (noise,
   checkerboard); below 0, less (blur).

The number depends on how many images each side has (a set's spectrum is an estimate): compare
only at equal counts, and read it against two halves of the real set measured the same way
(docs/metrics.md has the figures: about 0.4-0.6 dB on 928 t-shirt photos at 64 and 128 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

HF_FROM = 0.25  # cycles per pixel: the high-frequency band starts here (and the low band, the reference, ends)
MIN_BIN_COUNT = 16  # frequencies in the outermost (corner) bin at least
FLOOR_DB = -100.0  # an image's curve is floored here (a flat image, a band with no power)
_BATCH = 64


@dataclass
class Spectrum:
    """An image set's azimuthal power spectrum, each image relative to its own low-frequency power."""

    freq: np.ndarray    # (B,) cycles per pixel of each radial bin
    db: np.ndarray      # (B,) mean over the images of 10 log10(bin power / the image's low-band power)
    counts: np.ndarray  # (B,) 2-D frequencies in each bin
    n_images: int


def _radial_bins(h: int, w: int) -> tuple[np.ndarray, int, np.ndarray]:
    """(bin index of every 2-D frequency of an h x w FFT, number of bins including DC's 0, the mean radial
    frequency of each bin in cycles per pixel). The corner's last bins hold only a few frequencies each
    (one, at 32 px): they are merged until the outermost holds at least MIN_BIN_COUNT, because a mean of
    logs of a few powers is biased low (by 2.5 dB for a single one) and noisy."""
    s = min(h, w)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    r = np.sqrt(fy * fy + fx * fx)
    b = np.rint(r * s).astype(np.int64)
    last = int(b.max())
    while last > 1 and (b >= last).sum() < MIN_BIN_COUNT:
        last -= 1
    b = np.minimum(b, last)
    nb = last + 1
    freq = np.bincount(b.ravel(), weights=r.ravel(), minlength=nb) / np.bincount(b.ravel(), minlength=nb)
    return b, nb, freq


def power_spectrum(images: np.ndarray) -> Spectrum:
    """uint8 (N, C, H, W) images (N >= 1, H and W >= 4) -> the set's spectrum (see the module docstring)."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) < 1:
        raise ValueError(f"need uint8 images (N, C, H, W), got shape {images.shape}")
    n, _, h, w = images.shape
    if min(h, w) < 4:
        raise ValueError(f"images of {h}x{w} are too small for a spectrum (need 4 px a side)")
    window = torch.outer(torch.hann_window(h, periodic=False), torch.hann_window(w, periodic=False))
    bins, nb, freq = _radial_bins(h, w)
    counts = np.bincount(bins.ravel(), minlength=nb)[1:]
    freq = freq[1:]
    # A real image's spectrum is symmetric, F(-k) = conj F(k): rfft2 computes the columns 0..w//2, and each
    # column that stands for itself and its mirror (all but 0 and, for an even width, w/2) counts twice.
    half = w // 2 + 1
    mirror = np.full(half, 2.0)
    mirror[0] = 1.0
    if w % 2 == 0:
        mirror[-1] = 1.0
    flat = torch.from_numpy(np.ascontiguousarray(bins[:, :half]).ravel())
    weight = torch.from_numpy(np.broadcast_to(mirror, (h, half)).ravel().copy())
    low = torch.from_numpy(freq <= HF_FROM)
    total = torch.zeros(nb - 1, dtype=torch.float64)
    for i in range(0, n, _BATCH):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + _BATCH])).float().mean(dim=1) / 255.0
        x = (x - x.mean(dim=(1, 2), keepdim=True)) * window
        power = (torch.fft.rfft2(x).abs() ** 2).reshape(len(x), -1).double() * weight
        sums = torch.zeros(len(x), nb, dtype=torch.float64).index_add_(1, flat, power)[:, 1:]
        curve = sums / torch.from_numpy(counts)
        ref = curve[:, low].sum(dim=1, keepdim=True)
        # A flat image has no power anywhere: its curve sits on the floor rather than dividing by 0.
        rel = torch.where(ref > 0, curve / ref.clamp_min(1e-300), torch.zeros_like(curve))
        total += (10.0 * torch.log10(rel.clamp_min(10 ** (FLOOR_DB / 10)))).sum(dim=0)
    return Spectrum(freq, (total / n).numpy(), counts, n)


@dataclass
class SpectralError:
    hf: float     # dB: mean |generated - real| over the high-frequency bins (the reported number)
    bias: float   # dB: mean (generated - real) over the same bins; > 0 too much fine detail, < 0 too little


def spectral_error(real: Spectrum, fake: Spectrum) -> SpectralError:
    """High-frequency error between two spectra of images of the same size (see the module docstring)."""
    if real.freq.shape != fake.freq.shape:
        raise ValueError(f"spectra of images of different sizes ({len(real.freq)} vs {len(fake.freq)} bins)")
    band = real.freq > HF_FROM
    diff = fake.db[band] - real.db[band]
    return SpectralError(float(np.abs(diff).mean()), float(diff.mean()))


def spectrum_record(real: Spectrum, fake: Spectrum) -> dict[str, list[float]]:
    """Both curves as plain lists (what metrics.jsonl and an evaluation's file keep for the report's picture).
    Lists only: readers that gather a record's numbers (the model card) leave them alone."""
    return {"freq": [round(float(f), 5) for f in real.freq], "real_db": [round(float(v), 3) for v in real.db],
            "generated_db": [round(float(v), 3) for v in fake.db]}


PROTOCOL = ("azimuthally averaged power spectrum of the grey images (channel mean), each image's mean removed, "
            f"2-D Hann window, in dB relative to the image's power up to {HF_FROM} cycles/px, mean over images; "
            f"spectral_hf = mean |generated - real| in dB over the radial bins above {HF_FROM} cycles/px; "
            "spectral_hf_bias = the signed mean (> 0: more fine detail than the real images)")
