"""Load a trained run's networks from its checkpoint, for every command that uses a trained model.

generate, interpolate, the studio, project, export, evaluate and probe read a run through
``load_run`` (and nothing of train/): the checkpoint files are run/checkpoint.py's, the
networks are rebuilt by the family's builder from the config the checkpoint carries (no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .checkpoint import open_checkpoint


@dataclass
class LoadedRun:
    """A trained run's networks, ready to sample: G is the EMA generator, both in eval mode."""

    cfg: Any
    G: torch.nn.Module
    D: torch.nn.Module
    step: int
    kimg: float
    path: Path

    def describe(self) -> str:
        """What every command says it loaded, once: 'run 00003-photos, step 900 (14.4 kimg): the best
        checkpoint by kid' (not the folder's name beside the reason that chose it, twice)."""
        why = getattr(self, "why", "")
        if why.startswith("best checkpoint (by "):
            why = "the best checkpoint by " + why[len("best checkpoint (by "):].rstrip(")")
        elif why.startswith("latest checkpoint"):
            why = "the latest checkpoint" + (" (no metric chose a best)" if "no best" in why else "")
        else:
            why = "the checkpoint asked for"
        return f"run {self.path.parent.parent.name}, step {self.step} ({self.kimg:.1f} kimg): {why}"


def load_run(run_dir: Path, which: str = "auto", device: str | torch.device = "cpu",
             warn: Callable[[str], None] = print) -> LoadedRun:
    """Rebuild the networks of a run from its checkpoint (no pickle), on `device`."""
    from ..config import Config
    from ..models.registry import build_networks

    c, why = open_checkpoint(Path(run_dir), which, "cpu", warn)
    cfg = Config.from_dict(c.state["config"])
    G, D = build_networks(cfg)
    G.load_state_dict(c.networks["G_ema"])
    D.load_state_dict(c.networks["D"])
    G.class_names = D.class_names = cfg.class_list  # [] unless conditional
    counters = c.state["counters"]
    loaded = LoadedRun(cfg, G.to(device).eval(), D.to(device).eval(), int(counters["step"]),
                       counters["images_seen"] / 1000, c.path)
    loaded.why = why  # type: ignore[attr-defined]
    return loaded
