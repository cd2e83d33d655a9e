"""snowgan from Python (snowgan/api.py, docs/python.md): the same settings, checks and commands as the CLI.

Real tiny runs (16 px, a few steps, CPU) trained in this process, real files, the real CLI beside them:
the API's run is the CLI's run bit for bit, its images are `snowgan generate`'s and generate_onnx.py's,
its errors are the CLI's one-line messages raised as snowgan.ConfigError, Ctrl-C checkpoints and gives the
caller its handler back, and every example of docs/python.md runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

import snowgan
from conftest import cli_env, run_cli, run_cli_here
from snowgan.run.checkpoint import latest_valid
from snowgan.runfolder import RunFolder

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "python.md"
# A tiny DCGAN on the built-in images: a few seconds on a CPU.
TINY = dict(image_size=16, builtin_count=64, batch_size=8, g_width=8, d_width=8, loss="nonsat", progress="none",
            metrics_every=0, steps=4)


def flags(settings: dict) -> list[str]:
    """The same settings as a command line."""
    return [a for k, v in settings.items() for a in (f"--{k}", str(v))]


@contextlib.contextmanager
def working_in(folder: Path) -> Iterator[None]:
    """cwd, the dataset cache and the thread count a CLI subprocess (conftest.cli_env) would have."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("SNOWGAN_CACHE", str(folder / "cache"))
        mp.setenv("OMP_NUM_THREADS", cli_env()["OMP_NUM_THREADS"])
        yield


def pixels(images: list[Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(im) for im in images])


def pngs(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, "snowgan.Run"]]:
    """(work folder, the Run snowgan.train made); beside it, runs/00002-cli, the same settings through the CLI."""
    work = tmp_path_factory.mktemp("api")
    with working_in(work):
        run = snowgan.train(**TINY, name="api")
        run_cli_here("train", *flags(TINY), "--name", "cli", cwd=work)
        yield work, run


@pytest.mark.slow
def test_a_notebook_trains_generates_and_exports_to_onnx_with_the_clis_images(
        trained: tuple[Path, "snowgan.Run"]) -> None:
    """snowgan.train -> run.generate -> run.export(format="onnx") -> the same images as `snowgan generate`,
    the exported folder and its generate_onnx.py; and the run is the CLI's run with the same flags."""
    work, run = trained
    assert isinstance(run, snowgan.Run) and run.path == Path("runs/00001-api") and not run.interrupted
    assert snowgan.train is snowgan.api.train  # not replaced by the snowgan.train package the run imported

    # The run the CLI makes from the same flags: the same settings and decisions, the same weights, bit for bit.
    cli_dir = work / "runs" / "00002-cli"
    ours, theirs = (json.loads((work / d / "config.json").read_text()) for d in (run.path, cli_dir))
    assert ours.pop("decided").pop("run_name") == "api" and theirs.pop("decided").pop("run_name") == "cli"
    ours["run"].pop("name"), theirs["run"].pop("name")
    assert ours == theirs
    weights = [load_file(str(d / "checkpoints" / "step-00000004" / "model.safetensors"))
               for d in (work / run.path, cli_dir)]
    assert weights[0].keys() == weights[1].keys()
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])

    with working_in(work):
        images = run.generate(6, seed=3)
        assert len(images) == 6 and images[0].size == (16, 16) and images[0].mode == "RGB"
        model = run.export("model", format="onnx")
        from_model = model.generate(6, seed=3)
    run_cli("generate", "--run", run.path, "--n_samples", "6", "--seed", "3", "--out", "cli-images", cwd=work)
    assert np.array_equal(pixels(images), pngs(work / "cli-images"))
    assert isinstance(model, snowgan.Model) and not isinstance(model, snowgan.Run)
    assert (work / "model" / "generator.onnx").is_file()
    assert np.array_equal(pixels(from_model), pixels(images))

    # ONNX Runtime's images (the exported folder's own script) against PyTorch's, within export's tolerance.
    pytest.importorskip("onnxruntime", reason="pip install 'snowgan[onnx]' (the test extra has it)")
    subprocess.run([sys.executable, str(work / "model" / "generate_onnx.py"), "--n", "6", "--seed", "3",
                    "--out", str(work / "onnx-images")], check=True, capture_output=True, env=cli_env())
    onnx_images = pngs(work / "onnx-images").astype(int)
    assert onnx_images.shape == pixels(images).shape
    assert np.abs(onnx_images - pixels(images).astype(int)).max() <= 1


