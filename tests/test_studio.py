"""`--mode studio`: the engine alone, the HTTP API (bad uploads, several tabs), and the page in headless Chromium.

Screenshots of each browser state go to tmp; set SNOWGAN_STUDIO_SHOTS=DIR to keep them
(docs/images/ holds the ones in the README).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from browser_helpers import INSTALL, Browser, chromium_path
from conftest import run_cli
from studio_helpers import TINY, Studio, png, train_tiny_run
from snowgan.config import Config
from snowgan.models.conditional import ConditionalBatchNorm2d
from snowgan.models.registry import build_networks
from snowgan.studio.engine import BadRequest, Engine



@pytest.fixture(scope="module")
def engine() -> Engine:
    cfg = Config()
    cfg.data.image_size, cfg.model.g_width = "16", 8
    torch.manual_seed(0)
    G = build_networks(cfg)[0]
    real = np.random.default_rng(0).integers(0, 256, (10, 3, 16, 16), dtype=np.uint8)
    return Engine(G, cfg, "cpu", project_steps=5, dataset_images=real)


def test_engine_sources_truncation_and_interpolation(engine: Engine) -> None:
    a = engine.images(["seed:3"], None)
    assert a.shape == (1, 3, 16, 16) and a.dtype == np.uint8
    assert np.array_equal(a, engine.images(["seed:3"], None))  # a seed is one image, every time
    assert not torch.equal(engine.latent("seed:3", None), engine.latent("seed:3", 0.3))
    frames = engine.interpolation(["seed:1", "seed:2", "seed:3"], None, steps=4)
    assert len(frames) == 7  # two legs of four, the shared keyframe once
    for bad in ("seed:x", "proj:99", "cat:1"):
        with pytest.raises(BadRequest):
            engine.latent(bad, None)
    with pytest.raises(BadRequest, match="at least two"):
        engine.interpolation(["seed:1"], None)


def test_engine_compares_random_crop_data_by_its_centre() -> None:
    """random-crop runs store images with a margin; the nearest-image check uses the centred window."""
    cfg = Config()
    cfg.data.image_size, cfg.model.g_width = "16", 8
    stored = np.zeros((2, 3, 18, 18), np.uint8)
    eng = Engine(build_networks(cfg)[0], cfg, dataset_images=stored)
    assert eng.real.shape == (2, 3, 16, 16)
    assert len(eng.nearest("seed:0", None, k=2)[1]) == 2


def test_engine_nearest_finds_a_copied_training_image(engine: Engine) -> None:
    copy = engine.images(["seed:5"], None)[0]
    engine.real = np.concatenate([engine.real, copy[None]])
    engine._real_flat = None
    images, dist = engine.nearest("seed:5", None, k=3)
    assert np.array_equal(images[0], copy) and dist[0] == 0.0 and dist[1] > 0


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello, not a picture", "not an image"),
    (png((9000, 6000)), "megapixels"),
    (png()[:60], "truncated or corrupt"),
])
def test_engine_refuses_bad_uploads_with_a_reason(engine: Engine, data: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        engine.start_projection(data, "upload")


def test_engine_projection_job_finishes(engine: Engine) -> None:
    job = engine.start_projection(png(), "blue.png")
    for _ in range(600):
        if job.state in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job.state == "done", job.error
    assert job.step == 5 and job.result.image.shape == (3, 16, 16)
    assert engine.latent(f"proj:{job.id}", None).shape == (1, 100)


@pytest.fixture(scope="module")
def cond_engine() -> Engine:
    """A conditional G (3 classes) whose per-class BatchNorm shifts are large, so classes draw different images."""
    cfg = Config()
    cfg.data.image_size, cfg.model.g_width = "16", 8
    cfg.model.conditional, cfg.model.class_names = True, "desert,green,snowy"
    torch.manual_seed(0)
    G = build_networks(cfg)[0]
    G.class_names = cfg.class_list  # as load_run and load_generator set it
    with torch.no_grad():  # the classes' BatchNorm shifts start at 0 (one shared G): make them differ
        for m in G.modules():
            if isinstance(m, ConditionalBatchNorm2d):
                torch.nn.init.normal_(m.beta.weight, 0.0, 2.0)
    return Engine(G, cfg, "cpu", project_steps=4)


def test_engine_conditional_sources_carry_their_class(cond_engine: Engine) -> None:
    eng = cond_engine
    assert eng.class_names == ["desert", "green", "snowy"]
    by_name = eng.images(["seed:3@snowy"], None)
    assert np.array_equal(by_name, eng.images(["seed:3@2"], None))  # a name or an index
    assert np.array_equal(eng.images(["seed:3"], None), eng.images(["seed:3@desert"], None))  # default: first
    assert not np.array_equal(by_name, eng.images(["seed:3@green"], None))
    # In a batch each source keeps its own class (no i mod K by position).
    batch = eng.images(["seed:1@green", "seed:3@snowy"], None)
    assert np.array_equal(batch[1], by_name[0])
    with pytest.raises(BadRequest, match="not a class of this model.*desert, green, snowy"):
        eng.images(["seed:3@rainy"], None)
    with pytest.raises(BadRequest, match="has no classes"):
        Engine(build_networks(Config())[0], Config()).label("snowy")


def test_engine_interpolates_between_classes(cond_engine: Engine) -> None:
    eng = cond_engine
    frames = eng.interpolation(["seed:3@desert", "seed:3@snowy"], None, steps=5)
    assert len(frames) == 5
    assert np.array_equal(frames[0], eng.images(["seed:3@desert"], None)[0])
    assert np.array_equal(frames[-1], eng.images(["seed:3@snowy"], None)[0])
    # the same latent, so only the class moves: the middle frame is neither end
    assert not np.array_equal(frames[2], frames[0]) and not np.array_equal(frames[2], frames[-1])


def test_engine_projects_as_the_asked_class(cond_engine: Engine) -> None:
    eng = cond_engine
    with pytest.raises(BadRequest, match="not a class"):
        eng.start_projection(png(), "blue.png", "rainy")
    job = eng.start_projection(png(), "blue.png", "green")
    for _ in range(600):
        if job.state in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job.state == "done", job.error
    z, label = eng.source(f"proj:{job.id}", None)
    assert label == 1 and job.result.label == 1
    assert np.array_equal(eng.images([f"proj:{job.id}"], None)[0], eng.render(z, torch.tensor([1]))[0])


# ---- the real command: HTTP and the browser ----------------------------------------------------

@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose runs/ holds a tiny trained run; SNOWGAN_STUDIO_WORKDIR=DIR uses DIR's newest run
    instead (how the README's screenshots were taken from a run trained on real photos)."""
    if os.environ.get("SNOWGAN_STUDIO_WORKDIR"):
        return Path(os.environ["SNOWGAN_STUDIO_WORKDIR"])
    return train_tiny_run(tmp_path_factory.mktemp("studio"))


