"""What the studio page asks of a model: images for seeds or latents, interpolations, projections, neighbours.

No HTTP here (server.py is the web side), so every operation is testable alone. Latents are named
by *sources*: ``seed:N`` (the latent ``--mode generate --seed N`` uses, drawn with the page's
truncation) or ``proj:ID`` (a photo's latent that a projection job found). Images leave as PNG bytes.

Conditional models: a seed source carries its class, ``seed:N@snowy`` (name or index; without one,
the first class), so a picked image keeps its class when the page's class selector moves on, and
an interpolation between sources of different classes walks between the classes too (the class
weights blend linearly while z follows the slerp). A projection is made for one class, and its
``proj:ID`` source keeps that class.

Threads: the HTTP server runs one thread per request, so several tabs ask at once. Generation is
inference only (no_grad; G in eval mode never changes), safe to run concurrently, and at most
RENDERS_AT_ONCE requests render at a time (each already uses every core; the others wait, which
bounds the activations held at once). Projections run one at a time on a single worker thread, the
rest wait in a queue of at most MAX_QUEUED_PROJECTIONS. close() drops the queue and stops the
running projection at its next step, so the studio stops within a step of being told to.

Every size a request can ask for is bounded (limits.py).
"""

from __future__ import annotations

import io
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Optional

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..report.interpolate import slerp
from ..sample import latents, parse_classes, to_uint8
from .limits import (MAX_INTERP_SOURCES, MAX_JOBS_KEPT, MAX_QUEUED_PROJECTIONS, MAX_REPLY_PIXELS,
                     MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, RENDER_BATCH)

RENDERS_AT_ONCE = 2  # requests rendering at the same time; more wait their turn


class BadRequest(ValueError):
    """The request cannot be served; str(e) is shown on the page as it is, with HTTP status ``status``."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


class Busy(BadRequest):
    """The projection queue is full (503): try again when one finishes."""

    def __init__(self, message: str) -> None:
        super().__init__(message, HTTPStatus.SERVICE_UNAVAILABLE)


class Cancelled(Exception):
    """Raised inside a running projection when the studio is stopping."""


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 (C, H, W) -> PNG file bytes."""
    arr = np.ascontiguousarray(image.transpose(1, 2, 0))
    buf = io.BytesIO()
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Job:
    """One projection: progress while it runs, the result when done (or the error)."""

    id: str
    name: str
    steps: int
    step: int = 0
    loss: float = float("nan")
    state: str = "queued"          # queued | running | done | failed
    error: str = ""
    target: Optional[np.ndarray] = None     # the photo as the model sees it, uint8 (C, H, W)
    snapshot: Optional[np.ndarray] = None   # latest G(z), uint8 (C, H, W)
    result: object = None                  # project.ProjectionResult
    label: Optional[int] = None            # the class it was projected as (conditional models)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0