def test_settings_are_the_clis_flags_with_the_clis_errors(trained: tuple[Path, "snowgan.Run"]) -> None:
    """A bad value raises the CLI's one-line message as snowgan.ConfigError (never SystemExit), before
    anything is made; a misspelt keyword names the closest setting."""
    work, run = trained
    before = sorted((work / "runs").iterdir())
    cases = [(dict(image_size=100), ["--image_size", "100"]),
             (dict(arch="dcgna"), ["--arch", "dcgna"]),
             (dict(data="no-such-folder"), ["--data", "no-such-folder"]),
             (dict(batch_size="many"), ["--batch_size", "many"]),
             (dict(resume="run-that-is-not-there"), ["--resume", "run-that-is-not-there"])]
    with working_in(work):
        for kwargs, argv in cases:
            cli = run_cli_here("train", *argv, cwd=work, check=False)
            assert cli.returncode == 2 and cli.stderr.startswith("snowgan: error: "), cli.stderr
            with pytest.raises(snowgan.ConfigError) as e:
                snowgan.train(**kwargs)
            assert f"snowgan: error: {e.value}\n" == cli.stderr
        with pytest.raises(snowgan.ConfigError, match=r"unknown setting 'minuts'; did you mean minutes\?"):
            snowgan.train(minuts=3)
        cli = run_cli_here("generate", "--run", run.path, "--class", "volcano", cwd=work, check=False)
        with pytest.raises(snowgan.ConfigError) as e:
            run.generate(2, cls="volcano")
        assert f"snowgan: error: {e.value}\n" == cli.stderr
        with pytest.raises(snowgan.ConfigError, match="--run is this run's own"):
            run.generate(2, run="runs/00002-cli")
        with pytest.raises(snowgan.ConfigError, match="not found in runs/"):
            snowgan.load("no-such-run")
    assert sorted((work / "runs").iterdir()) == before  # nothing made


def test_a_locked_run_and_a_run_that_cannot_go_on_raise_what_the_cli_says(trained: tuple[Path, "snowgan.Run"]) -> None:
    """Where `snowgan train` exits 2 (another process trains the run) the API raises its RunLocked, a
    ConfigError; where it exits 3 (non-finite losses after the allowed rollbacks) TrainingStopped."""
    from snowgan.run.lock import RunLock, RunLocked

    work, run = trained
    with working_in(work):
        with RunLock.acquire(run.path):  # as a trainer in another process holds it
            cli = run_cli_here("train", "--resume", run.path, "--steps", "8", cwd=work, check=False)
            with pytest.raises(RunLocked) as e:
                snowgan.train(resume=run, steps=8)
        assert cli.returncode == 2 and cli.stderr == f"snowgan: error: {e.value}\n"
        with pytest.raises(snowgan.TrainingStopped) as stopped, contextlib.redirect_stdout(io.StringIO()) as out:
            # Adam moves every weight by ~lr on its first step: 1e38 overflows the next forward pass.
            snowgan.train(**{**TINY, "steps": 200, "progress": "lines"}, gen_lr=1e38, disc_lr=1e38, max_bad_steps=2,
                          max_rollbacks=2, precision="fp32", name="nan")
        assert str(stopped.value).startswith("snowgan: training stopped: ") and "learning rate" in str(stopped.value)
        assert stopped.value.run_dir.name.endswith("-nan") and out.getvalue().count("rolled back") == 2
        assert RunFolder(run.path).read_stats()[-1]["step"] == 4  # the locked run was not touched


