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
an unexpected exception gets 500 and the same shape, and the server keeps serving. Before any
route, guard.py decides whether the request is the page's own (403 otherwise); limits.py bounds
what one request may ask for, the body it may send and the connections served at once (503 past
them, as for a full projection queue).
"""

from __future__ import annotations

import base64
import errno
import math
import socket
import sys
import tempfile
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from .engine import BadRequest, Engine, png_bytes
from .guard import Guard
from .limits import (BODY_READ_SECONDS, LINGER_SECONDS, MAX_CONNECTIONS, MAX_DRAIN_BYTES, MAX_GRID,
                     MAX_INTERP_SOURCES, MAX_INTERP_STEPS, MAX_NEAREST, MAX_UPLOAD_BYTES, SOCKET_TIMEOUT_SECONDS)

# Headers on every reply: no sniffing a JSON reply as HTML, no framing (clickjacking), no referrer
# leaking seeds to other sites, and no other origin may embed the replies (CORP).
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer", "Cross-Origin-Resource-Policy": "same-origin"}
# The page's own policy: its inline script and style, images from itself and data: URIs, fetches
# to itself only, and no frame may hold it.
PAGE_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
               "form-action 'none'")


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
    timeout = SOCKET_TIMEOUT_SECONDS  # StreamRequestHandler sets it on the socket: slow or idle clients end

    # ---- replies -----------------------------------------------------------------------

    def _send(self, status: int, body: bytes, ctype: str, filename: Optional[str] = None,
              headers: Optional[dict] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(key, value)
        if filename:
            self.send_header("Content-Disposition", f'attachment; filename="{filename}"')
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: dict, status: int = 200) -> None:
        from ..files import json_text  # strict: a bare NaN would break the page's JSON.parse

        self._send(status, json_text(obj).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        """{"error": message} with status; a client that has gone away is nobody to tell."""
        try:
            self._json({"error": message}, status)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            sys.stderr.write("studio: " + format % args + "\n")

    # ---- dispatch ----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle(self._get)

    def do_HEAD(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _handle(self, fn) -> None:
        refusal = self.server.guard.refusal(self.command, urlsplit(self.path).path, self.headers)
        if refusal:
            self.close_connection = self.command == "POST"  # its body, if any, is never read
            return self._error(HTTPStatus.FORBIDDEN, refusal)
        try:
            fn()
        except BadRequest as e:
            self._error(e.status, str(e))
        except OSError as e:
            # The tab went away mid-reply (BrokenPipe, ConnectionReset) or stopped sending (timeout):
            # nothing to tell anyone; the connection ends.
            self.close_connection = True
            if not isinstance(e, (BrokenPipeError, ConnectionResetError, TimeoutError)):
                traceback.print_exc()
        except Exception as e:  # noqa: BLE001 - one bad request must not stop the server
            traceback.print_exc()
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(e).__name__}: {e})")

    def _get(self) -> None:
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        eng: Engine = self.server.engine
        route = url.path
        if route in ("/", "/index.html"):
            page = resources.files("snowgan.studio").joinpath("page.html").read_text(encoding="utf-8")
            page = page.replace("{{STUDIO_TOKEN}}", self.server.guard.token)
            return self._send(200, page.encode("utf-8"), "text/html; charset=utf-8",
                              headers={"Content-Security-Policy": PAGE_POLICY,
                                       "Cross-Origin-Opener-Policy": "same-origin"})
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
            sources = [s for s in src.split(",", MAX_INTERP_SOURCES) if s]  # one more than allowed is enough to refuse
            t0 = time.perf_counter()
            frames = eng.interpolation(sources, _truncation(q), _int(q, "steps", 8, 2, MAX_INTERP_STEPS))
            if route.endswith(".gif"):
                return self._send(200, _gif(frames), "image/gif", "interpolation.gif")
            return self._json({"images": [data_uri(f) for f in frames],
                               "ms": round((time.perf_counter() - t0) * 1000, 1)})
        if route == "/api/nearest":
            images, dist = eng.nearest(src, _truncation(q), _int(q, "k", 4, 1, MAX_NEAREST))
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
            self.close_connection = True  # the body, if any, is not read
            raise BadRequest(f"no such page {url.path}")
        data = self._body()
        name = unquote(self.headers.get("X-Filename", "photo"))  # the page percent-encodes it
        cls = parse_qs(url.query).get("cls", [""])[0]
        job = self.server.engine.start_projection(data, name, cls)
        self._json({"job": job.id, "steps": job.steps})

    def _body(self) -> bytes:
        """The request body, at most MAX_UPLOAD_BYTES, all of it within BODY_READ_SECONDS.

        A missing or malformed Content-Length is refused (411/400) rather than read until the client
        closes; an oversized one is read and dropped up to MAX_DRAIN_BYTES so the browser shows the
        message rather than a reset connection, and past that the connection is closed unread."""
        text = self.headers.get("Content-Length")
        if text is None or self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise BadRequest("send the photo as the request body with a Content-Length", HTTPStatus.LENGTH_REQUIRED)
        if not text.strip().isdigit():  # int() would take '-1' or ' +5': only plain digits are a length
            self.close_connection = True
            raise BadRequest(f"Content-Length {text!r} is not a size in bytes")
        length = int(text)
        too_big = length > MAX_UPLOAD_BYTES
        if too_big and length > MAX_DRAIN_BYTES:
            self.close_connection = True
        else:
            data = self._read(length)
        if too_big:
            raise BadRequest(f"the file is {length / 2**20:.0f} MB; the studio takes photos up to "
                             f"{MAX_UPLOAD_BYTES >> 20} MB", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        return data

    def _read(self, length: int) -> bytes:
        """Exactly length bytes of body, or BadRequest when the client stops short or is too slow."""
        deadline = time.monotonic() + BODY_READ_SECONDS
        parts, left = [], length
        while left > 0:
            if time.monotonic() > deadline:
                self.close_connection = True
                raise BadRequest(f"the upload took over {BODY_READ_SECONDS:.0f} s", HTTPStatus.REQUEST_TIMEOUT)
            chunk = self.rfile.read1(min(left, 1 << 16))  # returns what has arrived (the socket has a timeout)
            if not chunk:
                self.close_connection = True
                raise BadRequest(f"the upload stopped after {length - left} of {length} bytes")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)


class StudioServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the engine and the guard; one daemon thread per connection,
    at most MAX_CONNECTIONS at once (the next gets a 503 and is closed)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, engine: Engine, info: dict, host: str = "127.0.0.1", port: int = 0,
                 verbose: bool = False) -> None:
        self.engine, self.info, self.verbose = engine, info, verbose
        # An IPv6 address needs an IPv6 socket (socketserver's default is IPv4 only).
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__((host.strip("[]"), port), StudioHandler)
        self.guard = Guard.for_address(host, self.server_address[1])

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            body = b'{"error": "busy: too many connections to the studio; try again"}'
            try:
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def shutdown_request(self, request) -> None:
        """Close gracefully: stop writing, then read and drop what the client still sends (a body we
        refused) for up to LINGER_SECONDS. Closing on unread bytes would send a reset, and the client
        would lose the reply that says why."""
        try:
            request.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                request.settimeout(left)
                if not request.recv(1 << 16):
                    break
        except OSError:
            pass
        self.close_request(request)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def bind_error(host: str, port: int, e: OSError) -> str:
    """Why the studio cannot listen, in words that name the true cause (the port only when it is the port)."""
    if e.errno == errno.EADDRINUSE:
        return f"cannot listen on port {port}: another program uses it; choose another --port (0 = any free one)"
    if e.errno == errno.EACCES:
        return f"cannot listen on port {port}: ports below 1024 need administrator rights; choose another --port"
    if isinstance(e, socket.gaierror) or e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return (f"cannot listen on --host {host}: it is not an address of this machine"
                + (" (or IPv6 is switched off here)" if ":" in host else "")
                + "; use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)")
    return f"cannot listen on {host}:{port} ({e.strerror or e})"