def test_http_api_survives_bad_requests_and_many_tabs(run_folder: Path) -> None:
    studio = Studio(run_folder, "--project_steps", "3")
    try:
        status, body = studio.get("/")
        assert status == 200 and b"snowgan studio" in body
        info = json.loads(studio.get("/api/info")[1])
        assert (info["height"], info["width"], info["latent_dim"]) == (16, 16, 100)
        # Bad uploads: a clear message each, then the server still answers.
        for data, message in ((b"plain text", "not an image"), (png((9000, 6000)), "megapixels")):
            status, reply = studio.post("/api/project", data)
            assert status == 400 and message in reply["error"]
        status, reply = studio.get("/api/grid?trunc=-1")
        assert status == 400 and "truncation" in json.loads(reply)["error"]
        # Several tabs at once: 24 grid and image requests in parallel, all answered.
        paths = [f"/api/grid?start={i}&n=9" for i in range(12)] + [f"/api/image.png?src=seed:{i}" for i in range(12)]
        with ThreadPoolExecutor(8) as pool:
            statuses = [s for s, _ in pool.map(studio.get, paths)]
        assert statuses == [200] * len(paths)
        status, reply = studio.post("/api/project", png())
        assert status == 200 and reply["steps"] == 3
    finally:
        out = studio.stop()
    assert "studio: stopped" in out and "Traceback" not in out