class Engine:
    """A loaded generator (eval mode) and the run's config; see the module doc for sources and threads."""

    def __init__(self, G: nn.Module, cfg, device: torch.device | str = "cpu", project_steps: int = 200,
                 dataset_images: Optional[np.ndarray] = None) -> None:
        self.G, self.cfg, self.device = G.eval(), cfg, device
        self.project_steps = project_steps
        if dataset_images is not None:
            # random-crop runs store a margin around each image: compare with its centred window
            h, w = cfg.image_hw
            top, left = (dataset_images.shape[2] - h) // 2, (dataset_images.shape[3] - w) // 2
            dataset_images = dataset_images[:, :, top:top + h, left:left + w]
        self.real = dataset_images                  # uint8 (N, C, H, W) for nearest neighbours, or None
        self._real_flat: Optional[torch.Tensor] = None
        self.jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()             # guards jobs and lazily built members
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="project")
        self._renders = threading.BoundedSemaphore(RENDERS_AT_ONCE)
        self._closing = threading.Event()
        self._perceptual = None
        self.perceptual_note = ""

    # ---- latents and images -------------------------------------------------------------

    @property
    def class_names(self) -> list[str]:
        """The model's classes ([] for an unconditional model)."""
        return list(getattr(self.G, "class_names", [])) if getattr(self.G, "num_classes", 0) else []

    def label(self, text: str) -> Optional[int]:
        """A class name or index -> its index; '' -> the first class (None for an unconditional model)."""
        names = self.class_names
        if not names:
            if text:
                raise BadRequest("this model has no classes (it was not trained with --conditional)")
            return None
        if not text:
            return 0
        try:
            (index,) = parse_classes(text, names)
        except ValueError as e:
            raise BadRequest(str(e).replace("--class ", "class ")) from None
        return index

    def source(self, source: str, truncation: Optional[float]) -> tuple[torch.Tensor, Optional[int]]:
        """The latent (1, D) and class index (None when unconditional) a source names; BadRequest for an unknown one."""
        kind, _, value = source.partition(":")
        if kind == "seed":
            value, _, cls = value.partition("@")
            try:
                seed = int(value)
            except ValueError:
                raise BadRequest(f"seed {value!r} is not a whole number") from None
            if not 0 <= seed < 2 ** 63:
                raise BadRequest("seeds are 0 or more")
            return latents(1, self.G.latent_dim, seed, truncation), self.label(cls)
        if kind == "proj":
            job = self.jobs.get(value)
            if job is None or job.result is None:
                raise BadRequest(f"no finished projection {value!r} (the studio forgets projections when it stops)")
            return job.result.z, job.label
        raise BadRequest(f"unknown latent source {source!r}: use seed:N, seed:N@CLASS or proj:ID")

    def latent(self, source: str, truncation: Optional[float]) -> torch.Tensor:
        """The latent (1, D) a source names."""
        return self.source(source, truncation)[0]

    def check_reply_size(self, n: int, what: str) -> None:
        """BadRequest unless n images of the model's size fit in one reply (MAX_REPLY_PIXELS)."""
        h, w = self.cfg.image_hw
        most = max(1, MAX_REPLY_PIXELS // (h * w))
        if n > most:
            raise BadRequest(f"{what} would be {n} images of {h}x{w} px; the studio sends at most {most} "
                             "at this size in one reply")

    @torch.no_grad()
    def render(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> np.ndarray:
        """Images for latents z (N, D) and, for a conditional G, labels: int64 (N,) class indices or
        float (N, K) class weights. Returns uint8 (N, C, H, W); G sees RENDER_BATCH latents at a time."""
        out = []
        with self._renders:
            for i in range(0, len(z), RENDER_BATCH):
                zi = z[i:i + RENDER_BATCH].to(self.device)
                x = self.G(zi) if labels is None else self.G(zi, labels[i:i + RENDER_BATCH].to(self.device))
                out.append(to_uint8(x))
        return np.concatenate(out)

    def _labels(self, classes: list[Optional[int]]) -> Optional[torch.Tensor]:
        return None if not self.class_names else torch.tensor(classes, dtype=torch.long)

    def images(self, sources: list[str], truncation: Optional[float]) -> np.ndarray:
        self.check_reply_size(len(sources), f"{len(sources)} sources")
        pairs = [self.source(s, truncation) for s in sources]
        return self.render(torch.cat([z for z, _ in pairs]), self._labels([y for _, y in pairs]))

    def interpolation(self, sources: list[str], truncation: Optional[float], steps: int = 8) -> np.ndarray:
        """Frames along the picked latents in order (slerp, ``steps`` per leg, ends included): uint8 (T, C, H, W).

        For a conditional model the class weights go linearly from one source's class to the next
        (a constant class when both share it)."""
        if len(sources) < 2:
            raise BadRequest("pick at least two images to interpolate between (shift-click to collect)")
        if len(sources) > MAX_INTERP_SOURCES:
            raise BadRequest(f"an interpolation walks through at most {MAX_INTERP_SOURCES} picked images")
        if not 2 <= steps <= 64:
            raise BadRequest("steps per leg must be 2 to 64")
        self.check_reply_size((len(sources) - 1) * (steps - 1) + 1,
                              f"a walk through {len(sources)} images at {steps} steps per leg")
        pairs = [self.source(s, truncation) for s in sources]
        keys = torch.cat([z for z, _ in pairs])
        t = torch.linspace(0, 1, steps)[:, None]
        legs = [slerp(keys[i:i + 1], keys[i + 1:i + 2], t)[(1 if i else 0):] for i in range(len(keys) - 1)]
        weights = None
        if self.class_names:
            onehot = torch.eye(len(self.class_names))[[y for _, y in pairs]]  # (S, K)
            weights = torch.cat([torch.lerp(onehot[i], onehot[i + 1], t)[(1 if i else 0):]
                                 for i in range(len(pairs) - 1)])
        return self.render(torch.cat(legs), weights)

    def nearest(self, source: str, truncation: Optional[float], k: int = 4) -> tuple[np.ndarray, list[float]]:
        """The k training images closest to the source's image in pixels (RMS difference, 0-255 scale).

        Pixels, not features: a memorised training image is a near-copy, which pixel distance finds
        best (a feature distance also matches images that are merely alike)."""
        if self.real is None or len(self.real) == 0:
            raise BadRequest("the training images are not available (start the studio with --data PATH)")
        with self._lock:
            if self._real_flat is None:
                self._real_flat = torch.from_numpy(self.real.reshape(len(self.real), -1)).float()
        x = torch.from_numpy(self.images([source], truncation).reshape(1, -1)).float()
        d = ((self._real_flat - x) ** 2).mean(1).sqrt()
        order = d.argsort()[:k]
        return self.real[order.numpy()], [round(float(d[i]), 1) for i in order]

    # ---- projections ---------------------------------------------------------------------

    def check_upload(self, data: bytes) -> np.ndarray:
        """Upload bytes -> the target uint8 (C, H, W), or BadRequest saying what is wrong with the file."""
        from ..data.decode import SkipImage
        from ..project import load_photo

        if not data:
            raise BadRequest("the file is empty")
        if len(data) > MAX_UPLOAD_BYTES:
            raise BadRequest(f"the file is {len(data) / 2**20:.0f} MB; the studio takes photos up to "
                             f"{MAX_UPLOAD_BYTES >> 20} MB")
        try:  # the header alone says the size: refuse huge images before decoding a pixel
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
        except Image.DecompressionBombError:
            w = h = 0  # load_photo below says it in the pipeline's words
        except Exception:  # noqa: BLE001 - not an image: load_photo's message says so
            w = h = 0
        if w * h > MAX_UPLOAD_PIXELS:
            raise BadRequest(f"the image is {w}x{h} = {w * h / 1e6:.0f} megapixels; the studio takes up to "
                             f"{MAX_UPLOAD_PIXELS / 1e6:.0f} (a decompression bomb, or shrink it first)")
        try:
            return load_photo(data, self.cfg)
        except SkipImage as e:
            raise BadRequest(f"cannot use this file: {e}") from None

    def perceptual(self):
        """The Lite0 perceptual distance, loaded once; None (and a note) when the weights are not installed."""
        from ..errors import ConfigError
        from ..project import load_perceptual

        with self._lock:
            if self._perceptual is None and not self.perceptual_note:
                try:
                    self._perceptual = load_perceptual(self.device)
                except ConfigError as e:
                    self.perceptual_note = f"pixel loss only: {e}"
            return self._perceptual

    def start_projection(self, data: bytes, name: str, cls: str = "") -> Job:
        """Check the upload (and the class, for a conditional model) now, so errors go straight back,
        then queue the optimisation."""
        label = self.label(cls)
        target = self.check_upload(data)
        with self._lock:
            waiting = sum(j.state in ("queued", "running") for j in self.jobs.values())
            if waiting >= MAX_QUEUED_PROJECTIONS:
                raise Busy(f"busy: {waiting} projections are running or waiting; try again when one finishes")
            if self._closing.is_set():
                raise Busy("the studio is stopping")
            job = Job(str(next(self._ids)), name[:80] or "photo", self.project_steps, target=target, label=label)
            self.jobs[job.id] = job
            done = [j for j in self.jobs.values() if j.state in ("done", "failed")]
            for old in done[:-MAX_JOBS_KEPT]:
                del self.jobs[old.id]
        self._worker.submit(self._run, job, target)
        return job

    def _run(self, job: Job, target: np.ndarray) -> None:
        from ..project import ProjectOptions, project

        job.state, job.started = "running", time.time()
        try:
            def on_step(step: int, steps: int, loss: float) -> None:
                job.step, job.loss = step, loss
                if self._closing.is_set():
                    raise Cancelled("the studio is stopping")

            perceptual = self.perceptual()
            opts = ProjectOptions(steps=job.steps, perceptual_weight=1.0 if perceptual is not None else 0.0,
                                  frames=24)
            labels = None if job.label is None else torch.tensor([job.label], device=self.device)
            result = project(self.G, target, perceptual, opts, labels=labels, device=self.device,
                             on_step=on_step, on_frame=lambda im: setattr(job, "snapshot", im))
            job.result, job.snapshot, job.state = result, result.image, "done"
        except Exception as e:  # noqa: BLE001 - one failed job must not take the server down
            job.state, job.error = "failed", f"{type(e).__name__}: {e}"
        job.seconds = time.time() - job.started

    def close(self) -> None:
        """Drop the queued projections and stop the running one at its next step (the worker thread,
        which Python joins at exit, then ends within a step)."""
        self._closing.set()
        self._worker.shutdown(wait=False, cancel_futures=True)
