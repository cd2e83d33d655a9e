"""A real `snowgan --mode studio` in a subprocess, a tiny trained run for it, and raw HTTP to attack it with.

Shared by test_studio.py (the page and the API as a user drives them) and test_studio_attacks.py
(the same server as a hostile web page or a broken client would drive it).
"""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from PIL import Image

from conftest import cli_env, run_cli

TINY = ["--image_size", "16", "--builtin_count", "64", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "none", "--metrics_every", "0"]


def png(size: tuple[int, int] = (90, 60), colour: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def train_tiny_run(work: Path, *flags: str) -> Path:
    """work/runs/ gets a 4-step 16 px run (a few seconds on a CPU); returns work."""
    run_cli("--mode", "train", "--loss", "nonsat", *TINY, "--steps", "4", "--name", "tiny", *flags, cwd=work,
            env={"SNOWGAN_CACHE": str(work / "cache")})
    return work


class Studio:
    """`snowgan --mode studio --port 0` in a subprocess; url is read from its first line, the page's
    upload token from the page (as the page's own script reads it)."""

    def __init__(self, work: Path, *flags: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "snowgan", "--mode", "studio", "--port", "0", *flags],
                                     cwd=work, env=cli_env({"SNOWGAN_CACHE": str(work / "cache")}),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        t0 = time.time()
        for line in self.proc.stdout:
            self.lines.append(line)
            if m := re.search(r"studio: (http://(127\.0\.0\.1|\[::1\]):(\d+)/)", line):
                self.url, self.host, self.port = m.group(1), m.group(2), int(m.group(3))
                self.start_s = time.time() - t0
                break
        else:
            raise AssertionError("the studio exited before serving:\n" + "".join(self.lines))
        found = re.search(r'name="studio-token" content="([^"]+)"', self.get("/")[1].decode())
        self.token = found.group(1) if found else ""  # "" lets the attack table run against a studio without one

    def get(self, path: str, headers: Optional[dict] = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path.lstrip("/"), headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, path: str, data: bytes, headers: Optional[dict] = None) -> tuple[int, dict]:
        """A POST as the page sends it (with its token), unless headers replace them."""
        headers = {"X-Filename": "x", "X-Studio-Token": self.token} if headers is None else headers
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def raw(self, request: bytes, then_close: bool = False, timeout: float = 30) -> tuple[int, bytes]:
        """Send bytes as they are (a malformed or hostile request); return (status, whole reply).

        then_close: shut our side for writing after sending (a client that stops mid-body).
        Status 0 = the server closed without a reply."""
        with socket.create_connection(("127.0.0.1" if self.host.startswith("127") else "::1", self.port),
                                      timeout=timeout) as s:
            s.sendall(request)
            if then_close:
                s.shutdown(socket.SHUT_WR)
            reply = b""
            try:
                while chunk := s.recv(1 << 16):
                    reply += chunk
                    if _complete(reply):
                        break
            except ConnectionResetError:
                pass
        m = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
        return (int(m.group(1)) if m else 0), reply

    def rss_kb(self, field: str = "VmHWM") -> int:
        """The server process's peak (VmHWM) or current (VmRSS) resident memory in kB, from /proc."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1))

    def stop(self, timeout: float = 60) -> str:
        """SIGTERM, as a service manager stops it: exit 0, 'stopped', the port free again."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, "".join(self.lines) + out
        with socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET) as s:
            assert s.connect_ex((self.host.strip("[]"), self.port)) != 0, "something still listens on the studio's port"
        return "".join(self.lines) + out


def _complete(reply: bytes) -> bool:
    """True once a reply's headers and its Content-Length of body have arrived."""
    head, sep, body = reply.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length: (\d+)", head)
    return bool(sep) and m is not None and len(body) >= int(m.group(1))
