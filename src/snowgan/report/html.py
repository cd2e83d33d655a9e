"""``RUN/report.html``: one offline page with everything about a run.

Built only from files already in the run folder (no generation, no torch), so the
training loop can rebuild it at every sampling interval. No scripts, fonts or
stylesheets from anywhere: pictures are data: URIs (or relative paths for very large
videos) and a Content-Security-Policy forbids the browser any other request.

While a run trains, the loop writes the page with ``live=True``: a ``<meta http-equiv=refresh>``
makes the browser reload it every LIVE_REFRESH_S seconds (no script needed, so the CSP stays
closed). The page knows it is live only because the writer says so: the loop's last write
(done, stopped, or failed with a message) and every ``snowgan report`` page are still. A run
killed outright (SIGKILL, power loss) leaves a page that keeps reloading the same content; its
"updated" time shows how old it is.
"""

from __future__ import annotations

import datetime as _dt
import html
import io
import json
import os
import re
import traceback
from pathlib import Path
from typing import Callable, Optional

from PIL import Image

from ..runfolder import RunFolder
from .media import data_uri, newest, relative_url, src_for
from .plots import USER_METRICS, better, flatten, metric_keys
from .runfiles import best_step, current_warnings, numeric, sample_grids
from .timeline import grid_label, pick

