"""`snowgan --mode probe` and `snowgan --mode predict`.

probe: the trained discriminator as a frozen feature extractor for the user's labels.
Pooled features of one block (--probe_block) feed a linear head fitted on a fixed-seed
training split and scored on the held-out rest. The same head on a randomly initialised
D of the same shape (same seed), and the trivial majority/mean answer, are scored on the
same split beside it, so the user sees what pretraining bought. --finetune also trains
the last FINETUNE_BLOCKS blocks up to the probe block (for both backbones alike).

predict: apply a saved head to new images; writes predictions.csv.
"""

from __future__ import annotations

import copy
import csv
import time
from pathlib import Path

import numpy as np
import torch

from ..config import Config, ConfigError
from ..runfolder import RunFolder
from .common import check_out, device_for
from ..probe.backbone import block_state, extract, load_backbone, random_discriminator, resolve_block, trainable_copy
from ..probe.head import fit_frozen, finetune, load_head, predict, save_head, scores, trivial_scores
from ..probe.images import load_probe_images
from ..probe.labels import Targets, check_known, make_targets, numeric_labels, split_indices

FINETUNE_BLOCKS = 2


def _fit_and_score(D: torch.nn.Module, images: np.ndarray, t: Targets, train: np.ndarray, test: np.ndarray,
                   block: int, cfg: Config, device: torch.device, label: str):
    """Fit a head on D's features of the training split; (held-out scores, head, tuned blocks or None)."""
    K = len(t.class_names)
    feats = extract(D, images, block, device, cfg.run.progress, f"features ({label} D)")
    head = fit_frozen(feats[train], t.y[train], t.task, K)
    tuned = None
    if cfg.cmd.finetune:
        Dc, open_blocks = trainable_copy(D, block, FINETUNE_BLOCKS)
        finetune(Dc, head, images[train], t.y[train], block, t.task, cfg.run.seed, device, cfg.run.progress,
                 f"fine-tune ({label} D)")
        test_feats = extract(Dc.eval(), images[test], block, device, "none", "")
        tuned = (Dc, open_blocks)
    else:
        test_feats = feats[test]
    pred, _ = predict(head.to(device), torch.from_numpy(test_feats), t.task)
    return scores(t.task, t.y[test], pred, K), head.cpu(), tuned


def _table(t: Targets, rows: list[tuple[str, dict]]) -> list[str]:
    keys = ("accuracy", "macro_f1") if t.task == "classify" else ("mae", "r2")
    heads = {"accuracy": "accuracy", "macro_f1": "macro-F1", "mae": "MAE", "r2": "R^2"}
    lines = [f"  {'held-out scores':<28}" + "".join(f"{heads[k]:>10}" for k in keys)]
    fmt = {"accuracy": ".3f", "macro_f1": ".3f", "mae": ".4g", "r2": ".3f"}  # MAE is in the labels' units
    lines += [f"  {name:<28}" + "".join(f"{r[k]:>10{fmt[k]}}" for k in keys) for name, r in rows]
    return lines


def _bought(t: Targets, pre: dict, rnd: dict) -> str:
    if t.task == "classify":
        return (f"pretraining bought: {pre['accuracy'] - rnd['accuracy']:+.3f} accuracy, "
                f"{pre['macro_f1'] - rnd['macro_f1']:+.3f} macro-F1 over the random-init D")
    return (f"pretraining bought: {rnd['mae'] - pre['mae']:+.4g} lower MAE, {pre['r2'] - rnd['r2']:+.3f} R^2 "
            "over the random-init D")


