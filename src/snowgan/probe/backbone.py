"""The discriminator as a feature extractor: load it, pick a block, pool its features.

Features of block b are D.blocks[b]'s output (B, C_b, H_b, W_b), globally average-pooled
to (B, C_b): a fixed-length vector for any image, the standard linear-probe read-out of
a convolutional network (as in the DCGAN paper's use of its discriminator).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import Config, ConfigError
from ..progress import Progress


@dataclass
class Backbone:
    """A trained discriminator (eval mode, on device) and where it came from.

    cfg: the model's training config (image size, channels, architecture). home: the
    model folder or run folder, where a head is saved by default. fingerprint: a hash
    of D's weights, so a head is never applied to features of another D.
    """

    D: nn.Module
    cfg: Config
    source: str
    home: Path
    fingerprint: str


def weights_fingerprint(net: nn.Module) -> str:
    """SHA-256 (16 hex) over a network's state dict: names, dtypes, shapes and values."""
    h = hashlib.sha256()
    for name, t in sorted(net.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def load_backbone(cfg: Config, device: torch.device) -> Backbone:
    """D from --model DIR (an exported folder), else from --run RUN (default: the newest run)."""
    if cfg.cmd.model:
        from ..export import load_discriminator, read_model_config

        model_cfg, record = read_model_config(cfg.cmd.model)
        D = load_discriminator(cfg.cmd.model, device="cpu")
        src = record.get("source", {})
        source = f"model {cfg.cmd.model} (run {src.get('run', '?')}, step {src.get('step', '?')})"
        home = Path(cfg.cmd.model).expanduser()
    else:
        from ..runs import find_run
        from ..run.load import load_run

        run_dir = find_run(cfg.run.runs_dir, cfg.run.run, need_checkpoint=True)
        loaded = load_run(run_dir, cfg.cmd.checkpoint, "cpu")
        D, model_cfg, home = loaded.D, loaded.cfg, run_dir
        source = f"run {run_dir.name}, {loaded.path.name} (step {loaded.step})"
    fp = weights_fingerprint(D)
    return Backbone(D.to(device).eval(), model_cfg, source, home, fp)


def random_discriminator(model_cfg: Config, seed: int, device: torch.device) -> nn.Module:
    """A freshly initialised D of the same shape, from a fixed seed (the probe's baseline)."""
    from ..models.registry import build_networks

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        _, D = build_networks(model_cfg)
    return D.to(device).eval()


def resolve_block(D: nn.Module, block: int) -> int:
    """--probe_block (Python-style, -1 = last) -> a block index 0..n-1."""
    n = len(D.blocks)
    if not -n <= block < n:
        raise ConfigError(f"--probe_block {block}: this discriminator has {n} blocks (0..{n - 1}, or -1..-{n})")
    return block % n


def to_input(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float (B, C, H, W) in [-1, 1] on device, as D saw images in training."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(127.5).sub_(1.0)


def pooled(D: nn.Module, x: torch.Tensor, block: int) -> torch.Tensor:
    """Block `block`'s output for x (B, C, H, W) in [-1, 1], averaged over space: (B, C_block).

    Goes through D.forward_features (not the blocks one by one) so families that blend
    blocks, like the progressive GAN's fade-in, give the features D really computes.
    """
    return D.forward_features(x)[block].mean(dim=(2, 3))


@torch.no_grad()
def extract(D: nn.Module, images: np.ndarray, block: int, device: torch.device, progress: str,
            desc: str, batch: int = 128) -> np.ndarray:
    """Pooled features float32 (N, C_block) of uint8 images (N, C, H, W)."""
    out = []
    bar = Progress(len(images), desc, unit="img", mode=progress)
    try:
        for i in range(0, len(images), batch):
            chunk = images[i:i + batch]
            out.append(pooled(D, to_input(chunk, device), block).float().cpu().numpy())
            bar.update(len(chunk))
    finally:
        bar.close()
    return np.concatenate(out).astype(np.float32)


def trainable_copy(D: nn.Module, block: int, n_unfrozen: int) -> tuple[nn.Module, list[int]]:
    """A copy of D whose blocks (block-n_unfrozen, block] train and all else is frozen.

    Normalisation layers stay in eval mode: their running statistics are the pretrained
    ones, and a few hundred labelled images would only make them noisier.
    """
    Dc = copy.deepcopy(D).eval()
    for p in Dc.parameters():
        p.requires_grad_(False)
    open_blocks = list(range(max(0, block - n_unfrozen + 1), block + 1))
    for b in open_blocks:
        for p in Dc.blocks[b].parameters():
            p.requires_grad_(True)
    return Dc, open_blocks


def block_state(D: nn.Module, blocks: list[int]) -> dict[str, torch.Tensor]:
    """State of the given blocks, keys 'blocks.<i>.<param>' as in D.state_dict()."""
    return {k: v.detach().cpu().contiguous() for k, v in D.state_dict().items()
            if k.startswith("blocks.") and int(k.split(".")[1]) in blocks}
