"""The README.md model card of an exported model, in the shape of the SnowGAN seed's card.

YAML front matter (license, tags, pipeline_tag, library_name, and model-index with the
metrics and their protocols when the run measured any: the Hugging Face Hub's metadata keys;
training_data: the data's name), then: description with sample images, intended uses &
limitations, training data (from the run's dataset.json), training procedure (from the resolved
config), model details, metrics (from metrics.jsonl and the newest evaluation when the run
has them), ethical considerations, how to use (commands and the Python API; with --format onnx
also onnxruntime alone), sharing on the Hub (huggingface-cli upload), provenance.

Everything here is read from files the run wrote; nothing is invented. A fact the run
does not record is said to be unknown rather than guessed.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Optional

from . import evaluations
from .config import Config
from .models.families import family
from .runfolder import RunFolder

# Keys of a metrics.jsonl record that are bookkeeping, not measurements.
_NOT_METRICS = {"step", "kimg", "time", "best_metric", "protocol", "collapse_warning", "time_metrics_s"}
LOWER_IS_BETTER = ("fid", "kid", "swd")  # as metrics/tracker.py; the rest of its best metrics are higher-better
HEADLINE = ("fid", "kid", "swd", "diversity", "precision", "recall", "density", "coverage")  # metrics a card lists


def _numbers(d: dict, prefix: str = "") -> dict[str, float]:
    """Finite numeric leaves of a (nested) dict, keys joined with '.'."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)) and math.isfinite(v):
            out[key] = float(v)
        elif isinstance(v, dict):
            out.update(_numbers(v, key + "."))
    return out


def _evaluation(path: Path, raw: dict, run_dir: Path) -> Optional[dict[str, Any]]:
    """The parts of an `--mode evaluate` record the card shows; None if it has no metrics."""
    values = evaluations.values(raw)
    if not values:
        return None
    real = raw.get("real_set") if isinstance(raw.get("real_set"), dict) else {}
    return {"values": values, "protocol": {k: str(raw["metrics"][k].get("protocol", "")) for k in values},
            "checkpoint": raw.get("checkpoint"), "step": raw.get("step"), "n_samples": raw.get("n_samples"),
            "seed": raw.get("seed"), "file": Path(path).relative_to(run_dir).as_posix(),
            "real_set": real.get("description") or real.get("source")}


