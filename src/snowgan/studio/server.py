"""The studio's web side: Python's own ThreadingHTTPServer, one page (page.html) and a small JSON API.

Why the standard library and not Gradio or Starlette (figures in docs/studio.md): the page needs
a dozen GET routes and one upload; a raw request body (fetch(url, {body: file})) needs no
multipart parser, and live progress is a poll every few hundred milliseconds. Gradio would add
hundreds of megabytes and seconds of start-up for widgets the page does not use; Starlette
needs an ASGI server beside it. So no extra to install, and nothing but Python listens.

Routes (every ``src`` is a latent source, see engine.py; ``trunc`` empty = no truncation):

    GET  /                          the page
    GET  /api/info                  model facts (size, latent size, what is available)
    GET  /api/grid?start&n&trunc&cls   n seeds from start (of class cls): {seeds, images (data: URIs), ms}
    GET  /api/image.png?src&trunc   one image (PNG; &download=1 as a file)
    GET  /api/latent?src&trunc      the latent as .safetensors (generate/interpolate --latents)
    GET  /api/interp?src=a,b&trunc  frames between the picked latents: {images, ms}
    GET  /api/interp.gif?src&trunc  the same as a looping GIF
    GET  /api/nearest?src&trunc&k   nearest training images: {images, distances}
    POST /api/project?cls           body = the photo's bytes; header X-Filename: {job} or {error}
    GET  /api/job?id                projection progress and result
    GET  /api/job/side.png?id, /api/job/video.gif?id    the result's files

A request that cannot be served gets status 400 and {"error": "..."} which the page shows;
an unexpected exception gets 500 and the same shape, and the server keeps serving.
"""

from __future__ import annotations

import base64
import json
import math
import sys
import tempfile
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from .engine import MAX_UPLOAD_BYTES, BadRequest, Engine, png_bytes

MAX_GRID = 64


def data_uri(image: np.ndarray) -> str:
    """uint8 (C, H, W) -> a data: URI of its PNG (the page shows it with pixelated scaling)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def _truncation(q: dict) -> Optional[float]:
    text = q.get("trunc", [""])[0].strip()
    if text in ("", "off", "none"):
        return None
    try:
        t = float(text)
    except ValueError:
        raise BadRequest(f"truncation {text!r} is not a number") from None
    if not 0 < t <= 10 or math.isnan(t):
        raise BadRequest("truncation must be above 0 and at most 10")
    return t


def _int(q: dict, name: str, default: int, lo: int, hi: int) -> int:
    text = q.get(name, [str(default)])[0]
    try:
        v = int(text)
    except ValueError:
        raise BadRequest(f"{name} {text!r} is not a whole number") from None
    if not lo <= v <= hi:
        raise BadRequest(f"{name} must be {lo} to {hi}")
    return v


def _file_stem(source: str) -> str:
    """A download's file name for a source: 'seed:4@snowy' -> 'seed-4-snowy'."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in source)[:80]


def _gif(frames_chw: np.ndarray, fps: int = 12) -> bytes:
    """uint8 (T, C, H, W) -> looping GIF bytes (report/video.py's writer, via a temporary file)."""
    from ..report.video import enlarge, write_gif

    frames = enlarge(np.ascontiguousarray(frames_chw.transpose(0, 2, 3, 1)))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_gif(frames if frames.shape[-1] == 3 else np.repeat(frames, 3, -1), Path(tmp) / "v.gif", fps)
        return path.read_bytes()


