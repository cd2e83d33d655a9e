"""generator.onnx: an exported model's EMA generator as an ONNX graph that runs without PyTorch.

    snowgan export --format onnx [--run RUN] [--out DIR]

adds to the export folder (export.py)

    generator.onnx     the graph (opset 17), checked against PyTorch by ONNX Runtime before it is written
    generate_onnx.py   a script that needs only onnxruntime, numpy and Pillow (templates/generate_onnx.py)

The graph:

    input  z       float32 (batch, latent_dim)   latents ~ N(0, I)
    input  class   int64   (batch,)              class indices, only for a conditional model
    output images  float32 (batch, C, H, W)      in [-1, 1]

``batch`` is a dynamic axis. uint8 pixels as snowgan writes them: round((clip(x, -1, 1) + 1) * 127.5).
The graph's metadata (ONNX ``metadata_props``; ONNX Runtime's ``get_modelmeta().custom_metadata_map``)
holds ``classes`` (a JSON list of the class names, index order) and ``latent_dim``, so the file
describes itself without config.json.

What is exported is the generator exactly as ``snowgan generate`` runs it, in plain float32 with
PyTorch's own convolutions: a copy in eval mode on the CPU, autocast off (the CPU bf16 convolution
route of train/cpu_conv.py acts only under bf16 autocast in training), with spectral normalisation
(the projected family's generator) folded into plain weights, as eval mode computes them anyway.
A progressive generator is exported at the stage it was saved at (its final size once grown).

Exporter: ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based one. It exports every
family here (the grouped convolutions of R3GAN trace to a plain grouped Conv) with only the
``onnx`` and ``onnxruntime`` packages; the torch.export-based default (``dynamo=True``) needs
``onnxscript`` as well and took 2-5x longer on the same generators, for the same graph. PyTorch
marks the TorchScript exporter deprecated; its DeprecationWarning is silenced here.

The check: ONNX Runtime runs the graph on fixed latents (``sample.latents(n, latent_dim, seed=0)``,
batches of 1 and 5, so the dynamic batch axis is exercised too; every class in turn when
conditional) and its images must match PyTorch's within TOLERANCE, the largest absolute difference
on [-1, 1] images; 1e-3 is an eighth of one uint8 step, so a pixel written from either differs by
at most 1. Otherwise the export fails with one line giving the difference, and nothing is written.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import io
import shutil
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from . import __version__
from .config import ConfigError
from .diskspace import writing
from .files import json_text, sha256_file
from .sample import latents

ONNX_FILE = "generator.onnx"
SCRIPT = "generate_onnx.py"
TEMPLATE = Path(__file__).resolve().parent / "templates" / SCRIPT
OPSET = 17
TOLERANCE = 1e-3
CHECK_BATCHES = (1, 5)
CHECK_SEED = 0
INSTALL = "pip install 'snowgan[onnx]'"
EXPORTER = "torch.onnx.export (TorchScript-based, dynamo=False)"


def require_onnx() -> None:
    """ConfigError with the install command unless onnx and onnxruntime import."""
    missing = []
    for name in ("onnx", "onnxruntime"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError(f"--format onnx needs the {' and '.join(missing)} package{'s' if len(missing) > 1 else ''}: "
                          f"{INSTALL}")


def plain_generator(G: nn.Module) -> nn.Module:
    """A copy of G to export: eval mode, float32 on the CPU, no gradients, parametrizations (spectral
    norm) folded into plain weights as eval mode computes them. G itself is left as it was."""
    from torch.nn.utils import parametrize

    net = copy.deepcopy(G).to("cpu", torch.float32).eval()
    for module in list(net.modules()):
        if parametrize.is_parametrized(module):
            # The copy shares the class parametrize made for G's module (deepcopy keeps classes), and
            # removing a parametrization edits that class: give the copy a class of its own first.
            cls = type(module)
            module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    net.requires_grad_(False)
    bad = sorted({str(t.dtype) for t in [*net.parameters(), *net.buffers()]
                  if t.is_floating_point() and t.dtype != torch.float32})
    if bad:  # .to(float32) converts every floating tensor; a network that keeps others would be a bug
        raise ConfigError(f"the generator keeps {', '.join(bad)} tensors; it cannot be exported as float32")
    return net


def _inputs(G: nn.Module, n: int, classes: list[str], seed: int = CHECK_SEED) -> dict[str, torch.Tensor]:
    """The graph's inputs for n images: latents from seed, and every class in turn when conditional."""
    feed = {"z": latents(n, G.latent_dim, seed)}
    if classes:
        feed["class"] = torch.arange(n) % len(classes)
    return feed


