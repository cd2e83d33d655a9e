"""Frame sequences -> looping GIF (Pillow) and H.264 MP4 (imageio-ffmpeg's bundled ffmpeg).

Frames are uint8 (T, H, W, 3): an array, or any sequence of (H, W, 3) arrays with len()
and indexing (e.g. a lazy list that loads each frame when asked, so a long progress video
never holds every full-size frame in memory). Both writers go through a temporary file
renamed into place, so a report or a browser never sees half a video.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np
from PIL import Image

from ..diskspace import writing
from .grid import enlarge_factor

# Generated images are often 32-64 px: enlarged (nearest) to at least this many pixels on the
# shorter side they stay visible on a web page and survive H.264's 4:2:0 chroma subsampling.
MIN_SIDE = 128
# GIF delays are whole centiseconds and browsers slow down delays under 2 cs to 10 cs,
# so a GIF cannot play faster than 50 frames per second.
MAX_GIF_FPS = 50


Frames = Union[np.ndarray, Sequence[np.ndarray]]


def rgb_frame(frame: np.ndarray) -> np.ndarray:
    """Check one frame: uint8 (H, W, 3), or grayscale (H, W[, 1]) turned RGB."""
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.ndim != 3 or frame.shape[-1] not in (1, 3):
        raise ValueError(f"expected a frame (H, W, 3), got {frame.shape}")
    return np.repeat(frame, 3, axis=-1) if frame.shape[-1] == 1 else frame


def _checked(frames: Frames) -> tuple[int, tuple[int, int]]:
    """(number of frames, (H, W)); raises ValueError for no frames."""
    if len(frames) == 0:
        raise ValueError("a video needs at least one frame")
    return len(frames), rgb_frame(frames[0]).shape[:2]


def _frame(frames: Frames, i: int, hw: tuple[int, int]) -> np.ndarray:
    f = rgb_frame(frames[i])
    if f.shape[:2] != hw:
        raise ValueError(f"frame {i} is {f.shape[:2]}, frame 0 is {hw}: all frames must have one size")
    return f


def enlarge(frames: np.ndarray, min_side: int = MIN_SIDE) -> np.ndarray:
    """Nearest-neighbour enlarge an array (..., H, W, 3) by the smallest whole factor reaching ``min_side``."""
    h, w = frames.shape[-3:-1]
    k = enlarge_factor(h, w, min_side)
    return frames if k == 1 else frames.repeat(k, axis=-3).repeat(k, axis=-2)


def pad_even(frame: np.ndarray) -> np.ndarray:
    """Pad (H, W, 3) with edge pixels to even H and W (H.264 with yuv420p needs even sizes)."""
    h, w, _ = frame.shape
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def gif_delays_ms(n: int, fps: float) -> list[int]:
    """Per-frame GIF delays (ms, whole centiseconds) whose sum is n/fps rounded to 10 ms.

    A plain round(1000/fps) drifts (30 fps -> 30 ms -> 33.3 fps); rounding the
    cumulative time instead alternates 30 and 40 ms and keeps the total exact.
    """
    if not 0 < fps <= MAX_GIF_FPS:
        raise ValueError(f"GIF fps must be in (0, {MAX_GIF_FPS}], got {fps}")
    cs = [round(100 * (i + 1) / fps) - round(100 * i / fps) for i in range(n)]
    return [10 * c for c in cs]


def _shared_palette(frames: Frames, hw: tuple[int, int], max_pixels: int = 1 << 18) -> Image.Image:
    """One 256-colour palette for the whole video, from up to 16 frames spread over it.

    A palette per frame makes colours flicker from frame to frame; one shared palette
    keeps still regions still (and lets the GIF encoder store only what changed).
    """
    idx = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), 16)).round().astype(int))
    pixels = np.concatenate([_frame(frames, int(i), hw).reshape(-1, 3) for i in idx])
    pixels = pixels[:: max(1, len(pixels) // max_pixels)]
    return Image.fromarray(pixels[None]).quantize(colors=256, method=Image.Quantize.MEDIANCUT)


def _temp_path(path: Path) -> Path:
    # Keep the real suffix last: ffmpeg picks the container from it.
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def write_gif(frames: Frames, path: str | Path, fps: float) -> Path:
    """Write a GIF that loops forever. frames: uint8 (T, H, W, 3).

    Identical consecutive frames are merged by the encoder (their delays add up), so
    the decoded frame count can be lower than T for still stretches; the duration is kept.
    """
    n, hw = _checked(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    palette = _shared_palette(frames, hw)
    # Paletted frames take a third of the memory of RGB ones; Pillow keeps them all until the end.
    images = [Image.fromarray(_frame(frames, i, hw)).quantize(palette=palette, dither=Image.Dither.NONE)
              for i in range(n)]
    tmp = _temp_path(path)
    with writing(path):
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=gif_delays_ms(len(images), fps), disposal=1)
    os.replace(tmp, path)
    return path


def write_mp4(frames: Frames, path: str | Path, fps: float, crf: int = 18) -> Path:
    """Write an H.264 MP4 (yuv420p, even size, +faststart so browsers can start playing at once).

    frames: uint8 (T, H, W, 3). crf: x264 quality, lower is better (18 looks lossless to most eyes).
    """
    import imageio_ffmpeg

    n, hw = _checked(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = hw[0] + hw[0] % 2, hw[1] + hw[1] % 2
    tmp = _temp_path(path)
    writer = imageio_ffmpeg.write_frames(
        str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
        quality=None, macro_block_size=2, ffmpeg_log_level="error",
        output_params=["-crf", str(crf), "-movflags", "+faststart"])
    with writing(path):
        writer.send(None)  # start ffmpeg
        try:
            for i in range(n):  # one frame at a time: a lazy sequence stays lazy
                writer.send(np.ascontiguousarray(pad_even(_frame(frames, i, hw))))
        finally:
            writer.close()
    os.replace(tmp, path)
    return path
