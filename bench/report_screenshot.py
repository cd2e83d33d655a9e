"""Open a run's report.html in headless Chromium: every image loads, no request leaves the machine.

usage: python bench/report_screenshot.py [--run RUN_DIR] [--out report-screenshot.png]

Without --run it trains a tiny run on the built-in dataset in a temporary folder and makes
every picture (interpolate, walk grid, average, progress, report) with the real CLI first.
Needs Chromium (Debian: apt-get install -y chromium). Nothing is served: the report is
opened as file://. Checks, exit 1 if any fails:

1. static   report.html holds no http(s):// URL, no <script>, <link> or @import, and every
            <img src> is a data: URI or a file that exists next to the report;
2. images   a harness page loads the report in an iframe (file access allowed for the
            harness only) and reads every <img>'s naturalWidth: none may be 0 (broken);
3. network  Chromium's NetLog may show no request started by a page. Chromium's own
            update/account pings (initiator "not an origin") are listed apart, and every
            host name is unresolvable (--host-resolver-rules), so those fail too. A control
            page with one external <img> must be caught, or the check itself is broken;
4. picture  a full-page screenshot is written to --out for a person to look at.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--host-resolver-rules=MAP * ~NOTFOUND"]
TINY = ["--loss", "nonsat", "--image_size", "32", "--builtin_count", "256",
        "--batch_size", "32", "--g_width", "16", "--d_width", "16",
        "--progress", "lines", "--log_every", "5", "--sample_every", "15", "--steps", "90"]

HARNESS = """<!doctype html><html><head><meta charset=utf-8></head><body>
<iframe id=f src="%s" width=1280 height=900></iframe><pre id=out>pending</pre>
<script>
const f = document.getElementById('f'), out = document.getElementById('out');
f.onload = () => {
  const check = () => {
    const doc = f.contentDocument;
    if (!doc) { out.textContent = 'RESULT ' + JSON.stringify({error: 'no access to the report'}); return; }
    const imgs = Array.from(doc.images);
    if (imgs.some(i => !i.complete)) { setTimeout(check, 50); return; }
    out.textContent = 'RESULT ' + JSON.stringify({images: imgs.length, height: doc.documentElement.scrollHeight,
      broken: imgs.filter(i => i.naturalWidth === 0).map(i => i.alt)});
  };
  check();
};
</script></body></html>"""
CONTROL = '<!doctype html><html><body><img src="http://snowgan-control.invalid/x.png" alt=x></body></html>'


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    sys.exit("Chromium not found: install it (Debian/Ubuntu: apt-get update && apt-get install -y chromium)")


def browse(url: str, tmp: Path, *extra: str) -> tuple[str, list[dict], set[str]]:
    """Run headless Chromium on url with a fresh profile.

    Returns (stdout, requests started by a page, URLs of Chromium's own background requests)."""
    profile = Path(tempfile.mkdtemp(dir=tmp, prefix="profile-"))
    netlog = profile / "netlog.json"
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--log-net-log={netlog}",
           "--net-log-capture-mode=Everything", *extra, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    log = json.loads(netlog.read_text())
    kinds = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    page, internal = [], []
    for e in log["events"]:
        p = e.get("params", {})
        if kinds.get(e["type"]) == "URL_REQUEST_START_JOB" and "url" in p:
            (internal if p.get("initiator") == "not an origin" else page).append(p)
    return proc.stdout, page, {re.sub(r"[?].*", "", p["url"]) for p in internal}


def static_check(report: Path) -> list[str]:
    page = report.read_text(encoding="utf-8")
    problems = []
    for pattern, what in ((r"https?://", "an http(s) URL"), (r"<script", "a script"), (r"<link", "a <link>"),
                          (r"@import", "a CSS @import")):
        if re.search(pattern, page, re.I):
            problems.append(f"report.html contains {what}")
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    for s in srcs:
        if not s.startswith("data:image/") and not (report.parent / s).is_file():
            problems.append(f"<img src={s[:60]!r}> is neither a data: URI nor a file next to the report")
    print(f"static: {len(srcs)} images, {sum(s.startswith('data:') for s in srcs)} embedded, "
          f"{len(page) / 1e6:.1f} MB page")
    return problems


def make_run(work: Path) -> Path:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), SNOWGAN_CACHE=str(work / "cache"))

    def cli(*args: str) -> None:
        print("$ snowgan " + " ".join(args), flush=True)
        subprocess.run([sys.executable, "-m", "snowgan", *args], cwd=work, env=env, check=True)

    cli("--mode", "train", *TINY, "--name", "shot")
    cli("--mode", "interpolate", "--walk", "--grid", "2x3", "--frames", "24")
    cli("--mode", "report", "--frames", "48", "--n_samples", "200")
    return work / "runs" / "00001-shot"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="run folder with a report.html (default: train a tiny one)")
    ap.add_argument("--out", type=Path, default=Path("report-screenshot.png"), help="screenshot PNG")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="snowgan-shot-") as t:
        tmp = Path(t)
        run = args.run.resolve() if args.run else make_run(tmp)
        report = run / "report.html"
        if not report.is_file():
            sys.exit(f"{report} does not exist; run: snowgan --mode report --run {run}")
        problems = static_check(report)

        harness = tmp / "harness.html"
        harness.write_text(HARNESS % report.as_uri(), encoding="utf-8")
        dom, page_requests, internal = browse(harness.as_uri(), tmp, "--allow-file-access-from-files",
                                    "--virtual-time-budget=15000", "--dump-dom")
        m = re.search(r"RESULT (\{.*?\})\s*<", dom)
        result = json.loads(m.group(1)) if m else {"error": "the harness did not finish"}
        print(f"images: {result}")
        if "error" in result or result["broken"] or result["images"] == 0:
            problems.append(f"images did not all load in Chromium: {result}")
        control = tmp / "control.html"
        control.write_text(CONTROL, encoding="utf-8")
        _, control_requests, _ = browse(control.as_uri(), tmp, "--virtual-time-budget=5000", "--dump-dom")
        print(f"network: report pages started {len(page_requests)} requests; the control page "
              f"{len(control_requests)} ({[p['url'] for p in control_requests]})")
        if not control_requests:
            problems.append("the control page's external request was not seen: the network check is blind")

        height = min(max(int(result.get("height", 3000)), 800), 12000)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        _, shot_requests, more = browse(report.as_uri(), tmp, f"--window-size=1280,{height}",
                                        f"--screenshot={args.out.resolve()}", "--virtual-time-budget=10000")
        page_requests += shot_requests
        print(f"screenshot: {args.out} (1280x{height})")
        if page_requests:
            problems.append(f"the report made network requests: {[p['url'] for p in page_requests]}")
        print(f"(Chromium's own background requests, none of them resolvable here: {sorted(internal | more)})")
    for p in problems:
        print(f"FAIL: {p}")
    print("OK: the report is offline and every image loads" if not problems else "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
