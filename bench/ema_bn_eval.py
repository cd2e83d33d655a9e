"""Which generator to sample from: a run's EMA or raw G, with batch-norm statistics as trained or recomputed.

    python bench/ema_bn_eval.py RUN_DIR [--n_samples 500] [--checkpoint latest] [--json out.json]

snowgan samples from the EMA generator in eval mode, with the batch-norm running statistics
copied from the trained G (train/ema.update_ema). Averaged weights and the trained G's statistics
do not quite belong together — weight-averaging methods such as SWA recompute BN statistics
under the averaged weights (torch.optim.swa_utils.update_bn) — so this scores, on the same
latents and real set as `snowgan evaluate`:

- ema, as shipped: EMA weights, eval mode, the copied statistics;
- ema, BN recomputed: statistics accumulated over --recal_batches batches of --recal_batch
  fresh latents under the EMA weights (cumulative average, as update_bn);
- ema, batch statistics: eval-mode BN replaced by each sampling batch's own statistics (train mode);
- raw G, as trained, and with BN recomputed.

Only generators with batch norm differ between the BN variants (the projected family's G).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import update_bn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from resultfile import write_results  # noqa: E402

from snowgan.config import Config  # noqa: E402
from snowgan.data.load import load_dataset  # noqa: E402
from snowgan.metrics.suite import MetricSuite  # noqa: E402
from snowgan.metrics.tracker import metrics_cache_dir  # noqa: E402
from snowgan.models.registry import build_networks  # noqa: E402
from snowgan.sample import generate_images, latents  # noqa: E402
from snowgan.run.checkpoint import open_checkpoint  # noqa: E402


def recompute_bn(G: nn.Module, batches: int, batch: int, seed: int) -> nn.Module:
    """A copy of G (eval mode) whose BN running statistics are the average over `batches` batches of
    `batch` N(0, 1) latents under G's own weights (PyTorch's update_bn, as SWA uses)."""
    G = copy.deepcopy(G)
    gen = torch.Generator().manual_seed(seed)
    update_bn([torch.randn(batch, G.latent_dim, generator=gen) for _ in range(batches)], G)
    return G.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a run folder")
    ap.add_argument("--checkpoint", default="latest")
    ap.add_argument("--n_samples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0, help="latents' seed (evaluate's default)")
    ap.add_argument("--recal_batches", type=int, default=64)
    ap.add_argument("--recal_batch", type=int, default=16, help="the recipe's training batch")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    c, _ = open_checkpoint(Path(a.run), a.checkpoint, "cpu", lambda m: print(m, file=sys.stderr))
    cfg = Config.from_dict(c.state["config"])
    cfg.run.progress = "none"
    ema, _ = build_networks(cfg)
    ema.load_state_dict(c.networks["G_ema"])
    raw, _ = build_networks(cfg)
    raw.load_state_dict(c.networks["G"])
    data = load_dataset(cfg)
    suite = MetricSuite(["kid", "fid"], data.images, data.fingerprint, torch.device("cpu"),
                        cfg.metrics.inception_weights, metrics_cache_dir(cfg), "none", seed=a.seed)
    z = latents(a.n_samples, ema.latent_dim, a.seed)
    recal = dict(batches=a.recal_batches, batch=a.recal_batch, seed=123)
    variants = {
        "ema, as shipped": ema.eval(),
        "ema, BN recomputed": recompute_bn(ema, **recal),
        "ema, batch statistics": copy.deepcopy(ema).train(),
        "raw G": raw.eval(),
        "raw G, BN recomputed": recompute_bn(raw, **recal),
    }
    rows = {}
    print(f"{Path(a.run).name} {c.path.name}: {a.n_samples} samples, seed {a.seed}, against {len(data)} real images")
    for name, G in variants.items():
        with torch.no_grad():
            fake = generate_images(G, z, "cpu")
        values, _ = suite.measure(fake)
        rows[name] = {"kid": values["kid"], "kid_std": values["kid_std"], "fid": values["fid"]}
        print(f"  {name:<24} KID {values['kid']:.4f} (sd {values['kid_std']:.4f})  FID {values['fid']:.1f}", flush=True)
    if a.json:
        write_results(a.json, {"command": " ".join(sys.argv), "run": str(a.run), "checkpoint": c.path.name,
                               "results": rows})


if __name__ == "__main__":
    main()