def to_onnx(G: nn.Module, classes: list[str], metadata: Optional[dict[str, str]] = None) -> bytes:
    """The serialised ONNX model of G (see the module docstring for its inputs and output)."""
    import onnx

    net = plain_generator(G)
    example = _inputs(net, 2, classes)
    names = list(example)
    options: dict[str, Any] = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad(), torch.autocast("cpu", enabled=False):
        # The exporter's deprecation notice, and tracer warnings on the networks' shape checks
        # (a label batch must be (B,)): the check below runs the graph at other batch sizes.
        warnings.simplefilter("ignore")
        torch.onnx.export(net, tuple(example.values()), buf, input_names=names, output_names=["images"],
                          dynamic_axes={n: {0: "batch"} for n in [*names, "images"]}, opset_version=OPSET,
                          do_constant_folding=True, **options)
    model = onnx.load_from_string(buf.getvalue())
    meta = {"classes": json_text(classes), "latent_dim": str(int(G.latent_dim)), "output_range": "[-1, 1]",
            "snowgan_version": __version__, **(metadata or {})}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name, model.doc_string = "snowgan", "z (batch, latent_dim) [, class (batch,)] -> images in [-1, 1]"
    onnx.checker.check_model(model)
    return model.SerializeToString()


def session(model: bytes | str | Path, threads: int = 0):
    """An ONNX Runtime session on the CPU (threads 0: ONNX Runtime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def check_onnx(model: bytes, G: nn.Module, classes: list[str]) -> dict[str, Any]:
    """Run the graph in ONNX Runtime on fixed latents against G in PyTorch; ConfigError (one line,
    the largest difference) when they differ by more than TOLERANCE. Returns the check's record."""
    import onnxruntime as ort

    sess = session(model, threads=torch.get_num_threads())
    diffs, shape = [], None
    for n in CHECK_BATCHES:
        feed = _inputs(G, n, classes)
        got = sess.run(["images"], {k: v.numpy() for k, v in feed.items()})[0]
        with torch.no_grad(), torch.autocast("cpu", enabled=False):
            want = G(feed["z"], feed.get("class")).float().numpy()
        if got.shape != want.shape:
            raise ConfigError(f"{ONNX_FILE}: ONNX Runtime made images of shape {got.shape}, PyTorch {want.shape}; "
                              "nothing was exported")
        diffs.append(float(np.abs(got.astype(np.float64) - want).max()))
        shape = list(want.shape[1:])
    worst = max(diffs) if all(np.isfinite(diffs)) else float("nan")
    if not worst <= TOLERANCE:
        raise ConfigError(f"{ONNX_FILE} does not match PyTorch: ONNX Runtime's images differ by up to {worst:.3g} "
                          f"(tolerance {TOLERANCE:g} on [-1, 1]); nothing was exported")
    return {"max_abs_difference": worst, "tolerance": TOLERANCE, "batches": list(CHECK_BATCHES),
            "latents": f"snowgan.sample.latents(n, {int(G.latent_dim)}, seed={CHECK_SEED})"
                       + ("; class i mod K" if classes else ""),
            "onnxruntime": ort.__version__, "image_shape": shape}


def export_checked(G: nn.Module, classes: list[str], metadata: Optional[dict[str, str]] = None
                   ) -> tuple[bytes, dict[str, Any]]:
    """(serialised graph, its check record): to_onnx, then check_onnx. Writes nothing."""
    model = to_onnx(G, classes, metadata)
    return model, check_onnx(model, G, classes)


def write_onnx(out: Path, model: bytes, check: dict[str, Any], classes: list[str], latent_dim: int) -> dict[str, Any]:
    """Write generator.onnx and generate_onnx.py into out; returns the "onnx" entry of the export record."""
    path = out / ONNX_FILE
    with writing(path):
        path.write_bytes(model)
    with writing(out / SCRIPT):
        shutil.copyfile(TEMPLATE, out / SCRIPT)
    inputs = {"z": {"dtype": "float32", "shape": ["batch", latent_dim]}}
    if classes:
        inputs["class"] = {"dtype": "int64", "shape": ["batch"], "classes": classes}
    return {"file": ONNX_FILE, "script": SCRIPT, "opset": OPSET, "exporter": EXPORTER, "inputs": inputs,
            "output": {"name": "images", "dtype": "float32", "shape": ["batch", *check["image_shape"]],
                       "range": [-1, 1], "to_uint8": "round((clip(x, -1, 1) + 1) * 127.5)"},
            "check": check, "size": path.stat().st_size, "sha256": sha256_file(path)}
