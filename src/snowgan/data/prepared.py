"""The contract between data preparation and training: a PreparedDataset (data/load.py gives the one a config names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

@dataclass
class PreparedDataset:
    """Decoded images, ready to batch.

    images: uint8 array (N, C, H, W), values 0..255, C in {1, 3}; may be a
        read-only np.memmap of a prepared cache.
    labels: int64 array (N,) of class indices, or None when the source has none.
    class_names: names for label indices (empty when labels is None).
    fingerprint: hex string identifying source + preparation options.
    content: the same without the files' modification times ("" when unknown): equal when the
        same files were only copied or touched.
    description: one line for logs ("built-in mountains, 1024 images, 4 classes").
    skipped: (input name, reason) for every input that could not be used.
    unlabelled: how many kept images had no label while others had one (labels is then
        None); --conditional refuses such data rather than dropping the images silently.
    """

    images: np.ndarray
    labels: Optional[np.ndarray] = None
    class_names: list[str] = field(default_factory=list)
    fingerprint: str = ""
    content: str = ""
    description: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unlabelled: int = 0

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N,C,H,W), got {self.images.dtype} {self.images.shape}")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError("labels and images differ in length")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]


def change_note(before: dict, after: dict) -> Optional[str]:
    """What a user should read when a run resumes on data other than it trained on, or None.

    before, after: a run's dataset.json records ({"count", "fingerprint", "content"}); "content"
    may be missing (runs and caches from before it was recorded).
    """
    if before.get("fingerprint") == after.get("fingerprint"):
        return None
    n0, n1 = before.get("count"), after.get("count")
    if before.get("content") and before.get("content") == after.get("content"):
        return (f"note: the data's files have new modification times since this run last trained (copied, "
                f"touched or edited in place): the same {n1} images by name and size, prepared again")
    if n0 != n1:
        what = f"{n0} -> {n1} images"
    elif before.get("content"):
        what = f"still {n1} images, but files renamed, replaced or edited"
    else:  # a run recorded before the content id: cannot tell a copy from an edit
        what = f"still {n1} images, but their names, sizes or modification times changed"
    return (f"note: the data changed since this run last trained: {what} "
            f"(fingerprint {before.get('fingerprint')} -> {after.get('fingerprint')})")
