"""Decoding helpers for the report tests: read back GIFs and MP4s, fake run folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def gif_info(path: Path) -> tuple[int, int, tuple[int, int], list[np.ndarray]]:
    """(decoded frames, total duration ms, (width, height), RGB frames) of a GIF, via Pillow."""
    frames, total = [], 0
    with Image.open(path) as im:
        assert im.format == "GIF"
        size = im.size
        assert im.info.get("loop") == 0, "GIF should loop forever"
        for i in range(im.n_frames):
            im.seek(i)
            total += im.info["duration"]
            frames.append(np.asarray(im.convert("RGB")))
    return len(frames), total, size, frames


def mp4_info(path: Path) -> tuple[int, float, tuple[int, int], list[np.ndarray]]:
    """(frames, seconds, (width, height), RGB frames) of an MP4, decoded by ffmpeg."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    w, h = meta["size"]
    frames = [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in reader]
    n, secs = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert n == len(frames)
    return n, secs, (w, h), frames


def write_run_folder(run: Path, n_stats: int = 40, grids: list[tuple[int, int]] = ((16, 2), (16, 4), (32, 6)),
                     partial_line: bool = True, warning: str | None = None) -> Path:
    """A hand-made run folder like the training loop writes: config.json, stats.jsonl with a
    half-written last line, samples/step-*.png of the given (cell size, step) in index.jsonl
    (progressive: smaller first), samples/reals.png. No checkpoint."""
    from snowgan.config import Config
    from snowgan.report.grid import save_grid

    rng = np.random.default_rng(0)
    run.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    cfg.data.image_size = "32"
    cfg.model.arch = "progan"
    (run / "config.json").write_text(cfg.to_json())
    with open(run / "stats.jsonl", "w") as f:
        for i in range(1, n_stats + 1):
            row = {"step": i * 10, "kimg": i * 0.64, "epoch": i * 0.1, "loss_g": 1 + rng.normal(0, .2),
                   "loss_d": 1.3 + rng.normal(0, .2), "d_real": 0.6, "d_fake": 0.4, "gp": 0.0,
                   "aug_p": i / n_stats, "res": 16 if i < n_stats // 2 else 32}
            if warning and i == n_stats - 1:
                row["warning"] = warning
            f.write(json.dumps(row) + "\n")
        if partial_line:
            f.write('{"step": 999, "kimg": 1')
    samples = run / "samples"
    samples.mkdir()
    with open(samples / "index.jsonl", "w") as f:
        for size, step in grids:
            imgs = rng.integers(0, 255, (4, 3, size, size), dtype=np.uint8)
            save_grid(imgs, samples / f"step-{step:08d}.png", min_cell=size)
            f.write(json.dumps({"file": f"step-{step:08d}.png", "step": step, "kimg": step * 0.064,
                                "epoch": step / 10, "res": size, "alpha": 0.5 if step == 4 else 1.0}) + "\n")
        f.write('{"file": "step-00000099.png", "step": 99}\n')  # listed but missing: skipped
        f.write('{"file": "step-0000')  # half-written
    save_grid(rng.integers(0, 255, (4, 3, 32, 32), dtype=np.uint8), samples / "reals.png")
    return run
