"""TensorBoard event files for a run: what PyTorch users watch runs with.

The run folder's own records go in as they are written — each stats.jsonl line as
scalars ``stats/KEY``, each metrics.jsonl line as ``metrics/KEY``, each sample grid as
the image ``samples`` — all against the training step, through PyTorch's
``SummaryWriter`` (the tensorboard package's event format; no format written here).
``tensorboard --logdir runs/`` then shows every run side by side.

Optional: needs the ``tensorboard`` package (``pip install 'snowgan[tensorboard]'``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from ..errors import ConfigError
from ..runfolder import RunFolder



class TensorBoardLog:
    """Writes a run's records to ``RUN/tensorboard/`` as TensorBoard events."""

    def __init__(self, run_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--tensorboard needs the tensorboard package: pip install 'snowgan[tensorboard]'") \
                from None
        self.run_dir = Path(run_dir)
        self.files = RunFolder(self.run_dir)
        self.writer = SummaryWriter(log_dir=str(self.files.tensorboard))
        # A resumed run has metrics lines already written (and sent) before: start after them.
        self._metrics_sent = len(self.files.read_metrics())

    def scalars(self, row: dict, prefix: str = "stats") -> None:
        """Every finite number of one stats/metrics line, against its step."""
        step = row.get("step")
        if not isinstance(step, int):
            return
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)
        self.writer.flush()

    def new_metrics(self) -> None:
        """Send the metrics.jsonl lines written since the last call."""
        rows = self.files.read_metrics()
        for row in rows[self._metrics_sent:]:
            self.scalars(row, "metrics")
        self._metrics_sent = len(rows)

    def image(self, path: Path, step: int, tag: str = "samples") -> None:
        """A sample grid PNG as an image event."""
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
        self.writer.add_image(tag, arr, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_tensorboard(run_dir: Path, wanted: bool) -> Optional[TensorBoardLog]:
    """A TensorBoardLog when --tensorboard is on, else None."""
    return TensorBoardLog(run_dir) if wanted else None