def collect_run_facts(run_dir: Path, step: int) -> dict[str, Any]:
    """What the run folder records about its data and quality, for the card.

    Returns {"dataset": dict | None, "metrics": {"step", "values", "protocol", "best_metric",
    "best": {"value", "step"} | None} | None, "evaluation": see _evaluation | None}. The
    in-training values shown are those measured at the exported step, else the latest
    measured before it; "best" is the best value of the run's best metric up to that step.
    """
    run_dir = Path(run_dir)
    facts: dict[str, Any] = {"dataset": None, "metrics": None, "evaluation": None}
    ds = RunFolder(run_dir).dataset
    if ds.is_file():
        try:
            facts["dataset"] = json.loads(ds.read_text(encoding="utf-8"))
        except ValueError:
            pass
    records = [r for r in RunFolder(run_dir).read_metrics() if isinstance(r.get("step"), int)]
    before = [r for r in records if r["step"] <= step]
    if before:
        rec = max(before, key=lambda r: r["step"])
        values = {k: v for k, v in _numbers(rec).items() if k.split(".")[0] not in _NOT_METRICS}
        key = rec.get("best_metric")
        best = None
        scored = [(float(r[key]), r["step"]) for r in before
                  if isinstance(key, str) and isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        if scored:
            v, at = (min if key in LOWER_IS_BETTER else max)(scored, key=lambda x: x[0])
            best = {"value": v, "step": at}
        facts["metrics"] = {"step": rec["step"], "values": values, "protocol": rec.get("protocol"),
                            "best_metric": key, "best": best}
    found = evaluations.newest(run_dir, step)  # of the exported checkpoint when it has one
    if found is not None:
        facts["evaluation"] = _evaluation(*found, run_dir)
    return facts


# ---- rendering ------------------------------------------------------------------------------

def front_matter(meta: dict[str, Any]) -> str:
    """YAML front matter. Strings are written as JSON strings, which are valid YAML double-quoted
    scalars, so no value (a license id, a tag with a colon) can change the document's structure;
    numbers as numbers; dicts and lists (model-index) as nested blocks."""
    return "\n".join(["---", *_yaml(meta), "---"]) + "\n"


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and math.isfinite(v):
        text = repr(v)  # 5e-05 has no dot: YAML 1.1 readers (PyYAML) take it for a string; 5.0e-05 is a float
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    return json.dumps(str(v))


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML lines of a dict or list; keys are snowgan's own (plain words)."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines += [f"{pad}{key}:", *_yaml(v, indent + (isinstance(v, dict)))]
            else:
                lines.append(f"{pad}{key}: {_scalar(v) if not isinstance(v, (dict, list)) else json.dumps(v)}")
        return lines
    lines = []
    for v in value:
        sub = _yaml(v, indent + 1) if isinstance(v, (dict, list)) and v else [f"{pad}  {_scalar(v)}"]
        lines += [f"{pad}- {sub[0].lstrip()}", *sub[1:]]
    return lines


def dataset_name(dataset: Optional[dict]) -> str:
    """A short name of the training data: the --data folder's or file's name, else the description's
    head ('built-in mountains')."""
    if not dataset:
        return "unknown"
    source = dataset.get("source")
    if isinstance(source, str) and source.strip("/"):
        return Path(source.rstrip("/")).name
    return str(dataset.get("description") or "unknown").split(":")[0].strip() or "unknown"


def _metric_title(key: str) -> str:
    return key.upper() if len(key) <= 3 else key.capitalize()  # FID, KID, SWD; Diversity, Precision


def _index_metrics(facts: dict) -> list[dict[str, Any]]:
    """model-index metric entries: the evaluation's, then the in-training ones, each with its protocol."""
    out = []
    ev = facts.get("evaluation")
    if ev:
        for k, v in sorted(ev["values"].items()):
            out.append({"type": k, "value": float(f"{v:.6g}"),
                        "name": f"{_metric_title(k)} (snowgan evaluate, step {ev.get('step', '?')}, "
                                f"{ev.get('n_samples', '?')} samples)",
                        "args": {"protocol": ev["protocol"].get(k, "") or "not recorded"}})
    m = facts.get("metrics")
    if m and m["values"]:
        protocol = m.get("protocol")
        keys = sorted(protocol) if isinstance(protocol, dict) else sorted(k for k in m["values"] if k in HEADLINE)
        for k in (k for k in keys if k in m["values"]):
            text = protocol.get(k) if isinstance(protocol, dict) else protocol
            out.append({"type": k, "value": float(f"{m['values'][k]:.6g}"),
                        "name": f"{_metric_title(k)} (during training, step {m['step']})",
                        "args": {"protocol": str(text or "not recorded")}})
    return out


def hub_metadata(cfg: Config, record: dict, facts: dict) -> dict[str, Any]:
    """The card's front matter, in the Hugging Face Hub's keys: license, library_name, pipeline_tag,
    tags, the training data's name, and model-index (the Hub's evaluation results) when the run
    measured any metric: the data as its dataset, each metric with its protocol."""
    classes = cfg.class_list
    task = "image-generation" if classes else "unconditional-image-generation"
    data = dataset_name(facts.get("dataset"))
    meta: dict[str, Any] = {
        "license": record.get("license") or "other", "library_name": "snowgan", "pipeline_tag": task,
        "tags": list(dict.fromkeys(["gan", "image-generation", task, *(["class-conditional"] if classes else []),
                                    cfg.model.arch, "snowgan", "pytorch", *(["onnx"] if record.get("onnx") else [])])),
        "training_data": data}
    metrics = _index_metrics(facts)
    if metrics:
        slug = re.sub(r"[^a-z0-9._-]+", "-", data.lower()).strip("-") or "unknown"
        meta["model-index"] = [{"name": record["source"]["run"], "results": [{
            "task": {"type": task, "name": "Class-conditional image generation" if classes else
                     "Unconditional image generation"},
            "dataset": {"type": slug, "name": data}, "metrics": metrics}]}]
    return meta


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _training_procedure(cfg: Config, record: dict, dataset: Optional[dict]) -> list[str]:
    m, t, a = cfg.model, cfg.train, cfg.aug
    h, w = cfg.image_hw
    src = record["source"]
    from .losses import build_loss

    loss_fn = build_loss(m, t.reg_interval)
    loss = loss_fn.summary
    what = {"gp": "gradient penalty weight", "r1": "R1 weight", "r2": "R2 weight", "drift": "drift"}
    regs = [f"{what.get(r.name, r.name)} {r.weight:g}" + (f" every {r.interval} D steps" if r.interval > 1 else "")
            for r in loss_fn.regularizers]
    if m.spectral_norm:
        regs.append("spectral normalisation in D")
    length = f"{src['step']} iterations, {src['kimg']:g} thousand real images shown"
    if dataset and dataset.get("count"):
        n = dataset["count"] * (2 if dataset.get("mirror") else 1)
        length += f" (about {src['kimg'] * 1000 / n:.1f} epochs)"
    aug = a.augment or "none"
    if a.augment and a.ada_target is not None:
        aug += f" (adaptive p, target {a.ada_target:g})"
    lines = [
        _architecture(m),
        f"- Loss: {loss}" + (f", {', '.join(regs)}" if regs else ""),
        f"- Optimizer: {'Adam' if t.optimizer == 'adam' else 'AdaBelief'}, generator learning rate "
        f"{t.gen_lr:g}, discriminator learning rate {t.disc_lr:g}, betas ({t.beta1:g}, {t.beta2:g})",
        f"- Updates per iteration: {t.disc_steps} discriminator (n_critic), {t.gen_steps} generator",
        f"- Batch size: {t.batch_size}",
        f"- Training length: {length}; exported from {src['checkpoint']}: {src['why']}",
        f"- Generator weights: exponential moving average, half-life {t.ema_kimg:g} kimg",
        f"- Image size: {h}x{w}, {cfg.data.channels} channel{'s' if cfg.data.channels != 1 else ''}; "
        f"latent size {m.latent_dim}",
        f"- Augmentation: {aug}; mirror {'on' if cfg.data.mirror else 'off'}",
        f"- Precision: {t.precision}; seed {cfg.run.seed}",
    ]
    if family(m.arch).grows:
        lines.append(f"- Progressive growing from {m.pg_start} px: {m.pg_fade_kimg:g} kimg fade, "
                     f"{m.pg_stable_kimg:g} kimg stable per resolution")
    return lines


def _architecture(m) -> str:
    """The model card's architecture line, from the family's entry (models/families.py): its title,
    widths, the normalisation it really used (layers.resolved_d_norm, the one rule) where it has any,
    and the options it owns."""
    from .models.layers import resolved_d_norm

    fam = family(m.arch)
    if fam.norm_layers:
        g, d = f"generator width {m.g_width}, {m.g_norm} norm", f"discriminator width {m.d_width}, {resolved_d_norm(m)} norm"
    else:
        g, d = f"no normalisation layers; generator width {m.g_width}", f"discriminator width {m.d_width}"
    own = [f"--{o} {_fmt(getattr(m, o))}" for o in fam.options if not (fam.grows and o.startswith("pg_"))]
    return (f"- Architecture: {fam.title} ({g}; {d}; at most {m.max_width} channels"
            + "".join(f"; {o}" for o in own) + ")")


def _training_data(dataset: Optional[dict], classes: list[str]) -> list[str]:
    if not dataset:
        return ["- Not recorded: the run folder has no dataset.json."]
    src = dataset.get("source") or "the built-in procedural mountains (no --data given)"
    lines = [f"- Dataset: {dataset.get('description', 'unknown')}",
             f"- Source: {src}",
             f"- Images: {dataset.get('count', 'unknown')}"
             + (f" of shape {'x'.join(map(str, dataset['shape']))} (channels x height x width)"
                if dataset.get("shape") else "")]
    if classes:
        lines.append(f"- Classes (the generator is conditional on them): {', '.join(classes)}")
    elif dataset.get("class_names"):
        lines.append(f"- Classes (recorded, not used by the unconditional GAN): {', '.join(dataset['class_names'])}")
    if dataset.get("mirror"):
        lines.append("- Horizontal flips doubled the data (--mirror)")
    if dataset.get("skipped"):
        lines.append(f"- {dataset['skipped']} unreadable inputs were skipped")
    if dataset.get("fingerprint"):
        lines.append(f"- Fingerprint: `{dataset['fingerprint']}`")
    return lines


def _metrics(facts: dict) -> list[str]:
    lines: list[str] = []
    m = facts.get("metrics")
    if m and m["values"]:
        lines += [f"Measured during training at step {m['step']} (the last measurement at or before the "
                  "exported checkpoint):", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in sorted(m["values"].items())]
        if m.get("best_metric"):
            lines += [""]
            best = m.get("best")
            if best:
                lines.append(f"Best `{m['best_metric']}` up to the exported step: {_fmt(best['value'])} at step "
                             f"{best['step']} (the best checkpoint is chosen by it).")
            else:
                lines.append(f"The best checkpoint is chosen by `{m['best_metric']}`.")
        protocol = m.get("protocol")
        if isinstance(protocol, dict):
            lines += ["", "Protocol:"] + [f"- {k}: {v}" for k, v in sorted(protocol.items())]
        elif protocol:
            lines += ["", f"Protocol: {protocol}"]
    ev = facts.get("evaluation")
    if ev:
        if lines:
            lines.append("")
        where = f"{ev.get('checkpoint') or 'a checkpoint'} (step {ev.get('step', '?')})"
        lines += [f"From `snowgan --mode evaluate` ({ev.get('file', 'metrics.json')}) on {where}, "
                  f"{ev.get('n_samples', '?')} generated images (seed {ev.get('seed', '?')}) against "
                  f"{ev.get('real_set') or 'the real set'}:", "",
                  "| metric | value | protocol |", "|---|---|---|"]
        lines += [f"| {k} | {_fmt(v)} | {ev['protocol'].get(k, '')} |" for k, v in sorted(ev["values"].items())]
    if not lines:
        lines = ["Not measured: this run recorded no metrics. Train with `--metrics_every N` (in-training "
                 "metrics and a best checkpoint) or run `snowgan --mode evaluate --run RUN`, then export again."]
    return lines


def _onnx_usage(record: dict, classes: list[str]) -> list[str]:
    """'Run without PyTorch': generator.onnx with onnxruntime, numpy and Pillow (only when exported)."""
    onnx = record.get("onnx")
    if not onnx:
        return []
    check, (c, h, w) = onnx["check"], onnx["output"]["shape"][1:]
    dim = onnx["inputs"]["z"]["shape"][1]
    feed = '{"z": z, "class": np.full(4, 0, np.int64)}' if classes else '{"z": z}'
    return [
        "## Run without PyTorch (ONNX)",
        f"`{onnx['file']}` is the same generator as an ONNX graph (opset {onnx['opset']}). At export, ONNX Runtime "
        f"{check['onnxruntime']} ran it on fixed latents and matched PyTorch to {check['max_abs_difference']:.2g} "
        f"at most (tolerance {check['tolerance']:g} on images in [-1, 1]). It needs only `onnxruntime`, `numpy` "
        f"and `Pillow`; `{onnx['script']}` in this folder makes PNGs from seeds, the same images as "
        "`snowgan --mode generate --model . --seed S` (it draws the latents as snowgan does):", "",
        "```bash", "pip install onnxruntime numpy pillow",
        f"python {onnx['script']} --n 8 --seed 0 --out images/"
        + (f"\npython {onnx['script']} --n 8 --class {classes[0]} --out {classes[0]}/" if classes else ""), "```", "",
        f"Inputs: `z` float32 (batch, {dim}) ~ N(0, I)"
        + (f"; `class` int64 (batch,), the class indices {', '.join(f'{i} {n}' for i, n in enumerate(classes))}"
           if classes else "")
        + f". Output: `images` float32 (batch, {c}, {h}, {w}) in [-1, 1]; the batch size is free.", "",
        "```python", "import numpy as np, onnxruntime as ort", "",
        f'sess = ort.InferenceSession("{onnx["file"]}")',
        f"z = np.random.default_rng(0).standard_normal((4, {dim}), dtype=np.float32)",
        f"images = sess.run(None, {feed})[0]  # (4, {c}, {h}, {w}) in [-1, 1]",
        "pixels = ((images.clip(-1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1)  # uint8 NHWC",
        "```", "",
        "(numpy's own generator draws other latents than snowgan's seeds: other images, as good.)", ""]


def _sharing(title: str) -> list[str]:
    """How to put the folder on the Hugging Face Hub (snowgan itself has no network code)."""
    return ["## Share on the Hugging Face Hub",
            "This folder is a model repository as it is: `config.json`, the `*.safetensors` weights and this "
            "`README.md`, whose front matter the Hub shows as the model's page. With `pip install huggingface_hub` "
            "and `huggingface-cli login`, from this folder:", "",
            "```bash", f"huggingface-cli upload YOUR-NAME/{title} . .", "```", ""]


def render_model_card(cfg: Config, record: dict, facts: dict, has_reals: bool) -> str:
    """The README.md text for an exported model. record: the export record of config.json."""
    name = record["source"]["run"]
    h, w = cfg.image_hw
    g = record["generator"]
    kind = "RGB" if cfg.data.channels == 3 else "grayscale"
    dataset = facts.get("dataset")
    what = (dataset or {}).get("description", "an image collection")
    classes = cfg.class_list
    title = name.split("-", 1)[-1] if name[:5].isdigit() else name  # 00003-snow -> snow
    family_title = family(cfg.model.arch).title
    out = [front_matter(hub_metadata(cfg, record, facts)), f"# {title}: a snowgan {family_title}", "",
           "## Model Description",
           f"A generative adversarial network ({family_title}, {cfg.model.loss} loss) trained with "
           f"snowgan on {what}. The generator turns a "
           f"{g['latent_dim']}-dimensional random vector into a {h}x{w} {kind} image; the discriminator, "
           "trained to tell those images from real ones, is included as well, so its features can be reused "
           "for other tasks on similar images (`snowgan --mode probe`).", ""]
    if has_reals:
        out += ["This is an example of the data fed into the GAN (after augmentation):", "",
                "![training data](samples/training-data.png)", ""]
    out += [f"These are images generated by this model (seeds {record['sample_seed']} to "
            f"{record['sample_seed'] + 15}):", "", "![generated samples](samples/grid.png)", "",
            "## Intended uses & limitations",
            "- Intended for research, experimentation and artistic generation of images like its training data.",
            "- The discriminator is a starting point for downstream tasks on the same kind of images (a linear "
            "probe or fine-tuning with `snowgan --mode probe`); check such a model on held-out data first.",
            "- Not suitable for safety-critical decisions (for example avalanche risk) without independent "
            "validation.",
            f"- Generates only {h}x{w} images resembling its training data; it does not generalise to other "
            "domains. Trained on a small collection, it may reproduce training images closely.", "",
            "## Training data", *_training_data(dataset, classes), "",
            "## Training procedure", *_training_procedure(cfg, record, dataset), "",
            *_model_details(cfg, record, kind),
            "## Metrics", *_metrics(facts), "",
            "## Ethical considerations",
            "- Generated images are synthetic; do not present them as real observations or photographs.",
            "- The model reflects its training data, including its biases and any personal content in it.", "",
            *_how_to_use(cfg, classes), *_onnx_usage(record, classes), *_sharing(title),
            "## Provenance",
            f"Exported by snowgan {record['snowgan_version']} on {record['exported']} from run `{name}`, "
            f"{record['source']['checkpoint']} (step {record['source']['step']}, {record['source']['kimg']:g} kimg). "
            "`config.json` holds the full resolved training configuration and the SHA-256 of each weight file.", ""]
    return "\n".join(out)


def _model_details(cfg: Config, record: dict, kind: str) -> list[str]:
    h, w = cfg.image_hw
    g, d, classes = record["generator"], record["discriminator"], cfg.class_list
    return ["## Model Details",
            f"- **Framework**: PyTorch, via snowgan {record['snowgan_version']}; weights in safetensors",
            f"- **Generator Input**: {g['latent_dim']}-dimensional latent vector z ~ N(0, I)"
            + (f" and a class index y: {', '.join(f'{i} {n}' for i, n in enumerate(classes))}" if classes else ""),
            f"- **Generator Output**: {h}x{w} {kind} image, values in [-1, 1] "
            f"({g['parameters']:,} parameters, EMA weights)",
            f"- **Discriminator Input**: {h}x{w} {kind} image, values in [-1, 1]",
            f"- **Discriminator Output**: 1 raw score (logit) of real vs generated; {d['blocks']} feature blocks "
            f"({d['parameters']:,} parameters)", ""]


def _how_to_use(cfg: Config, classes: list[str]) -> list[str]:
    """The card's commands and Python lines for generating and reusing the discriminator."""
    (h, w), c = cfg.image_hw, cfg.data.channels
    return ["## How to Use", "", "With the snowgan package installed, in this folder:", "", "```bash",
            "# 10 images (seed000000.png ...) from this folder",
            "snowgan --mode generate --model . --n_samples 10", "",
            "# one 4x8 grid, seeds 100..131",
            "snowgan --mode generate --model . --grid 4x8 --seed 100 --out grid.png", "",
            *([f"# images of one class (name or index; repeat --class for several): {', '.join(classes)}",
               f"snowgan --mode generate --model . --class {classes[0]} --n_samples 10", ""] if classes else []),
            "# reuse the discriminator: a probe on your labels (file,label rows)",
            "snowgan --mode probe --model . --data photos/ --labels labels.csv",
            "```", "", "```python", *(["import torch"] if classes else []), "import snowgan",
            "from snowgan.sample import latents", "",
            'G = snowgan.load_generator(".", device="cpu")        # eval mode, no pickle',
            "z = latents(16, G.latent_dim, seed=0)                 # (16, latent_dim)",
            (f"images = G(z)                                         # (16, {c}, {h}, {w}) in [-1, 1]" if not classes
             else f"images = G(z, torch.full((16,), 0))                 # (16, {c}, {h}, {w}) in [-1, 1], "
                  f"class 0 ({classes[0]}); G.class_names lists them"),
            'D = snowgan.load_discriminator(".", device="cpu")',
            "features = D.forward_features(images)[-1].mean((2, 3))  # pooled last-block features", "```", ""]