class StudioHandler(BaseHTTPRequestHandler):
    """One request. The engine lives on the server (``self.server.engine``)."""

    server_version = "snowgan-studio"
    protocol_version = "HTTP/1.1"

    # ---- replies -----------------------------------------------------------------------

    def _send(self, status: int, body: bytes, ctype: str, filename: Optional[str] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if filename:
            self.send_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: dict, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            sys.stderr.write("studio: " + format % args + "\n")

    # ---- dispatch ----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _handle(self, fn) -> None:
        try:
            fn()
        except BadRequest as e:
            self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the tab went away mid-reply: nothing to tell anyone
        except Exception as e:  # noqa: BLE001 - one bad request must not stop the server
            traceback.print_exc()
            try:
                self._json({"error": f"internal error ({type(e).__name__}: {e})"}, HTTPStatus.INTERNAL_SERVER_ERROR)
            except OSError:
                pass

    def _get(self) -> None:
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        eng: Engine = self.server.engine
        route = url.path
        if route in ("/", "/index.html"):
            page = resources.files("snowgan.studio").joinpath("page.html").read_bytes()
            return self._send(200, page, "text/html; charset=utf-8")
        if route == "/api/info":
            return self._json(self.server.info)
        if route == "/favicon.ico":
            return self._send(204, b"", "image/x-icon")
        src = q.get("src", [""])[0]
        if route == "/api/grid":
            start = _int(q, "start", 0, 0, 2 ** 62)
            n = _int(q, "n", 9, 1, MAX_GRID)
            t0 = time.perf_counter()
            cls = q.get("cls", [""])[0]
            eng.label(cls)  # a bad class is one message, not n
            suffix = f"@{cls}" if cls else ""
            images = eng.images([f"seed:{start + i}{suffix}" for i in range(n)], _truncation(q))
            ms = (time.perf_counter() - t0) * 1000
            return self._json({"seeds": list(range(start, start + n)), "images": [data_uri(i) for i in images],
                               "ms": round(ms, 1)})
        if route == "/api/image.png":
            (image,) = eng.images([src], _truncation(q))
            name = _file_stem(src) + ".png" if q.get("download") else None
            return self._send(200, png_bytes(image), "image/png", name)
        if route == "/api/latent":
            from ..latentfile import save_latents

            z, label = eng.source(src, _truncation(q))
            meta = {"source": src} if label is None else {"source": src, "class": eng.class_names[label]}
            with tempfile.TemporaryDirectory() as tmp:
                save_latents(z, Path(tmp) / "z.safetensors", meta)
                body = (Path(tmp) / "z.safetensors").read_bytes()
            return self._send(200, body, "application/octet-stream", _file_stem(src) + ".safetensors")
        if route in ("/api/interp", "/api/interp.gif"):
            sources = [s for s in src.split(",") if s]
            t0 = time.perf_counter()
            frames = eng.interpolation(sources, _truncation(q), _int(q, "steps", 8, 2, 64))
            if route.endswith(".gif"):
                return self._send(200, _gif(frames), "image/gif", "interpolation.gif")
            return self._json({"images": [data_uri(f) for f in frames],
                               "ms": round((time.perf_counter() - t0) * 1000, 1)})
        if route == "/api/nearest":
            images, dist = eng.nearest(src, _truncation(q), _int(q, "k", 4, 1, 16))
            return self._json({"images": [data_uri(i) for i in images], "distances": dist})
        if route.startswith("/api/job"):
            return self._job(route, q, eng)
        raise BadRequest(f"no such page {route}")

    def _job(self, route: str, q: dict, eng: Engine) -> None:
        job = eng.jobs.get(q.get("id", [""])[0])
        if job is None:
            raise BadRequest("no such projection (the studio forgets projections when it stops)")
        res = job.result
        if route == "/api/job":
            out = {"id": job.id, "name": job.name, "state": job.state, "step": job.step, "steps": job.steps,
                   "loss": None if math.isnan(job.loss) else round(job.loss, 5), "error": job.error,
                   "seconds": round(job.seconds or (time.time() - job.started), 1),
                   "target": data_uri(job.target) if job.target is not None else None,
                   "snapshot": data_uri(job.snapshot) if job.snapshot is not None else None,
                   "note": eng.perceptual_note,
                   "class": None if job.label is None else eng.class_names[job.label]}
            if res is not None:
                out.update(psnr=round(res.psnr, 2), start_psnr=round(res.start_psnr, 2),
                           perceptual=None if math.isnan(res.perceptual) else round(res.perceptual, 4),
                           src=f"proj:{job.id}")
            return self._json(out)
        if res is None:
            raise BadRequest("this projection has not finished")
        if route == "/api/job/side.png":
            import io

            from PIL import Image

            from ..project import side_by_side  # the CLI's own picture, so both agree

            buf = io.BytesIO()
            Image.fromarray(side_by_side([res.target, res.frames[0], res.image])).save(buf, "PNG")
            return self._send(200, buf.getvalue(), "image/png", f"projection-{job.id}.png")
        if route == "/api/job/video.gif":
            return self._send(200, _gif(np.stack(res.frames), fps=8), "image/gif", f"projection-{job.id}.gif")
        raise BadRequest(f"no such page {route}")

    def _post(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/api/project":
            raise BadRequest(f"no such page {url.path}")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest("send the photo as the request body (with a Content-Length)") from None
        if length > MAX_UPLOAD_BYTES:
            # Read (and drop) what was sent so the browser gets the message rather than a reset
            # connection; past four times the limit close instead of reading any more.
            left = length if length <= 4 * MAX_UPLOAD_BYTES else 0
            while left > 0:
                left -= len(self.rfile.read(min(left, 1 << 20)) or b"x" * left)
            if not length <= 4 * MAX_UPLOAD_BYTES:
                self.close_connection = True
            raise BadRequest(f"the file is {length / 2**20:.0f} MB; the studio takes photos up to "
                             f"{MAX_UPLOAD_BYTES >> 20} MB")
        data = self.rfile.read(length)
        name = unquote(self.headers.get("X-Filename", "photo"))  # the page percent-encodes it
        cls = parse_qs(url.query).get("cls", [""])[0]
        job = self.server.engine.start_projection(data, name, cls)
        self._json({"job": job.id, "steps": job.steps})


class StudioServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the engine; one thread per request, daemon threads."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, engine: Engine, info: dict, host: str = "127.0.0.1", port: int = 0,
                 verbose: bool = False) -> None:
        self.engine, self.info, self.verbose = engine, info, verbose
        super().__init__((host, port), StudioHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"