def test_load_reprs_and_what_a_notebook_shows(trained: tuple[Path, "snowgan.Run"]) -> None:
    work, run = trained
    with working_in(work):
        again = snowgan.load("api", checkpoint="latest")  # a run's name, as --run takes it
        assert isinstance(again, snowgan.Run) and again.path == run.path and os.fspath(again) == str(run.path)
        assert repr(run) == ("<snowgan.Run runs/00001-api: dcgan, 16x16 px; step 4 (0.032 kimg); "
                             "latest grid runs/00001-api/samples/step-00000004.png>")
        grid = run.latest_grid
        assert run._repr_png_() == grid.read_bytes()
        assert "<pre>&lt;snowgan.Run runs/00001-api" in run._repr_html_()
        assert "data:image/png;base64," in run._repr_html_()
        assert run.config.model.arch == "dcgan" and run.config.image_hw == (16, 16)
        assert run.report == RunFolder(run.path).report
        # load's settings are defaults for the calls that read them: generate's truncation, not export's
        truncated = snowgan.load(run.path, truncation=1.5)
        assert np.array_equal(pixels(truncated.generate(3, seed=1)), pixels(run.generate(3, seed=1, truncation=1.5)))
        assert not np.array_equal(pixels(truncated.generate(3, seed=1)), pixels(run.generate(3, seed=1)))
        with contextlib.redirect_stderr(io.StringIO()) as err:
            exported = snowgan.load(truncated.export("plain"))
        assert "note:" not in err.getvalue()
        assert type(exported) is snowgan.Model
        assert repr(exported) == "<snowgan.Model plain: dcgan, 16x16 px, latent 100; from run 00001-api, step 4>"
        assert exported._repr_png_() == (work / "plain" / "samples" / "grid.png").read_bytes()
        # generate with out=: the CLI's files as well as the images
        images = run.generate(3, seed=5, out="written", checkpoint="latest")
    assert np.array_equal(pngs(work / "written"), pixels(images))
    assert sorted(p.name for p in (work / "written").iterdir()) == [f"seed{s:06d}.png" for s in (5, 6, 7)]


def _sigint_once_training(run_dir: Path, handler) -> threading.Thread:
    """A thread that sends this process SIGINT (as Jupyter's "interrupt the kernel" does) once the trainer
    has put its own handler in place and logged a step."""
    def watch() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            if signal.getsignal(signal.SIGINT) is not handler and RunFolder(run_dir).read_stats():
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_ctrl_c_in_a_notebook_saves_a_checkpoint_and_gives_the_handler_back(tmp_path: Path) -> None:
    caught: list[int] = []

    def ours(signum, frame) -> None:  # the caller's own handler (a kernel's, a script's)
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, ours)
    try:
        with working_in(tmp_path), contextlib.redirect_stdout(io.StringIO()) as out:
            watcher = _sigint_once_training(tmp_path / "runs" / "00001-long", ours)
            run = snowgan.train(**{**TINY, "steps": 100_000, "log_every": 1, "progress": "lines"}, name="long")
            watcher.join()
            assert signal.getsignal(signal.SIGINT) is ours and caught == []  # the trainer took it, then gave it back
            assert run.interrupted and "interrupted, checkpoint saved" in repr(run)
            assert "SIGINT received: finishing this step and saving a checkpoint" in out.getvalue()
            stopped = latest_valid(tmp_path / run.path)
            step = int(stopped.name.removeprefix("step-"))
            assert 1 <= step < 100_000 and RunFolder(run.path).read_stats()[-1]["step"] == step
            assert not (tmp_path / run.path / "train.lock").exists()

            resumed = snowgan.train(resume=run, steps=step + 2, progress="none")
        assert resumed.path == run.path and not resumed.interrupted
        assert f"resumed from {stopped.name}: step {step}" in (tmp_path / run.path / "log.txt").read_text()
        assert RunFolder(tmp_path / run.path).read_stats()[-1]["step"] == step + 2
        assert signal.getsignal(signal.SIGINT) is ours
    finally:
        signal.signal(signal.SIGINT, previous)


