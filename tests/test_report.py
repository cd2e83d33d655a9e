"""Report building blocks on real files: video writers decoded back, latent paths, averages,
the progress timeline, plots and report.html from hand-made run folders (no checkpoint)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from report_helpers import gif_info, mp4_info, write_run_folder
from snowgan.config import Config
from snowgan.report import interpolate as ip
from snowgan.report.average import RunningMean, average_generated, average_real, side_by_side
from snowgan.report.html import write_report
from snowgan.report.media import newest, next_numbered
from snowgan.report.plots import metric_curves, plot_stats, smooth
from snowgan.report.render import InterpolationSpec, interpolation_frames, pair_images
from snowgan.report.runfiles import read_jsonl, sample_grids
from snowgan.report.timeline import progress_frames
from snowgan.report.video import enlarge, gif_delays_ms, write_gif, write_mp4
from snowgan.sample import generate_images, latents


def _tiny_generator(size: str = "16") -> torch.nn.Module:
    from snowgan.models.registry import build_networks

    cfg = Config()
    cfg.data.image_size = size
    cfg.model.g_width, cfg.model.d_width, cfg.model.latent_dim = 8, 8, 12
    torch.manual_seed(0)
    G, _ = build_networks(cfg)
    return G.eval()


def _distinct_frames(t: int, h: int, w: int) -> np.ndarray:
    """t frames of a moving colour bar on 4 colours: exactly representable in a GIF palette."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    frames[..., 2] = 60
    for i in range(t):
        frames[i, :, (i * 3) % w: (i * 3) % w + 3] = (250, 200, 10)
        frames[i, i % h] = (20, 220, 120)
    return frames


# ---- video files ---------------------------------------------------------------------------

def test_gif_and_mp4_decode_to_the_frames_size_count_and_duration(tmp_path: Path) -> None:
    frames = _distinct_frames(15, 33, 47)  # odd sizes: the MP4 must pad to even
    n, ms, size, decoded = gif_info(write_gif(frames, tmp_path / "a.gif", fps=30))
    assert (n, ms, size) == (15, 500, (47, 33))
    assert all(np.array_equal(d, f) for d, f in zip(decoded, frames))  # 4 colours: lossless
    n, secs, size, decoded = mp4_info(write_mp4(frames, tmp_path / "a.mp4", fps=30))
    assert (n, size) == (15, (48, 34)) and secs == pytest.approx(0.5)
    err = np.abs(decoded[7][:33, :47].astype(int) - frames[7]).mean()
    assert err < 12, err  # lossy, but the same picture
    assert not list(tmp_path.glob(".*partial*")), "temporary files are renamed into place"


@pytest.mark.parametrize("fps", [1, 7, 24, 30, 50])
def test_gif_delays_add_up_to_the_duration_in_whole_centiseconds(fps: int) -> None:
    d = gif_delays_ms(97, fps)
    assert sum(d) == 10 * round(100 * 97 / fps)
    assert min(d) >= 20 and all(x % 10 == 0 for x in d)
    with pytest.raises(ValueError):
        gif_delays_ms(3, 60)


def test_gif_merges_identical_frames_but_keeps_the_duration(tmp_path: Path) -> None:
    frames = np.repeat(_distinct_frames(3, 16, 16), 2, axis=0)  # each frame twice
    n, ms, _, _ = gif_info(write_gif(frames, tmp_path / "b.gif", fps=10))
    assert (n, ms) == (3, 600)


def test_lazy_frame_sequences_and_mismatched_sizes(tmp_path: Path) -> None:
    class Lazy:
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> np.ndarray:
            return _distinct_frames(4, 20, 20)[i]

    assert mp4_info(write_mp4(Lazy(), tmp_path / "c.mp4", fps=4))[:2] == (4, 1.0)
    with pytest.raises(ValueError, match="one size"):
        write_gif([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], tmp_path / "d.gif", 5)


# ---- latent paths --------------------------------------------------------------------------

