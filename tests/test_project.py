"""`--mode project` (GAN inversion) on a tiny trained run, the projection library, and --latents."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import run_cli, run_cli_here
from snowgan.config import Config
from snowgan.latentfile import load_latents, save_latents
from snowgan.errors import ConfigError
from snowgan.project import ProjectOptions, load_photo, project, psnr
from snowgan.sample import generate_images

TINY = ["--image_size", "16", "--builtin_count", "64", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--log_every", "2", "--sample_every", "4", "--metrics_every", "0"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained 4 steps on 16 px built-in images (its folder's parent is the working directory)."""
    work = tmp_path_factory.mktemp("project")
    run_cli("--mode", "train", "--loss", "nonsat", *TINY, "--steps", "4", "--name", "tiny", cwd=work,
            env={"SNOWGAN_CACHE": str(work / "cache")})
    return work


def _photo(path: Path, size: tuple[int, int] = (120, 90)) -> Path:
    """A smooth colour photo-like picture of another size and aspect than the model's."""
    y, x = np.mgrid[0:size[1], 0:size[0]]
    rgb = np.stack([x * 255 // size[0], y * 255 // size[1], (x + y) * 127 // sum(size)], -1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def test_project_cli_writes_everything_and_the_latent_feeds_generate(tiny_run: Path) -> None:
    photo = _photo(tiny_run / "photo.jpg")
    env = {"SNOWGAN_CACHE": str(tiny_run / "cache")}
    p = run_cli("--mode", "project", "--image", str(photo), "--project_steps", "30", "--progress", "lines",
                "--out", str(tiny_run / "proj"), cwd=tiny_run, env=env)
    out = tiny_run / "proj"
    assert "PSNR" in p.stdout and "perceptual distance" in p.stdout
    info = json.loads((out / "projection.json").read_text())
    # The optimisation did something: the loss fell and the result beats the best random start.
    assert info["loss_last"] < info["loss_first"]
    assert info["psnr_db"] >= info["start_psnr_db"] - 0.5
    assert 0 <= info["perceptual"] < 4 and info["random_pair_perceptual"] > 0
    for name in ("target.png", "reconstruction.png", "side-by-side.png"):
        with Image.open(out / name) as im:
            im.load()
            assert im.size[0] >= 16
    with Image.open(out / "reconstruction.png") as im:
        assert im.size == (16, 16)
    with Image.open(out / "optimisation.gif") as im:
        assert im.n_frames >= 2
    assert (out / "optimisation.mp4").stat().st_size > 0
    z = load_file(str(out / "latent.safetensors"))["z"]
    assert z.shape == (1, 100) and torch.isfinite(z).all()
    # Round trip: generate renders exactly the reconstruction from the latent file.
    run_cli_here("--mode", "generate", "--latents", str(out / "latent.safetensors"), "--out", str(tiny_run / "gen"),
                 cwd=tiny_run, env=env)
    regenerated = np.asarray(Image.open(tiny_run / "gen" / "latent000000.png"))
    assert np.abs(regenerated.astype(int) - np.asarray(Image.open(out / "reconstruction.png")).astype(int)).max() <= 1
    # ... and interpolate starts its loop at it.
    run_cli_here("--mode", "interpolate", "--latents", str(out / "latent.safetensors"), "--frames", "6",
                 "--keyframes", "3", "--out", str(tiny_run / "walk.gif"), cwd=tiny_run, env=env)
    with Image.open(tiny_run / "walk.gif") as im:
        assert im.n_frames == 6


def test_project_refuses_a_file_that_is_not_an_image(tiny_run: Path) -> None:
    bad = tiny_run / "notes.jpg"
    bad.write_text("not a picture")
    p = run_cli_here("--mode", "project", "--image", str(bad), cwd=tiny_run, check=False,
                     env={"SNOWGAN_CACHE": str(tiny_run / "cache")})
    assert p.returncode == 2 and "not an image" in p.stderr


class _ToyG(torch.nn.Module):
    """A generator the test can reason about: one linear map and tanh, (B, 16) -> (B, 3, 8, 8) in [-1, 1]."""

    latent_dim = 16

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(16, 3 * 8 * 8)

    def forward(self, z: torch.Tensor, labels: object = None) -> torch.Tensor:
        return torch.tanh(self.fc(z)).reshape(-1, 3, 8, 8)


def test_projection_recovers_a_generated_image_better_than_its_start() -> None:
    """A target the generator can make: pixel-only projection gets far closer than the best random seed."""
    torch.manual_seed(0)
    G = _ToyG().eval()
    target = generate_images(G, torch.randn(1, 16, generator=torch.Generator().manual_seed(123)))[0]
    res = project(G, target, None, ProjectOptions(steps=100, lr=0.05, perceptual_weight=0, n_init=16))
    assert res.losses[-1] < 0.2 * res.losses[0]
    assert res.psnr > res.start_psnr + 6
    assert res.psnr == pytest.approx(psnr(res.image, target))
    assert len(res.frames) >= 2 and res.z.shape == (1, 16)
    assert all(p.requires_grad for p in G.parameters())  # G's flags are put back


class _ToyCondG(torch.nn.Module):
    """A conditional toy G: the class sets the image's colour, z its pattern."""

    latent_dim, num_classes = 16, 3

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(16, 3 * 8 * 8)
        self.colour = torch.nn.Embedding(3, 3)
        with torch.no_grad():
            self.fc.weight.mul_(0.1)
            self.colour.weight.copy_(torch.tensor([[2.0, -2, -2], [-2, 2, -2], [-2, -2, 2]]))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        y = torch.arange(len(z)) % 3 if labels is None else labels
        return torch.tanh(self.fc(z).reshape(-1, 3, 8, 8) + self.colour(y)[:, :, None, None])


def test_projection_of_a_conditional_g_finds_the_class_or_keeps_the_given_one() -> None:
    torch.manual_seed(0)
    G = _ToyCondG().eval()
    target = generate_images(G, torch.randn(1, 16), labels=torch.tensor([2]))[0]  # a blue image
    opts = ProjectOptions(steps=5, perceptual_weight=0, n_init=8)
    assert project(G, target, None, opts).label == 2  # no class given: the closest one
    forced = project(G, target, None, opts, labels=torch.tensor([0]))
    assert forced.label == 0 and forced.psnr < project(G, target, None, opts).psnr


def test_project_cli_on_a_conditional_run_records_the_class_for_generate(tmp_path: Path) -> None:
    env = {"SNOWGAN_CACHE": str(tmp_path / "cache")}
    run_cli("--mode", "train", "--loss", "nonsat", *TINY, "--conditional", "--steps", "4", "--name", "cond",
            cwd=tmp_path, env=env)
    photo = _photo(tmp_path / "photo.jpg")
    p = run_cli_here("--mode", "project", "--image", str(photo), "--project_steps", "3", "--perceptual_weight", "0",
                     "--out", str(tmp_path / "proj"), cwd=tmp_path, env=env)
    found = json.loads((tmp_path / "proj" / "projection.json").read_text())["class"]
    assert found in ("desert", "green", "rocky", "snowy") and f"class: {found} (the class whose" in p.stdout
    run_cli_here("--mode", "project", "--image", str(photo), "--project_steps", "3", "--perceptual_weight", "0",
                 "--class", "snowy", "--out", str(tmp_path / "snowy"), cwd=tmp_path, env=env)
    latent = tmp_path / "snowy" / "latent.safetensors"
    assert json.loads((tmp_path / "snowy" / "projection.json").read_text())["class"] == "snowy"
    run_cli_here("--mode", "generate", "--latents", str(latent), "--out", str(tmp_path / "gen"), cwd=tmp_path, env=env)
    assert [f.name for f in (tmp_path / "gen").glob("*.png")] == ["snowy-latent000000.png"]
    bad = run_cli_here("--mode", "project", "--image", str(photo), "--class", "snowy,desert", cwd=tmp_path, env=env,
                       check=False)
    assert bad.returncode == 2 and "one class" in bad.stderr


def test_load_photo_fits_as_the_training_data() -> None:
    cfg = Config()
    cfg.data.image_size, cfg.data.channels = "16x32", 1
    import io

    buf = io.BytesIO()
    Image.new("RGB", (300, 100), (200, 10, 10)).save(buf, "PNG")
    photo = load_photo(buf.getvalue(), cfg)
    assert photo.shape == (1, 16, 32) and photo.dtype == np.uint8


def test_latent_file_checks(tmp_path: Path) -> None:
    save_latents(torch.randn(3, 8), tmp_path / "z.safetensors", {"psnr_db": 12.5})
    assert load_latents(tmp_path / "z.safetensors", 8).shape == (3, 8)
    with pytest.raises(ConfigError, match="latent_dim is 16"):
        load_latents(tmp_path / "z.safetensors", 16)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ConfigError, match="not a safetensors file"):
        load_latents(tmp_path / "junk.safetensors", 8)