def test_import_snowgan_stays_torch_free_and_fast() -> None:
    """The API's names resolve without torch (they import it when called), as `snowgan --help` does."""
    code = ("import sys, time; t = time.time(); import snowgan; snowgan.train, snowgan.load, snowgan.Run, "
            "snowgan.ConfigError, snowgan.TrainingStopped; print('torch' in sys.modules, time.time() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), check=True)
    torch_loaded, seconds = out.stdout.split()
    assert torch_loaded == "False" and float(seconds) < 2.0


def test_progress_draws_a_bar_in_a_notebook_and_lines_elsewhere(tmp_path: Path) -> None:
    """In a Jupyter kernel (IPython's shell with an IPKernelApp config, here a stand-in package: no kernel in
    the test extra) the display is tqdm.auto's bar even though stderr is no terminal; elsewhere the lines."""
    (tmp_path / "IPython").mkdir()
    (tmp_path / "IPython" / "__init__.py").write_text(
        "class _Kernel:\n    config = {'IPKernelApp': {}}\n\n\ndef get_ipython():\n    return _Kernel()\n")
    show = ("import sys; {setup}from snowgan.progress import Progress, in_notebook; print(in_notebook()); "
            "p = Progress(10, 'work', mode='auto', every_s=1e9); p.update(10); p.close()")
    kernel = subprocess.run([sys.executable, "-c", show.format(setup="import IPython; ")], capture_output=True,
                            text=True, env=cli_env({"PYTHONPATH": f"{tmp_path}{os.pathsep}{cli_env()['PYTHONPATH']}"}))
    plain = subprocess.run([sys.executable, "-c", show.format(setup="")], capture_output=True, text=True,
                           env=cli_env())
    assert kernel.stdout == "True\n" and plain.stdout == "False\n"
    assert re.search(r"work: 100%\|█+\| 10/10", kernel.stderr), kernel.stderr
    assert plain.stderr.startswith("work: 10/10 it · 100%") and "█" not in plain.stderr


# ---- docs/python.md: every example runs ---------------------------------------------------------------

# The page's examples with tiny sizes and lengths (each replacement must still be found in the page).
SMALLER = {
    'snowgan.train("photos/", minutes=20, image_size=128)': 'snowgan.train("photos/", steps=4, image_size=16, '
                                                           'batch_size=8, backbone_size=64)',
    'run.interpolate("walk.gif")': 'run.interpolate("walk.gif", frames=8, keyframes=2)',
    'model.project("photo.jpg")': 'model.project("photo.jpg", project_steps=3, perceptual_weight=0)',
    "snowgan.train(resume=run, kimg=50)": "snowgan.train(resume=run, steps=6)",
}


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


@pytest.mark.slow
def test_every_example_in_docs_python_runs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(16):  # two classes in sub-folders, as the page's "snowy" expects
        folder = tmp_path / "photos" / ("snowy" if i % 2 else "green")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((20, 20, 3)) * 255).astype(np.uint8)).save(folder / f"{i:02d}.png")
    Image.fromarray((rng.random((24, 24, 3)) * 255).astype(np.uint8)).save(tmp_path / "photo.jpg")

    text = DOC.read_text(encoding="utf-8")
    missing = [k for k in SMALLER if k not in text]
    assert not missing, f"docs/python.md no longer has {missing}: update SMALLER"
    for long, short in SMALLER.items():
        text = text.replace(long, short)
    blocks = python_blocks(text)
    assert len(blocks) == 7
    namespace: dict = {}
    with working_in(tmp_path):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            for block in blocks:
                exec(compile(block, "docs/python.md", "exec"), namespace)
        run = namespace["run"]
        config = run.config
        assert namespace["projection"].latent.is_file()
    printed = out.getvalue()

    assert run.path == Path("runs/00001-photos") and config.class_list == ["green", "snowy"]
    assert config.model.arch == "projected"  # the --data default, as `snowgan train --data photos/` gets
    assert len(namespace["images"]) == 16 and (tmp_path / "first.png").is_file() and (tmp_path / "walk.gif").is_file()
    assert len(list((tmp_path / "samples").glob("*.png"))) == 8
    assert len(namespace["snowy"]) == 8 and len(namespace["again"]) == 1
    assert "PSNR" in printed
    assert (tmp_path / "my-model" / "generator.onnx").is_file() and "<snowgan.Model my-model: projected" in printed
    assert RunFolder(tmp_path / run.path).read_stats()[-1]["step"] == 6  # resumed
    assert "--image_size 100: each side must be base*2^k with base 3..8 and k>=2" in printed
    quoted = re.search(r"prints `(--image_size 100: .*?)`", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert quoted and " ".join(quoted.group(1).split()) in printed  # the message the page quotes