def test_slerp_ends_and_keeps_the_norm() -> None:
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4, 64, generator=g), torch.randn(4, 64, generator=g)
    b = b / b.norm(dim=-1, keepdim=True) * a.norm(dim=-1, keepdim=True)
    assert torch.allclose(ip.slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(ip.slerp(a, b, 1.0), b, atol=1e-5)
    mid = ip.slerp(a, b, 0.5)
    assert torch.allclose(mid.norm(dim=-1), a.norm(dim=-1), rtol=1e-4)
    cos = lambda x, y: (x * y).sum(-1) / x.norm(dim=-1) / y.norm(dim=-1)  # noqa: E731
    assert torch.allclose(cos(a, mid), cos(mid, b), atol=1e-5)  # half way along the arc
    assert torch.isfinite(ip.slerp(a, a * 1.0000001, 0.3)).all()  # parallel: straight-line fallback


def test_keyframe_loop_visits_every_keyframe_and_closes() -> None:
    keys = ip.keyframe_latents(4, 16, seed=5)
    assert torch.equal(keys[2], latents(1, 16, 7)[0])  # keyframe i is seed+i's latent
    path = ip.keyframe_loop(keys, 20)
    assert path.shape == (20, 16)
    for i in range(4):
        assert torch.allclose(path[5 * i], keys[i], atol=1e-6)
    steps = (path - path.roll(-1, 0)).norm(dim=-1)  # includes last -> first
    assert steps.max() < 2 * steps.median()  # no jump where the loop wraps
    many = ip.keyframe_loop(torch.randn(3, 5, 16), 9)  # five paths at once
    assert many.shape == (9, 5, 16)


def test_latent_walk_is_gaussian_smooth_periodic_and_seeded() -> None:
    z = ip.latent_walk(64, 2048, seed=3, wander=5)
    assert z.shape == (64, 1, 2048)
    assert abs(float(z.std()) - 1) < 0.02  # N(0, I) at every frame
    steps = (z - z.roll(-1, 0)).norm(dim=-1)
    assert steps.max() < 1.5 * steps.min() + 1e-6  # wraps without a jump
    assert torch.equal(z, ip.latent_walk(64, 2048, seed=3, wander=5))
    assert not torch.equal(z, ip.latent_walk(64, 2048, seed=4, wander=5))
    assert ip.latent_walk(8, 16, 0, truncation=0.5).abs().max() <= 0.5


def test_pair_rows_go_from_a_to_b() -> None:
    a, b = torch.randn(3, 8), torch.randn(3, 8)
    z = ip.pair_rows(a, b, 5).reshape(3, 5, 8)
    assert torch.allclose(z[:, 0], a, atol=1e-5) and torch.allclose(z[:, -1], b, atol=1e-5)


def test_interpolation_frames_are_the_generator_images_enlarged() -> None:
    G = _tiny_generator()
    spec = InterpolationSpec(frames=6, keyframes=3, seed=11)
    frames = interpolation_frames(G, spec, "cpu", progress="none")
    assert frames.shape == (6, 128, 128, 3) and frames.dtype == np.uint8
    first = generate_images(G, latents(1, G.latent_dim, 11)).transpose(0, 2, 3, 1)
    assert np.array_equal(frames[0], enlarge(first)[0])  # frame 0 is keyframe 0 = seed 11
    grid = interpolation_frames(G, InterpolationSpec(frames=4, keyframes=2, grid=(2, 3)), "cpu", progress="none")
    assert grid.shape == (4, 2 * 66 + 2, 3 * 66 + 2, 3)  # 16 px cells enlarged to 64, 2 px gaps
    walk = interpolation_frames(G, InterpolationSpec(frames=5, keyframes=2, walk=True), "cpu", progress="none")
    assert walk.shape == (5, 128, 128, 3)
    pairs = pair_images(G, InterpolationSpec(keyframes=2, grid=(2, 4)), "cpu", progress="none")
    assert pairs.shape == (8, 3, 16, 16)
    # Row 0 starts at grid cell 0's first keyframe: the latent of seed 0.
    assert np.array_equal(pairs[0], generate_images(G, latents(1, G.latent_dim, 0))[0])


# ---- averages ------------------------------------------------------------------------------

def test_average_generated_and_real() -> None:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (50, 3, 8, 10), dtype=np.uint8)
    acc = RunningMean()
    for i in range(0, 50, 7):
        acc.add(imgs[i:i + 7])
    assert np.array_equal(acc.image(), np.round(imgs.mean(0)).astype(np.uint8))
    # Stored 8x10, trained 8x8: centre crop; --mirror averages with the flipped mean.
    crop = imgs[:, :, :, 1:9].astype(float).mean(0)
    assert np.array_equal(average_real(imgs, (8, 8)), np.round(crop).astype(np.uint8))
    mirrored = average_real(imgs, (8, 8), mirror=True)
    assert np.array_equal(mirrored, mirrored[..., ::-1])
    G = _tiny_generator()
    gen = average_generated(G, 70, seed=2, batch=32, progress="none")
    direct = generate_images(G, latents(70, G.latent_dim, 2)).astype(float).mean(0)
    assert np.abs(gen.astype(float) - direct).max() <= 0.5 + 1e-9
    pic = side_by_side([(gen, "generated"), (average_real(imgs, (8, 8)), "real")])
    assert pic.shape[0] > 192 and pic.shape[1] > 2 * 192 and pic.dtype == np.uint8