CSP = ("default-src 'none'; img-src data: 'self' file:; media-src data: 'self' file:; "
       "style-src 'unsafe-inline'")

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2329;background:#f4f5f7}
header{background:#1d2329;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d1d9}nav{padding:8px 24px;background:#e6e9ee}nav a{margin-right:14px;color:#0b5cad}
main{padding:8px 24px 40px;max-width:1400px}section{background:#fff;border-radius:8px;padding:12px 18px;margin:14px 0;
box-shadow:0 1px 2px #0002}h2{font-size:18px;margin:4px 0 10px}figure{display:inline-block;margin:0 18px 12px 0;
vertical-align:top}figcaption{font-size:13px;color:#555;max-width:640px}img.px{image-rendering:pixelated}
img{max-width:100%;height:auto}table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;text-align:left;
border-bottom:1px solid #e3e6ea}th{background:#f0f2f5}.warn{background:#fff4e5;border-left:5px solid #e67700}
.warn li{margin:3px 0}.muted{color:#666}code{background:#f0f2f5;padding:1px 4px;border-radius:3px}
.strip figure{margin-right:8px}.plots figure{width:calc(50% - 20px);min-width:420px}.plots img{width:100%}pre{background:#f6f8fa;padding:10px;overflow:auto;font-size:12px}
"""

STATS_ORDER = ["step", "kimg", "epoch", "time_s", "loss_g", "loss_d", "d_real", "d_fake", "gp", "r1", "aug_p",
               "res", "alpha", "imgs_per_s", "sec_per_kimg", "peak_mem_mb", "skipped_steps"]
STATS_LABELS = {"loss_g": "G loss", "loss_d": "D loss", "d_real": "D(x)", "d_fake": "D(G(z))",
                "gp": "gradient penalty", "r1": "R1 penalty", "aug_p": "augmentation p", "time_s": "training time",
                "imgs_per_s": "images / s", "sec_per_kimg": "s / kimg", "peak_mem_mb": "peak memory (MB)",
                "res": "resolution", "alpha": "fade-in alpha", "skipped_steps": "skipped steps"}
THUMB_WIDTH = 220
MAX_TABLE_ROWS = 20
LIVE_REFRESH_S = 20  # how often a live page reloads itself: about a sample interval on a laptop, no flicker
# Stats of optional techniques: a row or a curve only when the run uses them (not 0 throughout).
TECHNIQUE_KEYS = ("gp", "r1", "r2", "drift", "aug_p", "ada_rt")

esc = html.escape


def _fmt(key: str, value: object) -> str:
    if key == "time_s" and numeric(value) is not None:
        s = int(float(value))  # type: ignore[arg-type]
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return esc(str(value))


def _img(src: str, alt: str, pixel: bool = False) -> str:
    """alt: plain text (escaped here once)."""
    return f'<img src="{esc(src)}" alt="{esc(alt)}"{" class=px" if pixel else ""}>'


def plain_text(fragment: str) -> str:
    """The text of an HTML fragment, tags dropped and entities decoded: what an alt attribute needs."""
    return html.unescape(re.sub(r"<[^>]*>", "", fragment))


def _figure(path: Path, run_dir: Path, caption: str, pixel: bool = True) -> str:
    """caption: an HTML fragment (already escaped); the alt text is its plain text."""
    return (f"<figure>{_img(src_for(path, run_dir), plain_text(caption), pixel)}"
            f"<figcaption>{caption}</figcaption></figure>")


def _video_figure(run_dir: Path, kind: str, caption: str) -> Optional[str]:
    """The newest GIF of a kind (shown as an image: every browser plays GIFs, not every one
    H.264), with a link to its MP4 when there is one."""
    gif = newest(run_dir, kind, "gif")
    if gif is None:
        return None
    mp4 = gif.with_suffix(".mp4")
    link = f' · <a href="{esc(relative_url(mp4, run_dir))}">MP4</a>' if mp4.is_file() else ""
    return _figure(gif, run_dir, f"{caption} <span class=muted>({esc(gif.name)}{link})</span>")


def _thumb(path: Path) -> str:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.width > THUMB_WIDTH:
            im = im.resize((THUMB_WIDTH, max(1, round(im.height * THUMB_WIDTH / im.width))), Image.Resampling.BOX)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
    return data_uri(buf.getvalue(), ".png")


# ---- sections: each returns HTML or "" when it has nothing to show ------------------------

def _warnings(run_dir: Path, **_) -> str:
    now, earlier = current_warnings(run_dir)
    if not now and not earlier:
        return ""
    history = ""
    if earlier:  # the past belongs folded away: a reader sees the run's state, not its diary
        lis = "".join(f"<li>{esc(w)}</li>" for w in earlier)
        history = (f"<details><summary>Earlier warnings ({len(earlier)}), no longer given by the latest check"
                   f"</summary><ul>{lis}</ul></details>")
    if not now:
        return f"<section id=warnings>{history}</section>"
    lis = "".join(f"<li>{esc(w)}</li>" for w in now)
    return f'<section id=warnings class=warn><h2>Warning</h2><ul>{lis}</ul>{history}</section>'


# What the Latest table shows a user; every other figure (losses, s/kimg, memory, skipped steps) is
# for whoever tunes the run and goes under "Details" (issue 42: the table read like a lab notebook).
HEADLINE_STATS = ("step", "kimg", "time_s")
HEADLINE_METRICS = {"kid": "KID", "fid": "FID", "swd": "SWD", "diversity": "diversity",
                    "feature_variety": "feature variety", "spectral_hf": "high-frequency error (dB)"}
SPECTRUM_CAPTION = ("Power spectrum of the generated and the real images, averaged over directions: how much of "
                    "each fineness of detail they hold. A generated curve above the real one at high frequencies is "
                    "noise or checkerboard texture; below it, blur.")


def _summary(run_dir: Path, stats: list[dict], **_) -> str:
    rows, more = [], []
    if stats:
        last = stats[-1]
        keys = [k for k in STATS_ORDER if k in last] + [k for k in last if k not in STATS_ORDER and k != "warning"]
        unused = {k for k in TECHNIQUE_KEYS if all(numeric(r.get(k)) in (None, 0.0) for r in stats)}
        for k in keys:
            if k not in unused:
                (rows if k in HEADLINE_STATS else more).append(
                    f"<tr><th>{esc(STATS_LABELS.get(k, k))}</th><td>{_fmt(k, last[k])}</td></tr>")
    checks = [flatten(r) for r in RunFolder(run_dir).read_metrics() if "step" in r]
    if checks:
        check = checks[-1]
        rows += [f"<tr><th>{name}</th><td>{_fmt(k, check[k])} <span class=muted>(step {_fmt('step', check['step'])}"
                 f"{', ' + esc(better(k).split(',')[0]) + ' is better' if better(k) else ''})</span></td></tr>"
                 for k, name in HEADLINE_METRICS.items() if numeric(check.get(k)) is not None]
    ds = RunFolder(run_dir).read_dataset()
    if ds:
        rows.append(f"<tr><th>data</th><td>{esc(str(ds.get('description', '')))}</td></tr>")
        if ds.get("skipped"):
            rows.append(f"<tr><th>skipped inputs</th><td>{esc(str(ds['skipped']))} (listed in skipped.txt)</td></tr>")
    if not rows and not more:
        return "<section id=summary><h2>Latest</h2><p class=muted>No statistics logged yet.</p></section>"
    details = f"<details><summary>Details</summary><table>{''.join(more)}</table></details>" if more else ""
    return f"<section id=summary><h2>Latest</h2><table>{''.join(rows)}</table>{details}</section>"


def _samples(run_dir: Path, image_size: Optional[str], best_metric: str, **_) -> str:
    grids = sample_grids(run_dir)
    figs = []
    if grids:
        latest = grids[-1]
        best = best_step(run_dir)
        best_grid = None
        if best is not None:
            before = [g for g in grids if g.step <= best] or grids[:1]
            best_grid = min(before, key=lambda g: abs(g.step - best))
        if best_grid is not None and best_grid.path == latest.path:  # one picture, said once
            figs.append(_figure(latest.path, run_dir, "Latest fixed-latent samples, also the best checkpoint "
                                                      f"(step {best}, {esc(best_metric)}): "
                                                      f"{esc(grid_label(latest, image_size))}"))
        else:
            figs.append(_figure(latest.path, run_dir, "Latest fixed-latent samples: " +
                                esc(grid_label(latest, image_size))))
            if best_grid is not None:
                figs.append(_figure(best_grid.path, run_dir,
                                    f"Best checkpoint: step {best}, {esc(best_metric)}; samples from "
                                    f"{esc(grid_label(best_grid, image_size))}"))
    folder = RunFolder(run_dir)
    if folder.reals_grid.is_file():
        figs.append(_figure(folder.reals_grid, run_dir, "Real training images, as the run reads them"))
    if folder.reals_augmented_grid.is_file():
        figs.append(_figure(folder.reals_augmented_grid, run_dir,
                            "The same images augmented, as the discriminator sees them (the grey squares are "
                            "cutout): augmentations visible here must not show up in the samples"))
    if not figs:
        return "<section id=samples><h2>Samples</h2><p class=muted>No sample grids yet.</p></section>"
    return f"<section id=samples><h2>Samples</h2>{''.join(figs)}</section>"


def _progress(run_dir: Path, image_size: Optional[str], run_ref: str, **_) -> str:
    video = _video_figure(run_dir, "progress", "Training progress from fixed latents")
    grids = sample_grids(run_dir)
    if video is None and not grids:
        return ""
    strip = ""
    if grids:
        figs = "".join(f"<figure><img class=px src=\"{_thumb(g.path)}\" alt=\"step {g.step}\">"
                       f"<figcaption>{esc(grid_label(g, image_size))}</figcaption></figure>"
                       for g in pick(grids, 6))
        strip = f"<div class=strip>{figs}</div>"
    hint = "" if video else (f"<p class=muted>Make a video: <code>snowgan --mode progress --run {esc(run_ref)}"
                             "</code></p>")
    return f"<section id=progress><h2>Progress</h2>{video or ''}{strip}{hint}</section>"


def _latent(run_dir: Path, run_ref: str, **_) -> str:
    figs = [f for f in (
        _video_figure(run_dir, "interpolate", "Interpolation through keyframe latents (slerp, looping)"),
        _video_figure(run_dir, "walk", "Random latent walk"),
        _video_figure(run_dir, "interpolate-grid", "Many interpolations at once"),
        _video_figure(run_dir, "walk-grid", "Many random walks at once"),
    ) if f]
    pairs = newest(run_dir, "interpolate-pairs", "png")
    if pairs:
        figs.append(_figure(pairs, run_dir, "Each row moves from one latent to another"))
    avg = newest(run_dir, "average", "png")
    if avg:
        figs.append(_figure(avg, run_dir, "Average generated image beside the average real image"))
    if not figs:
        return (f"<section id=latent><h2>Latent space</h2><p class=muted>Make these with <code>snowgan --mode "
                f"interpolate --run {esc(run_ref)}</code>, <code>--mode average</code>, or all at once with "
                f"<code>--mode report</code>.</p></section>")
    return f"<section id=latent><h2>Latent space</h2>{''.join(figs)}</section>"


def _plots(run_dir: Path, **_) -> str:
    folder = RunFolder(run_dir).plots
    from .plots import STATS_PANELS

    order = [p[0] for p in STATS_PANELS] + ["metrics", "spectrum"]
    paths = [folder / f"{stem}.png" for stem in order if (folder / f"{stem}.png").is_file()]
    if not paths:
        return ""
    imgs = "".join(f"<figure>{_img(src_for(p, run_dir), SPECTRUM_CAPTION if p.stem == 'spectrum' else p.stem)}"
                   + (f"<figcaption>{esc(SPECTRUM_CAPTION)}</figcaption>" if p.stem == "spectrum" else "")
                   + "</figure>" for p in paths)
    return ("<section id=plots><h2>Curves</h2><p class=muted>Raw values faint, smoothed bold; x: thousands of "
            f"real images shown (kimg).</p><div class=plots>{imgs}</div></section>")


def _metric_table(rows: list[dict], keys: list[str]) -> str:
    cols = [k for k in ("step", "kimg") if any(k in r for r in rows)] + keys
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    direction = "".join(f"<td class=muted>{esc(better(c) + ' is better' if better(c) else '')}</td>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c, r[c]) if c in r else ''}</td>" for c in cols) + "</tr>"
                   for r in rows[-MAX_TABLE_ROWS:])
    return f"<table><tr>{head}</tr><tr>{direction}</tr>{body}</table>"


def _metrics(run_dir: Path, **_) -> str:
    rows = [flatten(r) for r in RunFolder(run_dir).read_metrics()]
    keys = metric_keys(rows)
    if not keys:
        return ""
    # A short table of what a user reads; every measured value and the protocols folded away below
    # (issue 42: 13 columns and protocol paragraphs read like a lab notebook).
    short = [k for k in keys if k in USER_METRICS] or keys
    # metrics.jsonl holds one protocol text per metric ({"kid": "...", ...}; flattened to
    # "protocol/kid"), older lines one string: show each distinct text once, named.
    notes = {(k.partition("/")[2], str(v)) for r in rows for k, v in r.items()
             if (k == "protocol" or k.startswith("protocol/")) and isinstance(v, str)}
    proto = "".join(f"<p class=muted>Protocol{' of ' + esc(name) if name else ''}: {esc(text)}</p>"
                    for name, text in sorted(notes))
    more = ""
    if short != keys or proto:
        more = (f"<details><summary>Every measured value and how it was measured</summary>"
                f"{_metric_table(rows, keys) if short != keys else ''}{proto}</details>")
    return f"<section id=metrics><h2>Metrics</h2>{_metric_table(rows, short)}{more}</section>"


def _evaluations(run_dir: Path, **_) -> str:
    """Every `snowgan evaluate` of the run, oldest first: its settings and headline numbers (the files hold
    the protocol beside each)."""
    from .. import evaluations

    found = evaluations.read_all(run_dir)
    if not found:
        return ""
    names = list(dict.fromkeys(k for _, raw in found for k in evaluations.values(raw)))
    cols = ["file", "time", "checkpoint", "step", "n_samples", "seed"]
    head = "".join(f"<th>{esc(c)}</th>" for c in cols + names)
    body = "".join(
        "<tr>" + f"<td>{esc(path.relative_to(run_dir).as_posix())}</td>"
        + "".join(f"<td>{_fmt(c, raw[c]) if c in raw else ''}</td>" for c in cols[1:])
        + "".join(f"<td>{_fmt(k, v[k]) if k in v else ''}</td>" for k in names) + "</tr>"
        for path, raw in found for v in [evaluations.values(raw)])
    return (f"<section id=evaluations><h2>Evaluations</h2><p class=muted><code>snowgan evaluate</code>, every one "
            f"kept, oldest first; each file holds its settings and the protocol beside each number.</p>"
            f"<table><tr>{head}</tr>{body}</table></section>")


# The settings that shape the model or the data it learns from (issue 42: the table listed --progress
# "none" and other ways of watching a run). Within them, how a run is computed rather than what it learns.
SHAPING_SECTIONS = ("data", "model", "train", "aug")
NOT_SHAPING = {"cache_dir", "workers", "max_bad_fraction", "compile", "channels_last", "max_bad_steps",
               "max_rollbacks", "sync_bn"}


def _unused_lengths(train: dict) -> set[str]:
    """The training lengths to leave out: every one set but the one that decided (config.LENGTH_FIELDS)."""
    from ..config import LENGTH_FIELDS

    set_now = [n for n in LENGTH_FIELDS if train.get(n) is not None]
    return set(set_now[1:])


def _config(run_dir: Path, cfg: Optional[dict], **_) -> str:
    if cfg is None:
        return ""
    from ..config import Config

    defaults = Config().to_dict()
    lost = _unused_lengths(cfg.get("train") or {})
    diff = [(sec, k, v) for sec, fields in cfg.items() if isinstance(fields, dict) and sec in SHAPING_SECTIONS
            for k, v in fields.items()
            if defaults.get(sec, {}).get(k, object()) != v and k not in NOT_SHAPING and k not in lost]
    seed = (cfg.get("run") or {}).get("seed")
    if seed is not None and seed != defaults["run"].get("seed"):  # another seed: another model
        diff.insert(0, ("run", "seed", seed))
    rows = "".join(f"<tr><th>--{esc(k)}</th><td>{esc(json.dumps(v))}</td><td class=muted>{esc(sec)}</td></tr>"
                   for sec, k, v in diff)
    table = f"<table>{rows}</table>" if rows else "<p>The model and data settings are all at their defaults.</p>"
    full = esc(json.dumps(cfg, indent=2))
    return (f"<section id=config><h2>Settings that shape the model and data</h2>{table}"
            f"<details><summary>Full config.json</summary><pre>{full}</pre></details></section>")


def _best_metric_name(run_dir: Path, cfg: Optional[dict]) -> str:
    """The metric that chose the best checkpoint: as metrics.jsonl records it (auto resolved), else the setting."""
    recorded = [r.get("best_metric") for r in RunFolder(run_dir).read_metrics()]
    name = next((n for n in reversed(recorded) if isinstance(n, str)), None)
    if name is None:
        name = str(((cfg or {}).get("metrics") or {}).get("best_metric", "auto"))
    if name == "auto":
        return "by the tracked metric"
    # "the lowest kid": the direction said in the phrase itself, so a caption needs no brackets in brackets
    way = (better(name) or "").split(",")[0].split(" ")[0]
    return {"lower": f"the lowest {name}", "higher": f"the highest {name}"}.get(way, f"by {name}")


SECTIONS: list[tuple[str, Callable[..., str]]] = [
    ("warnings", _warnings), ("summary", _summary), ("samples", _samples), ("progress", _progress),
    ("latent", _latent), ("plots", _plots), ("metrics", _metrics), ("evaluations", _evaluations),
    ("config", _config)]


def render(run_dir: Path, live: bool = False) -> str:
    """The report page as a string (see write_report); live: it reloads itself while training runs."""
    run_dir = Path(run_dir)
    cfg = RunFolder(run_dir).read_config()
    stats = RunFolder(run_dir).read_stats()
    ctx = {"stats": stats, "cfg": cfg, "run_ref": run_dir.name,
           "image_size": (cfg or {}).get("data", {}).get("image_size"),
           "best_metric": _best_metric_name(run_dir, cfg)}
    parts = []
    for name, build in SECTIONS:
        try:
            parts.append(build(run_dir, **ctx))
        except Exception:  # noqa: BLE001 - a live run's files can change under us; never lose the page
            err = traceback.format_exc(limit=2).strip().splitlines()[-1]
            parts.append(f"<section class=warn><h2>{esc(name)}</h2><p>Could not build this section: "
                         f"{esc(err)}</p></section>")
    nav = "".join(f'<a href="#{n}">{n}</a>' for n, _ in SECTIONS if f"id={n}" in "".join(parts))
    model = (cfg or {}).get("model", {})
    where = ""
    if stats:
        last = stats[-1]
        where = f"step {_fmt('step', last.get('step', '?'))} · {_fmt('kimg', last.get('kimg', '?'))} kimg · "
    sub = (f"{where}{esc(str(model.get('arch', '')))} {esc(str(model.get('loss', '')))} · "
           f"{esc(str(ctx['image_size'] or ''))} px · updated {_dt.datetime.now().strftime('%Y-%m-%d %H:%M:%S')}")
    if live:
        sub += f" · <b>training: this page reloads every {LIVE_REFRESH_S} s</b>"
    refresh = f'<meta http-equiv="refresh" content="{LIVE_REFRESH_S}">' if live else ""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8>{refresh}"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>snowgan · {esc(run_dir.name)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{esc(run_dir.name)}</h1><p>{sub}</p></header><nav>{nav}</nav>"
            f"<main>{''.join(parts)}</main></body></html>\n")


def write_report(run_dir: Path, live: bool = False) -> Path:
    """Write ``run_dir/report.html`` atomically (a browser never loads half a page); returns its path.

    Cheap: reads files already in the run folder and the plots from plots.plot_stats;
    works on a run folder that is still being written (no checkpoint, partial lines).
    """
    run_dir = Path(run_dir)
    path = RunFolder(run_dir).report
    tmp = run_dir / ".report.html.partial"
    tmp.write_text(render(run_dir, live), encoding="utf-8")
    os.replace(tmp, path)
    return path