@pytest.mark.skipif(chromium_path() is None, reason=f"headless Chromium not installed ({INSTALL})")
def test_page_in_headless_chromium(run_folder: Path, tmp_path: Path) -> None:
    shots = Path(os.environ.get("SNOWGAN_STUDIO_SHOTS") or tmp_path / "shots")
    photo = Path(os.environ.get("SNOWGAN_STUDIO_PHOTO") or tmp_path / "photo.png")
    if not photo.is_file():
        photo.write_bytes(png((120, 80), (200, 90, 40)))
    bad = tmp_path / "holiday.jpg"
    bad.write_text("this is a text file with a picture's name")
    studio = Studio(run_folder, "--project_steps", os.environ.get("SNOWGAN_STUDIO_STEPS", "15"))
    browser = Browser(tmp_path / "profile")
    timings: dict[str, float] = {"server start": studio.start_s}
    try:
        t0 = time.time()
        browser.goto(studio.url)
        browser.wait("document.querySelectorAll('#grid img').length === 9 && "
                     "[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)",
                     what="the seed grid")
        timings["page with grid"] = time.time() - t0
        assert browser.js("document.getElementById('model').textContent").startswith("run 0000")
        # Before any interaction: an unconditional model shows no class selector (issue 39: an empty
        # one showed), empty image slots show no alt text, and "pick it" looks as inactive as it is.
        assert browser.js("getComputedStyle(document.getElementById('cls-row')).display") == "none"
        assert browser.js("getComputedStyle(document.getElementById('picked-img')).visibility") == "hidden"
        assert browser.js("getComputedStyle(document.getElementById('use-proj')).opacity") == "0.4"
        browser.screenshot(shots / "studio-0-before-use.png")
        height = json.loads(studio.get("/api/info")[1])["height"]
        browser.screenshot(shots / "studio-1-grid.png")

        # Click a seed: it is picked, shown big, and its nearest training images appear.
        browser.click('#grid img[data-seed="4"]')
        browser.wait("document.querySelector('#grid img[data-seed=\"4\"]').classList.contains('picked') && "
                     "document.getElementById('picked-img').naturalWidth > 0 && "
                     "document.querySelectorAll('#nearest img').length === 4", what="seed 4 picked")
        assert browser.js("document.getElementById('picked-name').textContent") == "seed:4"
        # Shift-click a second one: the interpolation strip between them appears.
        browser.click('#grid img[data-seed="7"]', shift=True)
        browser.wait("document.querySelectorAll('#interp img').length === 8", what="the interpolation strip")
        assert browser.js("document.getElementById('dl-gif').getAttribute('aria-disabled')") == "false"
        browser.screenshot(shots / "studio-2-picked.png")

        # Move the truncation slider (as a keyboard user: focus + arrow keys): the images change.
        before = browser.js("document.querySelector('#grid img[data-seed=\"0\"]').src")
        browser.js("document.getElementById('trunc').focus()")
        for _ in range(25):
            for kind in ("keyDown", "keyUp"):
                browser.call("Input.dispatchKeyEvent", {"type": kind, "key": "ArrowLeft", "code": "ArrowLeft",
                                                        "windowsVirtualKeyCode": 37})
        assert browser.js("document.getElementById('trunc-value').textContent") == "0.5"
        t0 = time.time()
        browser.wait(f"document.querySelector('#grid img[data-seed=\"0\"]').src !== {json.dumps(before)}",
                     what="the grid to change with truncation")
        timings["grid after slider"] = time.time() - t0
        browser.screenshot(shots / "studio-3-truncation.png")

        # Upload a photo: live progress, then the reconstruction and its figures.
        t0 = time.time()
        browser.set_files("#upload", [photo])
        browser.wait("document.getElementById('recon').dataset.done === '1'", timeout=180, what="the projection")
        timings["projection"] = time.time() - t0
        figures = browser.js("document.getElementById('recon-figures').textContent")
        assert "PSNR" in figures and "perceptual distance" in figures
        assert browser.js("document.getElementById('target').naturalHeight") == height
        assert browser.js("document.getElementById('error').style.display") != "block"
        browser.click("#use-proj")
        browser.wait("document.getElementById('picked-name').textContent.startsWith('proj:')",
                     what="the projection picked for a walk")
        # seed 4 -> seed 7 -> the photo: two legs of 8 frames sharing one keyframe
        browser.wait("document.querySelectorAll('#interp img').length === 15", what="the walk to the photo")
        browser.screenshot(shots / "studio-4-projection.png")

        # A bad file: the page says why, and the server goes on serving.
        browser.set_files("#upload", [bad])
        msg = browser.wait("document.getElementById('error').style.display === 'block' && "
                           "document.getElementById('error').textContent", what="the upload error")
        assert "holiday.jpg" in msg and "not an image" in msg
        browser.screenshot(shots / "studio-5-bad-upload.png")
        assert studio.get("/api/info")[0] == 200
    finally:
        browser.close()
        out = studio.stop()
    assert "studio: stopped" in out
    print("studio timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))


@pytest.mark.skipif(chromium_path() is None, reason=f"headless Chromium not installed ({INSTALL})")
def test_page_class_selector_for_a_conditional_model(tmp_path: Path) -> None:
    """A conditional run: the page lists its classes; choosing one redraws the grid; a picked seed keeps
    its class, and picking seeds of two classes gives a walk between them. An unconditional page hides
    the selector (test_page_in_headless_chromium)."""
    work = tmp_path / "work"
    work.mkdir()
    run_cli("--mode", "train", "--loss", "nonsat", *TINY, "--conditional", "--steps", "4", "--name", "cond",
            cwd=work, env={"SNOWGAN_CACHE": str(work / "cache")})
    studio = Studio(work, "--project_steps", "3")
    browser = Browser(tmp_path / "profile")
    grid_ready = ("document.querySelectorAll('#grid img').length === 9 && "
                  "[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)")
    try:
        info = json.loads(studio.get("/api/info")[1])
        assert info["classes"] == ["desert", "green", "snowy", "rocky"]
        browser.goto(studio.url)
        browser.wait(grid_ready + " && !document.getElementById('cls-row').hidden", what="the grid and classes")
        names = browser.js("[...document.querySelectorAll('#cls option')].map(o => o.value).join(',')")
        assert names == ",".join(info["classes"])
        browser.click('#grid img[data-seed="4"]')
        browser.wait("document.getElementById('picked-name').textContent === 'seed:4@desert'", what="seed 4 picked")
        before = browser.js("document.querySelector('#grid img[data-seed=\"0\"]').src")
        browser.js("const s = document.getElementById('cls'); s.value = 'snowy'; s.dispatchEvent(new Event('change'))")
        browser.wait(f"document.querySelector('#grid img[data-seed=\"0\"]').src !== {json.dumps(before)}",
                     what="the grid redrawn as snowy")
        assert browser.js("document.querySelector('#grid img[data-seed=\"4\"]').classList.contains('picked')") is False
        browser.click('#grid img[data-seed="4"]', shift=True)
        browser.wait("document.querySelectorAll('#interp img').length === 8", what="the walk desert -> snowy")
        browser.screenshot(Path(os.environ.get("SNOWGAN_STUDIO_SHOTS") or tmp_path / "shots") / "studio-6-classes.png")
        assert browser.js("[...document.querySelectorAll('#picked-list .chip')].map(c => c.textContent).join(' ')") \
            == "seed:4@desert seed:4@snowy"
        assert browser.js("document.getElementById('error').style.display") != "block"
        status, _ = studio.get("/api/grid?cls=rainy")
        assert status == 400
    finally:
        browser.close()
        out = studio.stop()
    assert "studio: stopped" in out and "Traceback" not in out
