"""`snowgan --mode evaluate` and `snowgan --mode features`.

evaluate: generate --n_samples images (default 1000) from a run's EMA generator with
the fixed seed --seed, measure them against the run's dataset (or --data), print a
table and write a new RUN/evaluations/NNNNN-seedS.json (or --out) with the settings and the
protocol beside every number; earlier evaluations stay (``--list`` prints them, evaluations.py).

features: Inception pool3 features (2048 values per image) of a run's samples or of a
folder of images -> CSV (--out), FID statistics (--stats, the .npz layout pytorch-fid
reads: mu, sigma float64, plus snowgan's protocol, weights and n beside them) and/or FID
against precomputed statistics (--ref; a differing protocol or weights is warned about).
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..config import Config, ConfigError
from ..diskspace import writing
from ..files import json_text
from ..flags import DATA_SOURCE_FIELDS, overlay
from ..data.classes import proportional_classes
from ..data.prepared import PreparedDataset
from ..sample import generate_images, latents
from ..metrics.collapse import collapse_warning
from ..metrics.features import inception_features
from ..metrics.fid import feature_stats, fid_against_stats
from ..metrics.suite import MetricSuite, parse_metric_names
from ..metrics.tracker import metrics_cache_dir
from ..metrics.inception import PROTOCOL_NAME
from ..metrics.weights import STANDARD_FILES, load_inception, resolve_weights
from ..runfolder import RunFolder, claim_numbered

DEFAULT_N_SAMPLES = 1000  # features of a run's samples when --n_samples is not given
# Flags that choose the images, not how they are sized: --data may override these for evaluate.

def _check_out(path: Optional[str], force: bool, flag: str) -> Optional[Path]:
    """An output path that may be written: refuse to replace an existing file without --force."""
    if not path:
        return None
    p = Path(path)
    if p.exists() and not force:
        raise ConfigError(f"--{flag} {p} already exists; pass --force to overwrite it")
    if p.is_dir():
        raise ConfigError(f"--{flag} {p} is a folder; give a file name")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _load_generator(cfg: Config, device: torch.device):
    from ..runs import find_run
    from ..run.load import load_run

    run_dir = find_run(cfg.run.runs_dir, cfg.run.run, need_checkpoint=True,
                       note=lambda m: print(m, file=sys.stderr))
    loaded = load_run(run_dir, cfg.cmd.checkpoint, device, warn=lambda m: print(m, file=sys.stderr))
    return run_dir, loaded


def _real_dataset(cfg: Config, explicit: set[str], run_cfg: Config) -> tuple[PreparedDataset, str]:
    """The run's own dataset, or --data prepared at the run's image size and channels."""
    from ..data.load import load_dataset

    data_cfg = overlay(run_cfg, cfg, explicit, only=DATA_SOURCE_FIELDS).replace(progress=cfg.run.progress)
    try:
        dataset = load_dataset(data_cfg)
    except ImportError as e:  # a data source this installation cannot read yet
        raise ConfigError(f"--data {data_cfg.data.data}: cannot be read by this version ({e})") from None
    source = f"--data {data_cfg.data.data}" if "data" in explicit else "the run's dataset"
    return dataset, source


def _metric_entries(values: dict[str, float], proto: dict[str, str], curves: Optional[dict] = None) -> dict[str, dict]:
    """Group flat values into one entry per reported number, each with its protocol (and the spectrum's curves,
    from ``MetricSuite.curves``, for the report's picture)."""
    out: dict[str, dict] = {}
    if "fid" in values:
        out["fid"] = {"value": values["fid"], "protocol": proto["fid"]}
    if "kid" in values:
        out["kid"] = {"value": values["kid"], "std": values["kid_std"], "protocol": proto["kid"]}
    for key, group in (("precision", "pr"), ("recall", "pr"), ("density", "dc"), ("coverage", "dc")):
        if key in values:
            out[key] = {"value": values[key], "protocol": proto[group]}
    if "swd" in values:
        per = {k[4:]: v for k, v in values.items() if k.startswith("swd_")}
        out["swd"] = {"value": values["swd"], "per_level": per, "protocol": proto["swd"]}
    if "diversity" in values:
        extra = {k: values[k] for k in ("div_fake", "div_real", "dup_rate", "dup_rate_real", "memorised",
                                        "train_nn_ratio", "tau")}
        for k in ("feature_variety", "feature_coverage"):  # measured beside an Inception metric
            if np.isfinite(values.get(k, np.nan)):
                extra[k] = values[k]
        out["diversity"] = {"value": values["diversity"], **extra, "protocol": proto["diversity"]}
    if "spectral_hf" in values:
        out["spectral_hf"] = {"value": values["spectral_hf"], "bias": values["spectral_hf_bias"],
                              "curves": (curves or {}).get("spectrum"), "protocol": proto["spectrum"]}
    return out


def format_table(entries: dict[str, dict], protocols: bool = True) -> str:
    """Plain-text table: metric, value, then (protocols) each protocol once. The command prints the
    protocols only with --verbose: the evaluation's file keeps them, and train has said them already."""
    lines = [f"{'metric':<11} value"]
    for name, e in entries.items():
        v = f"{e['value']:.6g}"
        if name == "kid":
            v += f"  (std over subsets {e['std']:.3g})" if e["std"] > 0 else "  (both sets whole: no spread over subsets)"
        if name == "swd":
            v += "  (" + ", ".join(f"{k}: {x:.4g}" for k, x in e["per_level"].items()) + ")"
        if name == "diversity":
            v += (f"  (near-duplicates {e['dup_rate']:.0%} vs real {e['dup_rate_real']:.0%}, "
                  f"memorised {e['memorised']:.0%}"
                  + (f", feature variety {e['feature_variety']:.0%}" if "feature_variety" in e else "")
                  + (f", coverage {e['feature_coverage']:.0%}" if "feature_coverage" in e else "") + ")")
        if name == "spectral_hf":
            v += (f" dB  ({'more' if e['bias'] > 0 else 'less'} fine detail than the real images: "
                  f"mean difference {e['bias']:+.2f} dB)")
        lines.append(f"{name:<11} {v}")
    if not protocols:
        return "\n".join(lines)
    lines.append("protocol:")
    seen = set()
    for name, e in entries.items():
        if e["protocol"] not in seen:
            seen.add(e["protocol"])
            lines.append(f"  {name}: {e['protocol']}")
    return "\n".join(lines)


def evaluate_main(cfg: Config, explicit: set[str]) -> int:
    """`snowgan --mode evaluate --run RUN [--data PATH] [--metrics ...] [--n_samples N]`."""
    from ..run.device import pick_device

    if cfg.cmd.list:
        return _list(cfg)
    device = pick_device(cfg.run.device)
    out_path = _check_out(cfg.cmd.out, cfg.cmd.force, "out")
    names = parse_metric_names(cfg.metrics.metrics, device, cfg.metrics.inception_weights)
    n = cfg.cmd.n_samples  # 1000 unless given (the schema's evaluate default)
    if n < 2:
        raise ConfigError("--n_samples must be at least 2 for metrics")
    run_dir, loaded = _load_generator(cfg, device)
    dataset, source = _real_dataset(cfg, explicit, loaded.cfg)
    print(f"evaluating {loaded.describe()}; {n} samples with seed {cfg.run.seed}, "
          f"real set: {dataset.description or source} ({len(dataset)} images); metrics: {', '.join(names)}",
          flush=True)
    suite = MetricSuite(names, dataset.images, dataset.fingerprint, device, cfg.metrics.inception_weights,
                        metrics_cache_dir(cfg), cfg.run.progress, seed=cfg.run.seed, real_name=source)
    labels = proportional_classes(loaded.cfg.class_list, dataset, n)
    fake = generate_images(loaded.G, latents(n, loaded.G.latent_dim, cfg.run.seed), device, labels=labels)
    values, proto = suite.measure(fake)
    entries = _metric_entries(values, proto, suite.curves)
    warning = collapse_warning(values)
    per_class = _per_class(cfg, names, loaded, dataset, source, n, device)
    result = {
        "run": run_dir.name, "checkpoint": loaded.path.name, "step": loaded.step, "kimg": round(loaded.kimg, 3),
        "time": _dt.datetime.now().isoformat(timespec="seconds"), "n_samples": n, "seed": cfg.run.seed,
        "latents": f"snowgan.sample.latents(n={n}, seed={cfg.run.seed}), EMA generator" + (
            ", classes in the real set's proportions (snowgan.sample.class_mix)" if labels is not None else ""),
        "real_set": {"source": source, "description": dataset.description, "fingerprint": dataset.fingerprint,
                     "n_images": len(dataset), "shape": list(dataset.shape)},
        "weights": None if suite.weights is None else {
            "path": str(suite.weights.path), "sha256": suite.weights.sha256, "standard": suite.weights.standard,
            "describe": suite.weights.describe(), "protocol": PROTOCOL_NAME,
            "converted_from": None if suite.weights.converted_from is None else str(suite.weights.converted_from)},
        "metrics": entries, "collapse_warning": warning, "time_metrics_s": round(values["time_metrics_s"], 2),
        "settings": {"checkpoint": cfg.cmd.checkpoint, "metrics": names, "n_samples": n, "seed": cfg.run.seed,
                     "data": cfg.data.data if "data" in explicit else None, "device": str(device)},
    }
    if per_class:
        result["per_class"] = per_class
    print(format_table(entries, cfg.run.verbose))
    for name, class_entries in per_class.items():
        print(f"class {name}:")
        print(format_table(class_entries, cfg.run.verbose))
    if warning:
        print(f"warning: {warning}")
    _write_evaluation(result, run_dir, out_path, cfg.run.seed)
    return 0


def _write_evaluation(result: dict, run_dir: Path, out_path: Optional[Path], seed: int) -> None:
    """RUN/evaluations/NNNNN-seedS.json (or --out): a new numbered file per call, so a second evaluation
    (another --seed, --n_samples, checkpoint) keeps the first; written whole or not at all."""
    target = out_path or claim_numbered(RunFolder(run_dir).evaluations, f"seed{seed}", ".json")
    tmp = target.with_name(target.name + ".tmp")
    try:
        with writing(target):
            tmp.write_text(json_text(result, indent=2) + "\n", encoding="utf-8")
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if out_path is None:
            target.unlink(missing_ok=True)  # the number claimed for it
        raise
    earlier = len(RunFolder(run_dir).evaluation_files()) - 1 if out_path is None else 0
    print(f"wrote {target}, the protocol of each number with it (--verbose prints them)"
          + (f"; earlier evaluations kept: {earlier} (snowgan evaluate --list shows them)" if earlier else ""))


def _list(cfg: Config) -> int:
    """`snowgan evaluate --list`: every evaluation of the run, oldest first, with its settings and numbers."""
    from ..evaluations import one_line, read_all
    from ..runs import find_run

    run_dir = find_run(cfg.run.runs_dir, cfg.run.run, need_checkpoint=True, note=lambda m: print(m, file=sys.stderr))
    found = read_all(run_dir)
    if not found:
        print(f"run {run_dir.name} has no evaluations yet; make one with: snowgan evaluate --run {run_dir.name}")
        return 0
    print(f"evaluations of run {run_dir.name}, oldest first:")
    for path, raw in found:
        print(f"  {one_line(path, raw, run_dir)}")
    return 0


def _per_class(cfg: Config, names: list[str], loaded, dataset, source: str, n: int, device) -> dict:
    """{class name: metric entries} of a conditional run: n // K images of each class against the
    real images of that class (same metrics and protocol as overall). {} for an unconditional run,
    or when the real set's classes are not the run's (then a note says so)."""
    import torch

    classes = loaded.cfg.class_list
    if not classes:
        return {}
    if dataset.labels is None or list(dataset.class_names) != classes:
        print(f"note: no per-class metrics: the real set's classes ({', '.join(dataset.class_names) or 'none'}) "
              f"are not the run's ({', '.join(classes)})")
        return {}
    per = max(2, n // len(classes))
    out = {}
    labels = np.asarray(dataset.labels)
    for c, name in enumerate(classes):
        real = np.asarray(dataset.images)[labels == c]
        if len(real) < 2:
            print(f"note: class {name} has {len(real)} real images; no metrics for it")
            continue
        suite = MetricSuite(names, real, f"{dataset.fingerprint}-class{c}", device, cfg.metrics.inception_weights,
                            metrics_cache_dir(cfg), cfg.run.progress, seed=cfg.run.seed,
                            real_name=f"{source}, class {name}")
        z = latents(per, loaded.G.latent_dim, cfg.run.seed)
        fake = generate_images(loaded.G, z, device, labels=torch.full((per,), c, dtype=torch.long))
        values, proto = suite.measure(fake)
        out[name] = _metric_entries(values, proto, suite.curves)
    return out


# ---- features ------------------------------------------------------------------------

def read_stats(path: str) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """mu (D,), sigma (D, D) and snowgan's notes (protocol, weights, n; empty for other tools' files)
    from a .npz of FID statistics (no pickles)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--ref {p}: file not found")
    try:
        with np.load(p, allow_pickle=False) as f:
            mu, sigma = np.asarray(f["mu"], np.float64), np.asarray(f["sigma"], np.float64)
            notes = {k: str(f[k]) for k in STATS_NOTES if k in f.files}
    except (KeyError, ValueError, OSError) as e:
        raise ConfigError(f"--ref {p}: not FID statistics (need arrays 'mu' and 'sigma'): {e}") from None
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise ConfigError(f"--ref {p}: mu {mu.shape} and sigma {sigma.shape} do not fit together")
    return mu, sigma, notes


# Extra string arrays snowgan writes beside mu and sigma (pytorch-fid reads only those two).
STATS_NOTES = ("protocol", "weights", "n")


def _ref_mismatch(notes: dict[str, str], weights_key: str) -> list[str]:
    """Why reference statistics written by snowgan were measured differently (other tools' files: unknown)."""
    out = []
    if notes.get("protocol", PROTOCOL_NAME) != PROTOCOL_NAME:
        out.append(f"made with protocol {notes['protocol']}, not {PROTOCOL_NAME}")
    theirs = notes.get("weights", weights_key)
    # The standard files (pytorch-fid's, fid-helper's) are the same TF network: not a mismatch.
    standard = {k.split("+")[0] in STANDARD_FILES for k in (theirs, weights_key)} == {True}
    if theirs != weights_key and not standard:
        out.append(f"made with weights {theirs[:12]}, not {weights_key[:12]}")
    return out


def _features_of_folder(cfg: Config, explicit: set[str], net, device) -> tuple[list[str], np.ndarray, str]:
    from ..metrics.images import read_image_folder

    folder = Path(cfg.cmd.images)
    if not folder.is_dir():
        raise ConfigError(f"--images {folder}: not a folder")
    limit = cfg.cmd.n_samples  # None unless given: every image in the folder
    names, arrays, skipped = read_image_folder(folder, limit)
    for name, why in skipped:
        print(f"skipped {name}: {why}", file=sys.stderr)
    if not arrays:
        raise ConfigError(f"--images {folder}: no readable images ({len(skipped)} skipped)")
    feats = np.empty((len(arrays), 2048))
    # Batch runs of equally sized images; Inception resizes each to 299x299 itself.
    start = 0
    while start < len(arrays):
        end = start + 1
        while end < len(arrays) and arrays[end].shape == arrays[start].shape and end - start < 32:
            end += 1
        feats[start:end] = inception_features(net, np.stack(arrays[start:end]), device, progress="none")
        start = end
    what = f"{len(arrays)} images from {folder}" + (f" ({len(skipped)} skipped)" if skipped else "")
    return names, feats, what


def features_main(cfg: Config, explicit: set[str]) -> int:
    """`snowgan --mode features [--run RUN | --images DIR] [--out F.csv] [--stats S.npz] [--ref R.npz]`."""
    from ..run.device import pick_device

    c = cfg.cmd
    if c.images and "run" in explicit:
        raise ConfigError("--mode features: give --run or --images, not both")
    if not (c.out or c.stats or c.ref):
        raise ConfigError("--mode features: give --out FEATURES.csv, --stats STATS.npz and/or --ref STATS.npz")
    out = _check_out(c.out, c.force, "out")
    stats_out = _check_out(c.stats, c.force, "stats")
    ref = read_stats(c.ref) if c.ref else None
    device = pick_device(cfg.run.device)
    weights = resolve_weights(cfg.metrics.inception_weights, progress=cfg.run.progress)
    net = load_inception(weights, device)
    if c.images:
        names, feats, what = _features_of_folder(cfg, explicit, net, device)
    else:
        n = c.n_samples if c.n_samples is not None else DEFAULT_N_SAMPLES
        run_dir, loaded = _load_generator(cfg, device)
        fake = generate_images(loaded.G, latents(n, loaded.G.latent_dim, cfg.run.seed), device)
        feats = inception_features(net, fake, device, progress=cfg.run.progress, desc="generated-image features")
        names = [f"sample-{i:05d}" for i in range(n)]
        what = f"{n} samples of run {run_dir.name} ({loaded.path.name}, seed {cfg.run.seed})"
    protocol = f"{weights.protocol()}; {what}"
    print(f"features: {protocol}")
    if out is not None:
        header = "id," + ",".join(f"f{i}" for i in range(feats.shape[1]))
        with open(out, "w", encoding="utf-8") as f:
            f.write(header + "\n")
            for name, row in zip(names, feats):
                f.write(name.replace(",", "_") + "," + ",".join(f"{v:.7g}" for v in row) + "\n")
        print(f"wrote {out} ({len(names)} rows x {feats.shape[1]} features)")
    if stats_out is not None or ref is not None:
        if len(feats) < 2:
            raise ConfigError("FID statistics need at least 2 images")
        mu, sigma = feature_stats(feats)
        if stats_out is not None:
            with open(stats_out, "wb") as f:  # a file object keeps the exact name (np.savez adds .npz)
                np.savez(f, mu=mu, sigma=sigma, protocol=np.array(PROTOCOL_NAME),
                         weights=np.array(weights.cache_key), n=np.array(str(len(feats))))
            print(f"wrote {stats_out} (mu {mu.shape}, sigma {sigma.shape}, float64; {len(feats)} images, "
                  f"protocol {PROTOCOL_NAME}, weights {weights.sha256[:12]})")
        if ref is not None:
            ref_mu, ref_sigma, notes = ref
            if ref_mu.shape != mu.shape:
                raise ConfigError(f"--ref {c.ref}: statistics of {ref_mu.shape[0]}-d features, ours are {mu.shape[0]}-d")
            for why in _ref_mismatch(notes, weights.cache_key):
                print(f"warning: --ref {c.ref}: {why}; the FID below compares unlike measurements", file=sys.stderr)
            n_ref = f" of {notes['n']} images" if "n" in notes else ""
            print(f"FID vs {c.ref}{n_ref}: {fid_against_stats(feats, ref_mu, ref_sigma):.6g} "
                  f"({len(feats)} images; {protocol})")
    return 0