# ---- the run folder: timeline, plots, report ---------------------------------------------------

def test_sample_index_tolerates_partial_missing_and_duplicate_lines(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")
    with open(run / "samples" / "index.jsonl", "a") as f:  # the final grid logged twice
        f.write('\n{"file": "step-00000006.png", "step": 6, "kimg": 0.384, "epoch": 0.6, "res": 32}\n')
    grids = sample_grids(run)
    assert [g.step for g in grids] == [2, 4, 6]
    assert grids[1].alpha == 0.5 and grids[2].res == "32x32"
    assert read_jsonl(run / "stats.jsonl")[-1]["step"] == 400  # partial last line skipped


def test_progress_frames_upscale_smaller_phases_nearest_and_label_them(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")
    frames = progress_frames(run, image_size="32")
    assert len(frames) == 3
    shapes = {frames[i].shape for i in range(3)}
    assert len(shapes) == 1
    first = frames[0]
    big = np.asarray(Image.open(run / "samples" / "step-00000006.png"))
    h, w = big.shape[:2]
    assert first.shape[:2][1] == w and first.shape[0] > h  # final size + caption bar
    small = np.asarray(Image.open(run / "samples" / "step-00000002.png").convert("RGB"))
    nearest = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.NEAREST))
    assert np.array_equal(first[:h], nearest)
    bar = first[h:]
    assert bar.max() == 255 and bar.mean() < 60  # white text on black
    assert progress_frames(run, max_frames=2).grids[-1].step == 6  # thinning keeps the last
    with pytest.raises(FileNotFoundError):
        progress_frames(tmp_path)


def test_plots_from_stats_and_metrics_skip_absent_and_all_zero_keys(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")
    with open(run / "metrics.jsonl", "w") as f:
        for i in range(1, 5):
            f.write(json.dumps({"step": i * 100, "kimg": i * 6.4, "kid": 0.1 / i, "swd": {"avg": 3 / i},
                                "protocol": "kid: 500 fakes"}) + "\n")
        f.write('{"step": 500, "ki')
    paths = plot_stats(run)
    assert [p.name for p in paths] == ["losses.png", "augment.png", "metrics.png"]  # no engineering panels
    for p in paths:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] >= 600
    assert plot_stats(tmp_path / "empty") == []
    # Only the curves a user reads, and only those that move: not the reals' own diversity, the
    # near-duplicate threshold, swd per level, a diversity stuck at one value or a flat augmentation p.
    rows = [{"step": s, "kimg": s / 10, "kid": 1 / s, "fid": 90.0 - s, "diversity": 0.8, "div_real": 0.26,
             "tau": 0.025, "swd": 3 / s, "swd_32x32": 2 / s} for s in (1, 2, 3)]
    assert metric_curves(rows) == ["kid", "fid", "swd"]
    (run / "metrics.jsonl").unlink()
    with open(run / "stats.jsonl", "w") as f:
        f.writelines(json.dumps({"step": s, "kimg": s / 10, "loss_g": 1 / s, "loss_d": 1.0, "aug_p": 0.3}) + "\n"
                     for s in (1, 2, 3))
    assert [p.name for p in plot_stats(run)] == ["losses.png"]
    y = np.array([1.0, np.nan, 1.0, 1.0] * 20)
    assert np.allclose(smooth(y)[~np.isnan(y)], 1.0)


def test_plots_are_redrawn_only_when_their_files_change(tmp_path: Path) -> None:
    """A resumed run's first refresh, or a report right after training, reuses the PNGs drawn from the same files."""
    run = write_run_folder(tmp_path / "run")
    first = plot_stats(run)
    stamps = {p.name: p.stat().st_mtime_ns for p in first}
    again = plot_stats(run)
    assert again == first and {p.name: p.stat().st_mtime_ns for p in again} == stamps  # nothing redrawn
    with open(run / "stats.jsonl", "a") as f:
        f.write(json.dumps({"step": 99, "kimg": 9.9, "loss_g": 1.0, "loss_d": 1.0, "d_real": 0.5, "d_fake": -0.5,
                            "aug_p": 0.1}) + "\n")
    redrawn = plot_stats(run)
    assert [p.name for p in redrawn] == [p.name for p in first]
    assert all(p.stat().st_mtime_ns != stamps[p.name] for p in redrawn)  # a new line: every panel drawn again


def _img_sources(page: str) -> list[str]:
    return re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)


