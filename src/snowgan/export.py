"""A portable model folder: export a trained run, and rebuild its networks from the folder alone.

    snowgan --mode export [--run RUN] [--checkpoint auto|best|latest|STEP] [--out DIR] [--force]
                          [--format safetensors|onnx] [--license ID]

writes DIR (default: RUN/export) with

    config.json                the run's resolved Config.to_dict(), plus an "export" record: format,
                               snowgan version, source run/checkpoint/step/kimg, and the size and
                               SHA-256 of both weight files (Config.from_dict ignores the extra key)
    generator.safetensors      the EMA generator (the one snowgan samples from)
    discriminator.safetensors  the discriminator (a feature backbone for --mode probe)
    samples/seed000000.png ... the first seeds, exactly what `--mode generate --model DIR` makes
    samples/grid.png           a 4x4 grid of the same seeds
    samples/training-data.png  the run's grid of real training images, when it has one
    README.md                  a model card (see modelcard.py) with Hugging Face Hub front matter
    generator.onnx             with --format onnx: the generator as an ONNX graph, checked by ONNX
    generate_onnx.py           Runtime at export, and a script that runs it with onnxruntime, numpy
                               and Pillow only (see onnx_export.py)

The folder is a Hugging Face model repository as it is (config.json, *.safetensors, README.md
with YAML front matter): ``huggingface-cli upload USER/NAME DIR .`` shares it; snowgan itself
has no network code.

Like diffusers, a network's init arguments are its config and the weights carry no code:
config.json's export record holds each network's class and init arguments
(``export.generator.init``, models/init_args.py), and ``load_generator(DIR)`` /
``load_discriminator(DIR)`` rebuild the network from them alone (a folder exported before they
were recorded is rebuilt from its settings by the family's builder) and fill it from safetensors — nothing is
unpickled, so a folder from a stranger cannot run code on load.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from . import __version__
from .config import Config, ConfigError
from .files import sha256_file
from .models.init_args import init_record, rebuild
from .models.registry import build_networks
from .report.grid import save_grid, save_picture
from .sample import generate_images, latents
from .tensorfile import save_tensors

FORMAT = 1
WEIGHTS = {"generator": "generator.safetensors", "discriminator": "discriminator.safetensors"}
N_SAMPLE_FILES = 8  # single PNGs
GRID = 4  # GRID x GRID seeds in samples/grid.png


# ---- loading ------------------------------------------------------------------------------

def read_model_config(model_dir: str | Path) -> tuple[Config, dict]:
    """(Config, export record) of an exported model folder; ConfigError if it is not one."""
    root = Path(model_dir).expanduser()
    path = root / "config.json"
    if not root.is_dir():
        raise ConfigError(f"--model {model_dir}: no such folder; export one with snowgan --mode export --out DIR")
    if not path.is_file():
        raise ConfigError(f"--model {model_dir}: no config.json; this is not a folder made by snowgan --mode export")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"--model {model_dir}: config.json is not valid JSON ({e})") from None
    record = raw.get("export") if isinstance(raw, dict) else None
    if not isinstance(record, dict) or "files" not in record:
        raise ConfigError(f"--model {model_dir}: config.json has no 'export' record; re-export the run")
    if int(record.get("format", 0)) > FORMAT:
        raise ConfigError(f"--model {model_dir}: export format {record.get('format')} is newer than this snowgan "
                          f"({__version__}) reads; upgrade snowgan")
    return Config.from_dict(raw), record


def _load_network(model_dir: str | Path, which: str, device: str | torch.device) -> nn.Module:

    cfg, record = read_model_config(model_dir)
    name = WEIGHTS[which]
    path = Path(model_dir).expanduser() / name
    expected = record["files"].get(name, {})
    if not path.is_file():
        raise ConfigError(f"--model {model_dir}: {name} is missing")
    if path.stat().st_size != expected.get("size") or sha256_file(path) != expected.get("sha256"):
        raise ConfigError(f"--model {model_dir}: {name} does not match the size/hash in config.json "
                          "(truncated or replaced); export the run again")
    net = _fresh_network(cfg, record, which, f"--model {model_dir}: config.json")
    try:
        net.load_state_dict(load_file(str(path), device="cpu"))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f"--model {model_dir}: {name} does not fit the networks config.json describes "
                          f"({first})") from None
    net.class_names = cfg.class_list  # [] unless conditional: generate --class reads the names here
    return net.to(device).eval()


def _fresh_network(cfg: Config, record: dict, which: str, where: str) -> nn.Module:
    """The network ``which`` from its recorded init arguments (record[which]["init"]); a folder exported
    before they were recorded (or a plugin family's networks, which need not record them) is rebuilt
    from its settings by the family's builder."""
    init = (record.get(which) or {}).get("init")
    if init is not None:
        net = rebuild(init, where)
        if hasattr(net, "load_backbone"):  # a frozen pretrained part lives outside the weights file
            net.load_backbone(required=False)
        return net
    G, D = build_networks(cfg)
    return G if which == "generator" else D


def init_of(net: nn.Module) -> dict:
    """{"init": {"class", "args"}} for the export record, or {} for a network that does not record them."""
    try:
        return {"init": init_record(net)}
    except TypeError:
        return {}


def load_generator(model_dir: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The EMA generator of an exported folder, in eval mode on `device`.

    G(z) maps latents z (B, G.latent_dim) ~ N(0, I) to images (B, C, H, W) in [-1, 1];
    a conditional one takes G(z, labels) with labels int64 (B,) indices into ``G.class_names``;
    ``snowgan.sample.latents(n, G.latent_dim, seed)`` gives the latents snowgan uses.
    """
    return _load_network(model_dir, "generator", device)


def load_discriminator(model_dir: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The discriminator of an exported folder, in eval mode on `device`.

    D(x) maps images (B, C, H, W) in [-1, 1] to raw scores (B,) (logits, no sigmoid), or (B, K)
    per patch for a projected D trained with --per_logit_loss (``D.per_logit = False`` gives (B,));
    ``D.forward_features(x)`` returns each block's output, highest resolution first.
    """
    return _load_network(model_dir, "discriminator", device)


# ---- exporting ----------------------------------------------------------------------------


def save_weights(net: nn.Module, path: Path, which: str) -> dict:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}
    save_tensors(tensors, str(path), metadata={"format": f"snowgan-export-{FORMAT}", "network": which})
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def write_samples(G: nn.Module, out: Path, seed: int) -> list[str]:
    """Single PNGs and a grid from seeds seed, seed+1, ... (the `--mode generate` convention)."""
    n = max(N_SAMPLE_FILES, GRID * GRID)
    z = torch.cat([latents(1, G.latent_dim, seed + i) for i in range(n)])
    images = generate_images(G, z, "cpu")  # uint8 (n, C, H, W)
    folder = out / "samples"
    folder.mkdir(exist_ok=True)
    files = []
    for i in range(N_SAMPLE_FILES):
        name = f"samples/seed{seed + i:06d}.png"
        save_picture(images[i].transpose(1, 2, 0), out / name)
        files.append(name)
    save_grid(images[:GRID * GRID], folder / "grid.png", nrow=GRID)
    return files
