"""Batches from a PreparedDataset: deterministic order, resumable position, on-device conversion.

The order of an epoch is a permutation drawn from (seed, epoch), so the position in
training is just (epoch, offset) — two integers in the checkpoint make the data
order of a resumed run identical to an uninterrupted one. ``--mirror`` doubles the
dataset virtually: index i >= N means image i - N flipped horizontally.

``balance=True`` (--balance_classes) draws every class equally often: an epoch is K * (n // K)
virtual indices, n // K per class (each class's images in a fresh permutation, repeated when
the class is small), shuffled together — still a pure function of (seed, epoch), so the
position stays two integers and resume is exact.

Under DDP every rank draws the same global batch and keeps its own slice of it, so
ranks read disjoint images and the union equals a single-process run's batch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import torch

from .prepared import PreparedDataset


@dataclass
class Position:
    epoch: int = 0
    offset: int = 0  # index into this epoch's permutation


@dataclass
class Batch:
    """What training steps receive: images and, when the data has them, their class labels.

    images: float (B, C, H, W) in [-1, 1] on the training device.
    labels: int64 (B,) class indices on the same device, or None when the data has no labels.
    Augmentation and progressive resizing change ``images`` only (``with_images``); the
    labels travel with them into both the D and the G phase.
    """

    images: torch.Tensor
    labels: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def with_images(self, images: torch.Tensor) -> "Batch":
        return replace(self, images=images)


class Batches:
    """Stream of Batch objects: (B, C, H, W) float images in [-1, 1] on `device`, with labels.

    dataset: the prepared uint8 images; target_hw: training size (random-cropped to it
    when the stored images are larger); mirror: virtual horizontal-flip doubling.
    """

    def __init__(self, dataset: PreparedDataset, seed: int, device: torch.device, target_hw: tuple[int, int],
                 mirror: bool = False, rank: int = 0, world: int = 1, channels_last: bool = True,
                 balance: bool = False) -> None:
        self.n_images = len(dataset)
        if self.n_images == 0:
            raise ValueError("dataset is empty")
        if balance and dataset.labels is None:
            raise ValueError("--balance_classes needs labelled data (sub-folders per class, --labels labels.csv "
                             "or a JSONL label field)")
        self.n = self.n_images * (2 if mirror else 1)
        self.balance = balance
        self.seed, self.device, self.rank, self.world = seed, device, rank, world
        self.target_hw = tuple(target_hw)
        self.channels_last = channels_last
        self.labels = dataset.labels
        self.pos = Position()
        self._perm_epoch = -1
        self._perm = np.empty(0, np.int64)
        self._warned_small = False
        # A prepared cache is a read-only memmap; torch wants writable memory, and a
        # training set of a few thousand small images fits in RAM, so copy it once.
        arr = dataset.images
        imgs = torch.from_numpy(np.array(arr) if not arr.flags.writeable else np.ascontiguousarray(arr))
        # On an accelerator keep the whole uint8 set there when it is small: batches are
        # then gathered on the device and nothing crosses the bus during training.
        self.on_device = device.type != "cpu" and imgs.numel() < _device_budget(device)
        if self.on_device:
            imgs = imgs.to(device)
        elif device.type == "cuda":
            imgs = imgs.pin_memory()
        self.images = imgs

    @property
    def epoch_len(self) -> int:
        """Virtual indices per epoch: n, or K * (n // K) when balancing K classes."""
        if not self.balance:
            return self.n
        k = int(np.max(self.labels)) + 1
        return k * max(1, self.n // k)

    @property
    def epoch_float(self) -> float:
        return self.pos.epoch + self.pos.offset / self.epoch_len

    def _epoch_perm(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            rng = np.random.default_rng([self.seed, epoch, 7])
            self._perm = self._balanced(rng) if self.balance else rng.permutation(self.n)
            self._perm_epoch = epoch
        return self._perm

    def _balanced(self, rng: np.random.Generator) -> np.ndarray:
        """One balanced epoch of virtual indices (epoch_len,): n // K of each class, shuffled."""
        labels = np.asarray(self.labels)[np.arange(self.n) % self.n_images]  # class of each virtual index
        per_class = self.epoch_len // (int(labels.max()) + 1)
        parts = []
        for c in range(int(labels.max()) + 1):
            members = np.flatnonzero(labels == c)
            if len(members) == 0:  # a class name with no images left (all skipped): nothing to draw
                continue
            reps = -(-per_class // len(members))  # small classes repeat, each pass in a fresh order
            parts.append(np.concatenate([rng.permutation(members) for _ in range(reps)])[:per_class])
        return rng.permutation(np.concatenate(parts))

    def next_indices(self, batch_size: int) -> np.ndarray:
        """Virtual indices (0 <= i < 2N with mirror) of the next global batch of batch_size."""
        n = self.epoch_len
        if batch_size > n:
            # Fewer images than one batch: sample with replacement, one batch per "epoch".
            if not self._warned_small:
                warnings.warn(f"dataset has {self.n} images, fewer than the batch size {batch_size}: "
                              "sampling with replacement", stacklevel=2)
                self._warned_small = True
            idx = np.random.default_rng([self.seed, self.pos.epoch, 11]).integers(0, self.n, batch_size)
            self.pos = Position(self.pos.epoch + 1, 0)
            return idx
        if self.pos.offset + batch_size > n:  # drop the ragged end of the epoch
            self.pos = Position(self.pos.epoch + 1, 0)
        perm = self._epoch_perm(self.pos.epoch)
        idx = perm[self.pos.offset:self.pos.offset + batch_size]
        self.pos = Position(self.pos.epoch, self.pos.offset + batch_size)
        return idx

    def next(self, batch_size: int) -> Batch:
        """This rank's share of the next global batch: images (batch_size/world, C, H, W) in [-1, 1], labels."""
        idx = self.next_indices(batch_size)[self.rank::self.world]
        flip = idx >= self.n_images
        src = idx % self.n_images
        crop_rng = np.random.default_rng([self.seed, self.pos.epoch, self.pos.offset, 13])
        x = self.images[torch.from_numpy(src).to(self.images.device)]
        x = x.to(self.device, non_blocking=True)
        x = self._crop(x, crop_rng)
        x = x.float().div_(127.5).sub_(1.0)
        if flip.any():
            f = torch.from_numpy(flip).to(self.device)[:, None, None, None]
            x = torch.where(f, x.flip(3), x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        labels = None
        if self.labels is not None:
            labels = torch.from_numpy(np.asarray(self.labels)[src].astype(np.int64)).to(self.device)
        return Batch(x, labels)

    def _crop(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Random crop (one offset per image) when stored images exceed the target size."""
        th, tw = self.target_hw
        h, w = x.shape[-2:]
        if (h, w) == (th, tw):
            return x
        if h < th or w < tw:
            raise ValueError(f"prepared images are {h}x{w}, smaller than the training size {th}x{tw}")
        ys = rng.integers(0, h - th + 1, len(x))
        xs = rng.integers(0, w - tw + 1, len(x))
        return torch.stack([x[i, :, ys[i]:ys[i] + th, xs[i]:xs[i] + tw] for i in range(len(x))])

    def state_dict(self) -> dict:
        return {"epoch": self.pos.epoch, "offset": self.pos.offset}

    def load_state_dict(self, d: dict) -> None:
        self.pos = Position(int(d["epoch"]), int(d["offset"]))


def _device_budget(device: torch.device) -> int:
    """Bytes of uint8 images we are willing to keep on the device (a quarter of its memory)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory // 4
    return 1 << 30