def test_report_is_offline_escaped_and_built_without_a_checkpoint(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run", warning="mode collapse suspected <script>alert(1)</script>")
    plot_stats(run)
    page = write_report(run).read_text()
    assert not re.search(r"https?://", page), "no request may leave the machine"
    assert "<script" not in page and "&lt;script&gt;" in page  # user text is escaped
    assert "mode collapse suspected" in page and "Content-Security-Policy" in page
    srcs = _img_sources(page)
    assert len(srcs) >= 6  # latest grid, reals, timeline thumbnails, plots
    for s in srcs:
        assert s.startswith("data:image/"), s[:40]
    for name in ("id=samples", "id=progress", "id=plots", "id=config", "id=warnings"):
        assert name in page
    # An empty run folder (training just started) still gives a page.
    empty = tmp_path / "00001-new"
    empty.mkdir()
    assert "No statistics logged yet" in write_report(empty).read_text()


def test_report_links_big_videos_and_picks_the_newest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    run = write_run_folder(tmp_path / "run")
    media = run / "media"
    frames = _distinct_frames(4, 16, 16)
    first = next_numbered(media, "interpolate", ("gif", "mp4"))
    write_gif(frames, first.with_suffix(".gif"), 4)
    write_mp4(frames, first.with_suffix(".mp4"), 4)
    second = next_numbered(media, "interpolate", ("gif", "mp4"))
    assert (first.name, second.name) == ("interpolate-00001", "interpolate-00002")
    write_gif(frames[::-1], second.with_suffix(".gif"), 4)
    os.utime(first.with_suffix(".gif"), (1, 1))  # the first is older
    assert newest(run, "interpolate", "gif").name == "interpolate-00002.gif"
    monkeypatch.setattr("snowgan.report.media.EMBED_MAX_BYTES", 100)  # everything counts as large
    page = write_report(run).read_text()
    assert 'src="media/interpolate-00002.gif"' in page
    assert (run / "media/interpolate-00002.gif").is_file()


@pytest.mark.parametrize("flags, message", [
    (["--fps", "60"], "--fps 60"), (["--frames", "1"], "--frames"), (["--keyframes", "1"], "--keyframes"),
    (["--frames", "3", "--keyframes", "5"], "fewer than --keyframes"), (["--grid", "3by4"], "--grid"),
    (["--out", "clip.avi"], "--out clip.avi"),
])
def test_bad_picture_flags_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str],
                                               message: str) -> None:
    from snowgan.cli import main

    write_run_folder(tmp_path / "runs" / "00001-x")
    assert main(["--mode", "interpolate", "--runs_dir", str(tmp_path / "runs"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_output_paths_never_overwrite_without_force(tmp_path: Path) -> None:
    from snowgan.config import ConfigError
    from snowgan.commands.media import _outputs

    cfg, run = Config(), tmp_path / "run"
    first = _outputs(cfg, run, "progress", ("gif", "mp4"))
    assert [p.relative_to(run).as_posix() for p in first] == ["media/progress-00001.gif", "media/progress-00001.mp4"]
    first[1].parent.mkdir(parents=True)
    first[1].write_bytes(b"made earlier")  # only the MP4 exists: the next call still moves on
    assert _outputs(cfg, run, "progress", ("gif", "mp4"))[0].name == "progress-00002.gif"
    cfg.cmd.out = str(tmp_path)  # an existing folder: numbered names inside it
    assert _outputs(cfg, run, "average", ("png",)) == [tmp_path / "average-00001.png"]
    cfg.cmd.out = str(first[1])
    with pytest.raises(ConfigError, match="--force"):
        _outputs(cfg, run, "progress", ("gif", "mp4"))
    cfg.cmd.force = True
    assert _outputs(cfg, run, "progress", ("gif", "mp4")) == [first[1]]


def test_plots_drawn_by_an_older_choice_of_curves_are_redrawn(tmp_path: Path) -> None:
    """A run whose plots/ an earlier snowgan drew (other panels, flat curves) gets today's on the next report,
    though its logs have not changed."""
    from snowgan.report.plots import DRAWN_FROM

    run = write_run_folder(tmp_path / "run")
    first = plot_stats(run)
    stamp = run / "plots" / DRAWN_FROM
    lines = stamp.read_text().splitlines()
    stamp.write_text("\n".join(l for l in lines if l.startswith(("stats.jsonl", "metrics.jsonl"))) + "\n")
    (run / "plots" / "scores.png").write_bytes(first[0].read_bytes())  # an older version's panel
    before = {p.name: p.stat().st_mtime_ns for p in first}
    again = plot_stats(run)
    assert all(p.stat().st_mtime_ns != before[p.name] for p in again)  # drawn again, today's way
    assert not (run / "plots" / "scores.png").exists()  # a panel no longer drawn is not shown stale
