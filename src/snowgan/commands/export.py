"""`snowgan --mode export`: a run's chosen checkpoint as a self-contained model folder (see export.py);
with ``--format onnx`` also generator.onnx, checked by ONNX Runtime, and generate_onnx.py (onnx_export.py)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from .. import __version__, export, onnx_export
from ..config import Config
from ..diskspace import writing
from ..files import json_text
from ..modelcard import collect_run_facts, render_model_card
from ..runfolder import RunFolder
from ..runs import find_run
from ..run.load import load_run
from .common import check_out


def main(cfg: Config, explicit: set[str]) -> int:
    """`snowgan --mode export`: the chosen checkpoint of a run as a self-contained model folder."""
    export_run(cfg)
    return 0


def export_run(cfg: Config) -> Path:
    """What main makes (`snowgan export` and the Python API's export); returns the folder written."""
    onnx = cfg.cmd.format == "onnx"
    if onnx:
        onnx_export.require_onnx()  # before anything is read or made
    run_dir = find_run(cfg.run.runs_dir, cfg.run.run, need_checkpoint=True)
    out = Path(cfg.cmd.out).expanduser() if cfg.cmd.out else RunFolder(run_dir).export
    check_out(out, cfg.cmd.force, folder=True, what="exported model")
    loaded = load_run(run_dir, cfg.cmd.checkpoint, "cpu")
    print(f"exporting {loaded.describe()}, to {out}")
    classes = loaded.cfg.class_list
    graph = None
    if onnx:  # exported and checked before the folder is made: a failed check leaves nothing behind
        graph, check = onnx_export.export_checked(loaded.G, classes, {"source_run": run_dir.name,
                                                                       "source_step": str(loaded.step)})
    out.mkdir(parents=True, exist_ok=True)  # only now: a failed load leaves no empty folder behind
    if graph is None:  # --force over an earlier --format onnx export: its graph would not be these weights
        for stale in (onnx_export.ONNX_FILE, onnx_export.SCRIPT):
            (out / stale).unlink(missing_ok=True)

    files = {export.WEIGHTS["generator"]: export.save_weights(loaded.G, out / export.WEIGHTS["generator"], "generator (EMA)"),
             export.WEIGHTS["discriminator"]: export.save_weights(loaded.D, out / export.WEIGHTS["discriminator"], "discriminator")}
    samples = export.write_samples(loaded.G, out, cfg.run.seed)
    reals = RunFolder(run_dir).reals_grid
    if reals.is_file():
        shutil.copyfile(reals, out / "samples" / "training-data.png")

    record: dict[str, Any] = {
        "format": export.FORMAT, "snowgan_version": __version__, "exported": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "source": {"run": run_dir.name, "checkpoint": loaded.path.name, "why": loaded.why,
                   "step": loaded.step, "kimg": round(loaded.kimg, 3)},
        "generator": {"latent_dim": int(loaded.G.latent_dim), "image_size": list(loaded.cfg.image_hw),
                      "channels": loaded.cfg.data.channels, "output_range": [-1, 1],
                      "parameters": sum(p.numel() for p in loaded.G.parameters()), **export.init_of(loaded.G)},
        "discriminator": {"blocks": len(loaded.D.blocks), "output": "raw score (logit), no sigmoid",
                          "parameters": sum(p.numel() for p in loaded.D.parameters()), **export.init_of(loaded.D)},
        "files": files, "samples": samples, "sample_seed": cfg.run.seed, "license": cfg.cmd.license,
    }
    if graph is not None:
        record["onnx"] = onnx_export.write_onnx(out, graph, check, classes, int(loaded.G.latent_dim))
        files[onnx_export.ONNX_FILE] = {k: record["onnx"][k] for k in ("size", "sha256")}
        print(f"{onnx_export.ONNX_FILE}: ONNX Runtime matches PyTorch to {check['max_abs_difference']:.2g} "
              f"(tolerance {check['tolerance']:g}); run it without PyTorch: python {out / onnx_export.SCRIPT}")
    facts = collect_run_facts(run_dir, loaded.step)
    card = render_model_card(loaded.cfg, record, facts, has_reals=reals.is_file())
    with writing(out / "README.md"):
        (out / "README.md").write_text(card, encoding="utf-8")
    # config.json last: a folder is loadable only once every file it vouches for is in place.
    with writing(out / "config.json"):
        (out / "config.json").write_text(json_text({**loaded.cfg.to_dict(), "export": record}, indent=2),
                                         encoding="utf-8")
    extra = f", {onnx_export.ONNX_FILE}, {onnx_export.SCRIPT}" if graph is not None else ""
    print(f"wrote {out}: config.json, {export.WEIGHTS['generator']}, {export.WEIGHTS['discriminator']}{extra}, "
          f"README.md, {len(samples)} samples + grid")
    print(f"generate with: snowgan --mode generate --model {out} --n_samples 10")
    return out
