"""The probe's head: a linear map on standardised pooled features; fitting, scoring, files.

Classes: multinomial logistic regression (cross-entropy + L2), fitted full-batch with
L-BFGS from zero weights — deterministic, no learning rate to tune. Numbers: ridge
regression in closed form on the standardised target. The penalty is fixed (not tuned
on the test split), so the pretrained and random-init backbones are compared on equal
terms. ``--finetune`` continues from that fit with Adam on head + the last blocks.

A saved head is a folder: head.safetensors (``head.*`` tensors, and ``backbone.*`` for
fine-tuned blocks) and head.json (task, classes, block, scores, which D it belongs to).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from ..files import json_text
from ..tensorfile import save_tensors
from ..config import ConfigError

L2 = 1e-3  # weight penalty per unit of mean loss, the same for every backbone
HEAD_FORMAT = 1
FINETUNE_EPOCHS = 15
FINETUNE_BATCH = 32
FINETUNE_LR_HEAD, FINETUNE_LR_BLOCKS = 1e-3, 3e-4


class LinearHead(nn.Module):
    """Pooled features (B, F) -> (B, K) class logits, or (B, 1) standardised target.

    mean/std (F,) standardise the features with training-split statistics; y_mean/y_std
    undo the target standardisation for regression.
    """

    def __init__(self, n_features: int, n_out: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.register_buffer("y_mean", torch.zeros(()))
        self.register_buffer("y_std", torch.ones(()))
        self.linear = nn.Linear(n_features, n_out)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.linear((feats - self.mean) / self.std)

    def value(self, out: torch.Tensor) -> torch.Tensor:
        """Regression output (B, 1) -> target units (B,)."""
        return out[:, 0] * self.y_std + self.y_mean


def _loss(head: LinearHead, out: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    data = F.cross_entropy(out, y) if task == "classify" else F.mse_loss(out[:, 0], y)
    return data + L2 * head.linear.weight.square().sum()


def fit_frozen(feats: np.ndarray, y: np.ndarray, task: str, n_classes: int) -> LinearHead:
    """Fit a head on fixed features float32 (N, F); y int64 classes or float targets (N,)."""
    X = torch.from_numpy(feats).double()
    head = LinearHead(X.shape[1], n_classes if task == "classify" else 1).double()
    head.mean.copy_(X.mean(0))
    std = X.std(0, unbiased=False)
    head.std.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))  # a constant feature carries nothing
    Z = (X - head.mean) / head.std
    if task == "regress":
        t = torch.from_numpy(np.asarray(y, np.float64))
        head.y_mean.fill_(t.mean())
        head.y_std.fill_(max(float(t.std(unbiased=False)), 1e-12))
        t = (t - head.y_mean) / head.y_std
        n, d = Z.shape
        # Ridge: (Z'Z/n + L2 I) w = Z't/n; Z and t are centred, so the bias is 0.
        w = torch.linalg.solve(Z.T @ Z / n + L2 * torch.eye(d, dtype=Z.dtype), Z.T @ t / n)
        head.linear.weight.data.copy_(w[None])
        return head.float()
    yt = torch.from_numpy(np.asarray(y, np.int64))
    opt = torch.optim.LBFGS(head.linear.parameters(), lr=1.0, max_iter=500, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _loss(head, head(X), yt, task)
        loss.backward()
        return loss

    opt.step(closure)
    return head.float()


def finetune(D: nn.Module, head: LinearHead, images: np.ndarray, y: np.ndarray, block: int, task: str,
             seed: int, device: torch.device, progress: str, desc: str) -> None:
    """Train head and D's trainable blocks together (in place) on uint8 images (N, C, H, W)."""
    from ..progress import Progress
    from .backbone import pooled, to_input

    head.to(device).train()
    blocks = [p for p in D.parameters() if p.requires_grad]
    opt = torch.optim.Adam([{"params": head.linear.parameters(), "lr": FINETUNE_LR_HEAD},
                            {"params": blocks, "lr": FINETUNE_LR_BLOCKS}])
    yt = torch.from_numpy(np.asarray(y, np.int64 if task == "classify" else np.float32))
    if task == "regress":
        yt = (yt - head.y_mean.cpu()) / head.y_std.cpu()
    rng = np.random.default_rng([int(seed), 77])
    bar = Progress(FINETUNE_EPOCHS, desc, unit="epoch", mode=progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for _ in range(FINETUNE_EPOCHS):
            perm = rng.permutation(len(y))
            for i in range(0, len(y), FINETUNE_BATCH):
                idx = np.sort(perm[i:i + FINETUNE_BATCH])
                x = to_input(images[idx], device)
                loss = _loss(head, head(pooled(D, x, block)), yt[idx].to(device), task)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            bar.update(1)
    bar.close()
    head.eval()


# ---- scores ------------------------------------------------------------------------------

def classification_scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """accuracy and macro-F1 (the unweighted mean of per-class F1 over all n_classes)."""
    f1s = []
    for k in range(n_classes):
        tp = int(np.sum((y_pred == k) & (y_true == k)))
        fp = int(np.sum((y_pred == k) & (y_true != k)))
        fn = int(np.sum((y_pred != k) & (y_true == k)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return {"accuracy": float(np.mean(y_pred == y_true)), "macro_f1": float(np.mean(f1s))}


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE and R^2 = 1 - SS_res / SS_tot (0 = no better than the mean, can be negative)."""
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    ss_res = float(np.sum((y_true - y_pred) ** 2))
    return {"mae": float(np.mean(np.abs(y_true - y_pred))), "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0}


def scores(task: str, y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    if task == "classify":
        return classification_scores(y_true, y_pred, n_classes)
    return regression_scores(y_true, y_pred)


@torch.no_grad()
def predict(head: LinearHead, feats: torch.Tensor, task: str) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(predictions (N,), class probabilities (N, K) or None) for pooled features (N, F)."""
    out = head(feats.to(head.mean.device, head.mean.dtype))
    if task == "classify":
        p = out.softmax(1)
        return p.argmax(1).cpu().numpy(), p.cpu().numpy()
    return head.value(out).cpu().numpy(), None


def trivial_scores(task: str, y_train: np.ndarray, y_test: np.ndarray, n_classes: int) -> dict[str, float]:
    """Scores of always answering the training split's majority class (or mean value)."""
    if task == "classify":
        guess = np.full_like(y_test, np.bincount(y_train, minlength=n_classes).argmax())
    else:
        guess = np.full_like(y_test, y_train.mean(), dtype=np.float64)
    return scores(task, y_test, guess, n_classes)


# ---- files -------------------------------------------------------------------------------

def save_head(folder: Path, head: LinearHead, info: dict, backbone_blocks: Optional[dict] = None) -> Path:
    """Write head.safetensors + head.json into folder (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"head.{k}": v.detach().cpu().float().contiguous() for k, v in head.state_dict().items()}
    for k, v in (backbone_blocks or {}).items():
        tensors[f"backbone.{k}"] = v
    save_tensors(tensors, str(folder / "head.safetensors"), metadata={"format": f"snowgan-probe-{HEAD_FORMAT}"})
    info = {"format": HEAD_FORMAT, "n_features": int(head.mean.numel()),
            "n_outputs": int(head.linear.out_features), **info}
    (folder / "head.json").write_text(json_text(info, indent=2), encoding="utf-8")
    return folder


def load_head(path: str | Path) -> tuple[LinearHead, dict, dict[str, torch.Tensor]]:
    """(head, head.json info, fine-tuned backbone block tensors) from a head folder or its head.json."""
    p = Path(path).expanduser()
    folder = p.parent if p.name in ("head.json", "head.safetensors") else p
    if not (folder / "head.json").is_file() or not (folder / "head.safetensors").is_file():
        raise ConfigError(f"--head {path}: not a probe head (needs head.json and head.safetensors, "
                          "made by snowgan --mode probe)")
    try:
        info = json.loads((folder / "head.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "head.safetensors"))
        head = LinearHead(int(info["n_features"]), int(info["n_outputs"]))
        head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
    except (ValueError, KeyError, RuntimeError, OSError) as e:
        raise ConfigError(f"--head {path}: unreadable probe head ({str(e).splitlines()[0]})") from None
    if int(info.get("format", 0)) > HEAD_FORMAT:
        raise ConfigError(f"--head {path}: made by a newer snowgan; upgrade snowgan")
    backbone = {k[9:]: v for k, v in tensors.items() if k.startswith("backbone.")}
    return head.eval(), info, backbone
