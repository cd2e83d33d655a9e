"""Watch a live run's report.html reload itself in headless Chromium, and keep the proof as a picture.

usage: python bench/live_report_screenshot.py [--out docs/images/live-report.png] [--wait 45]

Starts a small training run on the built-in dataset in a temporary folder, opens its report
(file://) in one headless Chromium tab once the page exists, and never navigates that tab
again. It screenshots the tab at once and again --wait seconds later, and counts the tab's
own navigations (Page.frameNavigated) in between: the page's <meta http-equiv="refresh"> is
the only thing that can reload it. Passes (exit 0) when the tab reloaded at least twice and
the second picture shows a later training step than the first; writes both pictures side by
side to --out. Then stops the run (SIGTERM: checkpoint, last page written still) and checks
that page no longer carries the refresh.

Chromium is driven over --remote-debugging-pipe (the DevTools protocol as NUL-separated JSON
on file descriptors 3 and 4), so nothing but Chromium and Python is needed.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from report_screenshot import CHROMIUM_FLAGS, chromium  # noqa: E402

RUN = ["train", "--loss", "nonsat", "--image_size", "32", "--builtin_count", "256", "--batch_size", "32",
       "--g_width", "16", "--d_width", "16", "--progress", "lines", "--log_every", "5", "--sample_every", "10",
       "--steps", "100000", "--metrics_every", "0", "--name", "live"]


class DevTools:
    """A tiny DevTools-protocol client over Chromium's --remote-debugging-pipe."""

    def __init__(self, *flags: str) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4: move the pipe ends there in the
        # child (through fds above both, so neither dup2 can clobber the other's source).
        def fds() -> None:
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)
            r, w = os.dup2(r, 100), os.dup2(w, 101)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen([chromium(), *flags, "--remote-debugging-pipe", "about:blank"],
                                     pass_fds=(3, 4, to_chrome_r, from_chrome_w), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=fds)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def _read(self) -> dict:
        while b"\0" not in self._buf:
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def drain(self, seconds: float) -> None:
        """Collect events for a while (real time): a no-op call every half second reads them."""
        end = time.time() + seconds
        while time.time() < end:
            self.call("Browser.getVersion")
            time.sleep(0.5)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        self.proc.wait(timeout=30)


def _header(page: str) -> str:
    m = re.search(r"<header><h1>.*?</h1><p>(.*?)</p>", page)
    return re.sub(r"<[^>]+>", "", m.group(1)) if m else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "images" / "live-report.png"))
    ap.add_argument("--wait", type=float, default=45.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="snowgan-live-"))
    env = dict(os.environ, SNOWGAN_CACHE=str(work / "cache"), PYTHONPATH=str(ROOT / "src"))
    train = subprocess.Popen([sys.executable, "-m", "snowgan", *RUN], cwd=work, env=env,
                             stdout=open(work / "train.out", "w"), stderr=subprocess.STDOUT)
    report = work / "runs" / "00001-live" / "report.html"
    for _ in range(600):
        if report.is_file() and (work / "runs" / "00001-live" / "samples" / "step-00000010.png").is_file():
            break
        time.sleep(0.5)
    else:
        train.kill()
        sys.exit(f"no report after 5 minutes; see {work / 'train.out'}")
    chrome = DevTools(*CHROMIUM_FLAGS, f"--user-data-dir={work / 'profile'}", "--window-size=1280,900")
    ok = False
    try:
        target = chrome.call("Target.createTarget", {"url": report.as_uri()})["targetId"]
        session = chrome.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        chrome.call("Page.enable", session=session)
        chrome.drain(3)
        first = chrome.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        seen_first = _header(report.read_text(encoding="utf-8"))
        chrome.events.clear()
        chrome.drain(args.wait)
        reloads = sum(1 for e in chrome.events if e.get("method") == "Page.frameNavigated"
                      and not e["params"]["frame"].get("parentId"))
        second = chrome.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        steps = [int(s) for s in re.findall(r"step (\d+)", seen_first + " " + _header(report.read_text("utf-8")))]
        print(f"the tab reloaded itself {reloads} times in {args.wait:.0f} s (never navigated by this script); "
              f"report header steps: {steps}")
        ok = reloads >= 2 and len(steps) == 2 and steps[1] > steps[0]
        pictures = [Image.open(io.BytesIO(base64.b64decode(d))).convert("RGB") for d in (first, second)]
        w, h = pictures[0].size
        crop = min(h, 620)
        canvas = Image.new("RGB", (2 * w + 20, crop + 56), "white")
        draw = ImageDraw.Draw(canvas)
        font = ImageFont.load_default(size=30)
        for i, (pic, label) in enumerate(zip(pictures, ("just opened", f"{args.wait:.0f} s later, never navigated: "
                                                                          f"it reloaded itself {reloads} times"))):
            canvas.paste(pic.crop((0, 0, w, crop)), (i * (w + 20), 56))
            draw.text((i * (w + 20) + 8, 10), f"one headless Chromium tab, {label}", fill="black", font=font)
        canvas = canvas.resize((canvas.width * 3 // 5, canvas.height * 3 // 5), Image.Resampling.LANCZOS)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        canvas.save(args.out, optimize=True)
        print(f"wrote {args.out}")
    finally:
        chrome.close()
        train.send_signal(signal.SIGTERM)  # checkpoint and a last, still page
        train.wait(timeout=300)
    still = "http-equiv=\"refresh\"" not in report.read_text(encoding="utf-8")
    print(f"after SIGTERM the page is {'still (no refresh)' if still else 'STILL RELOADING'}")
    return 0 if ok and still else 1


if __name__ == "__main__":
    sys.exit(main())
