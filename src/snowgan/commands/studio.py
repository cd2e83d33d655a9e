"""`snowgan --mode studio --run RUN`: serve the studio page on 127.0.0.1 until Ctrl-C (or SIGTERM).

Nothing listens on other interfaces unless --host says so (the page has no login: anyone who
can reach the port can use the model and upload files). --port 0 picks a free port; the URL
is printed either way. Needs no extra package (snowgan/studio/server.py says why).
"""

from __future__ import annotations

import signal
import threading
import time

from ..config import Config, ConfigError
from .project import load_model


def _training_images(model_cfg: Config, cfg: Config, explicit: set[str]):
    """The run's prepared training images (uint8 (N, C, H, W)) for the nearest-image check, or None."""
    from ..data.load import load_dataset
    from ..flags import DATA_SOURCE_FIELDS, overlay

    try:
        return load_dataset(overlay(model_cfg, cfg, explicit, only=DATA_SOURCE_FIELDS)).images
    except (ConfigError, OSError, ValueError) as e:
        print(f"note: training images not available ({e}); pass --data PATH for the nearest-image check")
        return None


def main(cfg: Config, explicit: set[str]) -> int:
    """Load the model, start the server, print its URL, serve until interrupted; exit 0 after a clean stop."""
    from ..studio.engine import Engine
    from ..studio.server import StudioServer, bind_error

    if not 0 <= cfg.cmd.port <= 65535:
        raise ConfigError("--port must be 0 (any free port) to 65535")
    if cfg.cmd.project_steps < 1:
        raise ConfigError("--project_steps must be at least 1")
    t0 = time.perf_counter()
    G, model_cfg, desc, _, device = load_model(cfg)
    real = _training_images(model_cfg, cfg, explicit)
    engine = Engine(G, model_cfg, device, cfg.cmd.project_steps, real)
    h, w = model_cfg.image_hw
    info = {"model": desc, "height": h, "width": w, "channels": model_cfg.data.channels,
            "latent_dim": G.latent_dim, "device": str(device), "training_images": 0 if real is None else len(real),
            "project_steps": cfg.cmd.project_steps, "classes": engine.class_names}
    try:
        server = StudioServer(engine, info, cfg.cmd.host, cfg.cmd.port, verbose=cfg.run.progress == "lines")
    except OSError as e:
        raise ConfigError(bind_error(cfg.cmd.host, cfg.cmd.port, e)) from None
    if cfg.cmd.host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        print(f"warning: listening on {cfg.cmd.host}: anyone who can reach this port can use the studio")
    # Load the perceptual network now, beside serving, so the first upload does not wait for it.
    loader = threading.Thread(target=engine.perceptual, daemon=True, name="load-lite0")
    loader.start()
    # SIGTERM stops as Ctrl-C does; shutdown() must come from another thread than serve_forever's.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"studio: {server.url}  ({desc}; ready in {time.perf_counter() - t0:.1f} s; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        engine.close()
        # A daemon thread still inside torch when the interpreter exits aborts the process
        # ("terminate called without an active exception"): let the loader finish (a second or two).
        loader.join(timeout=30)
    print("studio: stopped", flush=True)
    return 0