def probe_main(cfg: Config, explicit: set[str]) -> int:

    device = device_for(cfg)
    bb = load_backbone(cfg, device)
    block = resolve_block(bb.D, cfg.cmd.probe_block)
    out = Path(cfg.cmd.out).expanduser() if cfg.cmd.out else RunFolder(bb.home).probe_head
    check_out(out, cfg.cmd.force, folder=True, what="probe head")
    where = f"--labels {cfg.data.labels}" if cfg.data.labels else "the built-in dataset"
    data = load_probe_images(cfg, explicit, bb.cfg, need_labels=True,
                             check=lambda labels: make_targets(labels, cfg.cmd.probe_task, where))
    t = make_targets(data.labels or [], cfg.cmd.probe_task, where)  # again: unreadable images were dropped
    if cfg.cmd.probe_shots < 0:
        raise ConfigError("--probe_shots must be 0 (all) or a positive number of images")
    train, test = split_indices(t, cfg.run.seed, cfg.cmd.probe_shots)
    what = (f"{len(t.class_names)} classes ({', '.join(t.class_names)})" if t.task == "classify"
            else f"a number (range {t.y.min():g}..{t.y.max():g})")
    print(f"probe: {bb.source}; block {block} of 0..{len(bb.D.blocks) - 1}, pooled; "
          f"{'fine-tuning the last blocks' if cfg.cmd.finetune else 'frozen'}; predicting {what}")
    shots = f" ({cfg.cmd.probe_shots} per class)" if cfg.cmd.probe_shots and t.task == "classify" else ""
    print(f"data: {data.description}; {len(train)} to train on{shots}, {len(test)} held out "
          f"(seed {cfg.run.seed}{', stratified' if t.task == 'classify' else ''})")

    t0 = time.time()
    pre, head, tuned = _fit_and_score(bb.D, data.images, t, train, test, block, cfg, device, "pretrained")
    rand_D = random_discriminator(bb.cfg, cfg.run.seed, device)
    rnd, _, _ = _fit_and_score(rand_D, data.images, t, train, test, block, cfg, device, "random-init")
    base = trivial_scores(t.task, t.y[train], t.y[test], len(t.class_names))
    trivial = "majority class" if t.task == "classify" else "training mean"
    for line in _table(t, [("pretrained D", pre), ("random-init D (same seed)", rnd), (trivial, base)]):
        print(line)
    print(_bought(t, pre, rnd))

    info = {
        "task": t.task, "class_names": t.class_names, "block": block, "finetuned_blocks": tuned[1] if tuned else [],
        "image_size": list(bb.cfg.image_hw), "channels": bb.cfg.data.channels,
        "backbone": {"source": bb.source, "fingerprint": bb.fingerprint},
        "data": {"description": data.description, "labels": cfg.data.labels, "images": len(t.y),
                 "skipped": len(data.skipped)},
        "split": {"seed": cfg.run.seed, "train": len(train), "test": len(test), "shots": cfg.cmd.probe_shots,
                  "stratified": t.task == "classify"},
        "scores": {"pretrained": pre, "random_init": rnd, trivial.replace(" ", "_"): base},
        "seconds": round(time.time() - t0, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    save_head(out, head, info, block_state(tuned[0], tuned[1]) if tuned else None)
    src = f"--model {cfg.cmd.model}" if cfg.cmd.model else f"--run {bb.home}"
    print(f"saved the head (fitted on the training split) to {out}")
    print(f"apply it with: snowgan --mode predict {src} --head {out} --data FOLDER")
    return 0


def _predictions_path(cfg: Config) -> Path:
    out = Path(cfg.cmd.out).expanduser() if cfg.cmd.out else Path("predictions.csv")
    if out.suffix.lower() != ".csv":
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: give a .csv file or a folder")
        out = out / "predictions.csv"
    if out.exists() and not cfg.cmd.force:
        raise ConfigError(f"--out {out} already exists; choose another path or add --force")
    return out


def predict_main(cfg: Config, explicit: set[str]) -> int:

    if not cfg.cmd.head:
        raise ConfigError("--mode predict needs --head DIR (a head saved by snowgan --mode probe)")
    head, info, tuned = load_head(cfg.cmd.head)
    device = device_for(cfg)
    bb = load_backbone(cfg, device)
    want = info.get("backbone", {})
    if bb.fingerprint != want.get("fingerprint"):
        raise ConfigError(f"--head {cfg.cmd.head} was fitted to the discriminator of {want.get('source', '?')}, "
                          f"not {bb.source}; pass that --model or --run")
    D = bb.D
    if tuned:  # the fine-tuned blocks replace the pretrained ones
        D = copy.deepcopy(bb.D)
        D.load_state_dict({**D.state_dict(), **{k: v.to(device) for k, v in tuned.items()}})
        D.eval()
    out = _predictions_path(cfg)
    names = info.get("class_names", [])
    where = f"--labels {cfg.data.labels}" if cfg.data.labels else "the built-in labels"

    def truth(labels: list[str]) -> np.ndarray:
        """Labels as the head's class indices or values; ConfigError for classes it does not know."""
        if info["task"] == "classify":
            return check_known(labels, names, where, cfg.cmd.head)
        return numeric_labels(labels, where)

    # A label file with classes the head does not know fails before any image is decoded.
    data = load_probe_images(cfg, explicit, bb.cfg, need_labels=False, check=truth if cfg.data.labels else None)
    feats = extract(D, data.images, int(info["block"]), device, cfg.run.progress, "features")
    pred, probs = predict(head.to(device), torch.from_numpy(feats), info["task"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        header = ["file", "prediction"]
        if probs is not None:
            header += ["confidence"] + [f"p_{c}" for c in names]
        w.writerow(header + (["label"] if data.labels is not None else []))
        for i, name in enumerate(data.names):
            row = [name, names[pred[i]] if probs is not None else f"{pred[i]:.6g}"]
            if probs is not None:
                row += [f"{probs[i].max():.4f}"] + [f"{p:.4f}" for p in probs[i]]
            w.writerow(row + ([data.labels[i]] if data.labels is not None else []))
    print(f"wrote {len(data.names)} predictions to {out} (head {cfg.cmd.head}: {info['task']}, block {info['block']})")
    # Built-in images are scored only when the head predicts their classes (it may know others).
    if data.labels is not None and (cfg.data.labels or set(data.labels) <= set(names)):
        s = scores(info["task"], truth(data.labels), pred, len(names))
        if info["task"] == "classify":
            print(f"against {where}: accuracy {s['accuracy']:.3f}, macro-F1 {s['macro_f1']:.3f}")
        else:
            print(f"against {where}: MAE {s['mae']:.4g}, R^2 {s['r2']:.3f}")
    return 0
