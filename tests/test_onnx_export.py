"""snowgan export --format onnx: every family's generator as generator.onnx, checked by ONNX Runtime, and
generate_onnx.py making the same PNGs as `snowgan generate` in a virtual environment without torch.

Real tiny runs (16 px, a few steps, CPU), the real CLI in a subprocess for the exports, real files.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import cli_env, run_cli, run_cli_here
from lite0_helpers import fake_state_dict

onnx = pytest.importorskip("onnx", reason="pip install 'snowgan[onnx]' (the test extra has it)")
ort = pytest.importorskip("onnxruntime", reason="pip install 'snowgan[onnx]' (the test extra has it)")

from snowgan import onnx_export  # noqa: E402
from snowgan.export import load_generator  # noqa: E402
from snowgan.pretrained.efficientnet_lite import LITE0_WEIGHTS  # noqa: E402
from snowgan.sample import latents  # noqa: E402

TINY = ["--image_size", "16", "--builtin_count", "32", "--batch_size", "4", "--g_width", "4", "--d_width", "4",
        "--max_width", "16", "--progress", "none", "--metrics_every", "0", "--steps", "6"]
# Every family, conditional where it can be; latent sizes cover both of torch.randn's CPU paths
# (>= 16 values: blocks of 16 with a ragged tail (100); fewer: the scalar path (7)); RGB and grayscale.
FAMILIES = {
    "dcgan": ["--loss", "nonsat"],
    "dcgan-conditional": ["--loss", "nonsat", "--conditional", "--latent_dim", "16"],
    "r3gan-conditional": ["--recipe", "r3gan", "--conditional", "--latent_dim", "7", "--channels", "1"],  # grayscale
    "projected-conditional": ["--recipe", "projected", "--conditional", "--backbone_size", "64", "--latent_dim", "16"],
    # grown to its final size within the 6 steps: 8 px, fade to 16 px, 16 px
    "progan": ["--arch", "progan", "--pg_start", "8", "--pg_fade_kimg", "0.004", "--pg_stable_kimg", "0.004",
               "--latent_dim", "32"],
}


def _env(work: Path) -> dict:
    return {"SNOWGAN_CACHE": str(work / "cache"), LITE0_WEIGHTS.env: str(work / "fake-lite0.pth")}


@pytest.fixture(scope="module", params=list(FAMILIES))
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """(family, workdir, model folder): a tiny run trained in this process, exported by the real CLI."""
    family = request.param
    work = tmp_path_factory.mktemp(family)
    torch.save(fake_state_dict(0), work / "fake-lite0.pth")  # the projected D's backbone, without the weights
    run_cli_here("--mode", "train", *TINY, *FAMILIES[family], "--name", "tiny", cwd=work, env=_env(work))
    p = run_cli("export", "--run", "tiny", "--format", "onnx", "--out", work / "model", cwd=work, env=_env(work))
    assert "ONNX Runtime matches PyTorch" in p.stdout and "generator.onnx" in p.stdout, p.stdout
    return family, work, work / "model"


@pytest.mark.slow
def test_every_family_exports_a_graph_that_onnxruntime_runs_like_pytorch(exported: tuple[str, Path, Path]) -> None:
    family, work, model = exported
    assert {"config.json", "generator.safetensors", "discriminator.safetensors", "README.md", "generator.onnx",
            "generate_onnx.py"} <= {p.name for p in model.iterdir()}
    record = json.loads((model / "config.json").read_text())["export"]
    info = record["onnx"]
    assert info["check"]["max_abs_difference"] <= onnx_export.TOLERANCE == info["check"]["tolerance"]
    assert record["files"]["generator.onnx"]["size"] == (model / "generator.onnx").stat().st_size
    G = load_generator(model)
    conditional = family.endswith("conditional")
    assert bool(G.class_names) == conditional
    if family == "progan":  # exported at its final size, as it was saved
        assert G.stage == (len(G.resolutions) - 1, 1.0) and info["output"]["shape"][2:] == [16, 16]

    # The graph: standard ONNX operators only (PyTorch's own convolutions, no custom or bf16 kernels),
    # float32 weights, a free batch axis, int64 class indices, the class names in its metadata.
    graph = onnx.load(str(model / "generator.onnx"))
    onnx.checker.check_model(graph)
    assert {n.domain for n in graph.graph.node} <= {"", "ai.onnx"}
    assert {"Conv", "ConvTranspose"} & {n.op_type for n in graph.graph.node}
    assert {t.data_type for t in graph.graph.initializer} <= {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}
    sess = ort.InferenceSession(str(model / "generator.onnx"), providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in sess.get_inputs()}
    assert list(inputs) == (["z", "class"] if conditional else ["z"])
    assert inputs["z"].type == "tensor(float)" and inputs["z"].shape == ["batch", G.latent_dim]
    if conditional:
        assert inputs["class"].type == "tensor(int64)" and inputs["class"].shape == ["batch"]
    assert json.loads(sess.get_modelmeta().custom_metadata_map["classes"]) == G.class_names

    # Latents and a batch size the export's check did not use: the same images as PyTorch's.
    z = latents(3, G.latent_dim, seed=41)
    y = torch.tensor([len(G.class_names) - 1, 0, 1]) % max(1, len(G.class_names))
    feed = {"z": z.numpy(), **({"class": y.numpy()} if conditional else {})}
    got = sess.run(["images"], feed)[0]
    with torch.no_grad():
        want = G(z, y if conditional else None).numpy()
    channels = 1 if family == "r3gan-conditional" else 3
    assert got.shape == want.shape == (3, channels, 16, 16) and info["output"]["shape"] == ["batch", channels, 16, 16]
    assert np.abs(got - want).max() <= onnx_export.TOLERANCE and want.std() > 0


@pytest.fixture(scope="session")
def torchless_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with only onnxruntime, numpy and Pillow (pip's cache keeps a rebuild quick)."""
    venv = tmp_path_factory.mktemp("venv-onnx")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    p = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--only-binary", ":all:", "onnxruntime", "numpy", "pillow"],
                       capture_output=True, text=True, timeout=600, env=env)
    if p.returncode != 0:
        pytest.skip("pip could not install onnxruntime, numpy and Pillow into a new virtual environment: "
                    + (p.stderr.strip().splitlines() or ["no output"])[-1])
    assert subprocess.run([str(python), "-c", "import torch"], capture_output=True, env=env).returncode != 0
    return python


def _pngs(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)).astype(int) for p in sorted(folder.glob("*.png"))}


@pytest.mark.slow
@pytest.mark.parametrize("exported", ["dcgan", "r3gan-conditional"], indirect=True)
def test_generate_onnx_without_torch_makes_the_images_snowgan_generate_makes(
        exported: tuple[str, Path, Path], torchless_python: Path) -> None:
    family, work, model = exported
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    runs = [["--n", "5", "--seed", "11"], ["--n", "3", "--seed", "2", "--truncation", "0.7"]]
    if family.endswith("conditional"):
        runs.append(["--n", "2", "--seed", "5", "--class", "snowy"])
    for i, flags in enumerate(runs):
        ours = work / f"onnx-{i}"
        p = subprocess.run([str(torchless_python), str(model / "generate_onnx.py"), *flags, "--out", str(ours)],
                           cwd=work, capture_output=True, text=True, timeout=120, env=env)
        assert p.returncode == 0, p.stderr
        snow = [{"--n": "--n_samples", "--class": "--class"}.get(f, f) for f in flags]
        run_cli_here("generate", "--model", model, *snow, "--out", work / f"torch-{i}", cwd=work)
        a, b = _pngs(ours), _pngs(work / f"torch-{i}")
        assert sorted(a) == sorted(b) and len(a) == int(flags[1]), (sorted(a), sorted(b))
        for name in a:  # the tolerance on [-1, 1] is under one uint8 step: a pixel differs by 1 at most
            assert a[name].shape == b[name].shape and np.abs(a[name] - b[name]).max() <= 1, name
        assert np.mean([np.array_equal(a[n], b[n]) for n in a]) >= 0.5  # and mostly not at all
    bad = subprocess.run([str(torchless_python), str(model / "generate_onnx.py"), "--class", "volcano"],
                         cwd=work, capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 2 and "--class" in bad.stderr.strip().splitlines()[-1]


def test_the_scripts_latents_are_snowgans_for_every_size_seed_and_truncation() -> None:
    spec = importlib.util.spec_from_file_location("generate_onnx", onnx_export.TEMPLATE)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)  # type: ignore[union-attr]
    for dim in (1, 2, 7, 15, 16, 17, 31, 100, 128, 512):
        for seed in (0, 1, 99, 2 ** 31 + 7, 2 ** 32 + 3):
            for truncation in (None, 0.5, 2.0):
                want = latents(1, dim, seed, truncation)[0].numpy()
                got = script.latent(seed, dim, truncation)
                assert got.dtype == np.float32 and np.abs(got - want).max() <= 1e-6, (dim, seed, truncation)


@pytest.mark.slow
@pytest.mark.parametrize("exported", ["projected-conditional"], indirect=True)
def test_exporting_leaves_the_generator_as_it_was(exported: tuple[str, Path, Path]) -> None:
    """The projected G's spectral norm is folded into plain weights in a copy: G keeps it and runs on."""
    _, _, model = exported
    G = load_generator(model)
    keys = set(G.state_dict())
    z, y = latents(2, G.latent_dim, 0), torch.tensor([0, 1])
    with torch.no_grad():
        before = G(z, y)
    graph = onnx_export.to_onnx(G, G.class_names)
    # What is exported is float32 whatever the network was left in (bf16 here).
    plain = onnx_export.plain_generator(copy.deepcopy(G).to(torch.bfloat16))
    assert {t.dtype for t in plain.state_dict().values() if t.is_floating_point()} == {torch.float32}
    assert not any("parametrizations" in k for k in plain.state_dict())
    assert set(G.state_dict()) == keys and any("parametrizations" in k for k in keys)
    with torch.no_grad():
        assert torch.equal(G(z, y), before)
    assert onnx_export.check_onnx(graph, G, G.class_names)["max_abs_difference"] <= onnx_export.TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("exported", ["dcgan"], indirect=True)
def test_a_graph_that_does_not_match_fails_the_export_and_writes_nothing(
        exported: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _, work, model = exported
    G = load_generator(model)
    graph = onnx_export.to_onnx(G, [])
    other = load_generator(model)
    with torch.no_grad():
        for weight in other.parameters():
            weight.add_(0.1)
    with pytest.raises(onnx_export.ConfigError, match=r"differ by up to \d") as e:
        onnx_export.check_onnx(graph, other, [])
    assert "\n" not in str(e.value) and "tolerance 0.001" in str(e.value)
    # Through the command: a failed check is one line, exit 2, and no folder.
    monkeypatch.setattr(onnx_export, "TOLERANCE", -1.0)
    p = run_cli_here("export", "--run", "tiny", "--format", "onnx", "--out", work / "failed", cwd=work,
                     env=_env(work), check=False)
    assert p.returncode == 2 and not (work / "failed").exists()
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("snowgan: error: generator.onnx does not match PyTorch: ONNX Runtime's images differ "
                           "by up to ") and "nothing was exported" in last, p.stderr


@pytest.mark.slow
@pytest.mark.parametrize("exported", ["dcgan"], indirect=True)
def test_model_card_is_a_hub_model_page_with_onnx_and_sharing(exported: tuple[str, Path, Path]) -> None:
    _, work, model = exported
    text = (model / "README.md").read_text(encoding="utf-8")
    head, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(head)
    assert meta["pipeline_tag"] == "unconditional-image-generation" and meta["library_name"] == "snowgan"
    assert {"gan", "unconditional-image-generation", "dcgan", "onnx"} <= set(meta["tags"])
    assert len(meta["tags"]) == len(set(meta["tags"]))
    assert meta["training_data"] == "built-in mountains"
    assert "model-index" not in meta  # this run measured nothing: no evaluation results to show
    assert "## Run without PyTorch (ONNX)" in body and "python generate_onnx.py --n 8 --seed 0" in body
    assert "pip install onnxruntime numpy pillow" in body and "tolerance 0.001" in body
    assert "huggingface-cli upload YOUR-NAME/tiny . ." in body
    # An evaluated run: the Hub's evaluation results, each metric with its protocol.
    run_cli_here("evaluate", "--run", "tiny", "--metrics", "swd", "--n_samples", "16", cwd=work, env=_env(work))
    run_cli_here("export", "--run", "tiny", "--out", work / "evaluated", cwd=work, env=_env(work))
    text = (work / "evaluated" / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text[4:].split("\n---\n", 1)[0])
    (result,) = meta["model-index"][0]["results"]
    assert result["task"]["type"] == "unconditional-image-generation"
    assert result["dataset"] == {"type": "built-in-mountains", "name": "built-in mountains"}
    (swd,) = result["metrics"]
    evaluation = json.loads(next((work / "runs" / "00001-tiny" / "evaluations").glob("*.json")).read_text())
    assert swd["type"] == "swd" and swd["value"] == pytest.approx(evaluation["metrics"]["swd"]["value"], rel=1e-5)
    assert swd["args"]["protocol"] == evaluation["metrics"]["swd"]["protocol"]
    assert "onnx" not in meta["tags"] and "## Run without PyTorch" not in text  # a plain export has no graph
    assert not (work / "evaluated" / "generator.onnx").exists()


def test_format_is_checked_for_each_command_and_onnx_needs_its_packages(workdir: Path) -> None:
    p = run_cli("export", "--format", "npy", cwd=workdir, check=False)
    assert p.returncode == 2
    assert p.stderr.strip() == ("snowgan: error: --format npy: `snowgan export` writes safetensors or onnx "
                                "(onnx: generator.onnx beside the safetensors)")
    p = run_cli_here("generate", "--format", "onnx", cwd=workdir, check=False)
    assert p.returncode == 2
    assert p.stderr.strip() == "snowgan: error: --format onnx: `snowgan generate` writes png or npy"
    assert "(default: safetensors)" in run_cli_here("export", "--help", cwd=workdir).stdout
    assert "(default: png)" in run_cli_here("generate", "--help", cwd=workdir).stdout
    # Without onnxruntime (a shadow package that fails to import, as an uninstalled one does): one line
    # with the install command, before any run is looked for (there is none here) or any folder made.
    shadow = workdir / "shadow" / "onnxruntime"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named onnxruntime')\n")
    env = {"PYTHONPATH": f"{shadow.parent}{os.pathsep}{cli_env()['PYTHONPATH']}"}
    p = run_cli("export", "--format", "onnx", "--out", workdir / "m", cwd=workdir, env=env, check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip() == ("snowgan: error: --format onnx needs the onnxruntime package: "
                                "pip install 'snowgan[onnx]'")
    assert not (workdir / "m").exists()


@pytest.mark.slow
@pytest.mark.parametrize("exported", ["dcgan"], indirect=True)
def test_an_existing_folder_is_kept_without_force_and_replaced_whole_with_it(exported: tuple[str, Path, Path]) -> None:
    _, work, model = exported
    before = (model / "generator.onnx").read_bytes()
    p = run_cli_here("export", "--run", "tiny", "--format", "onnx", "--out", model, cwd=work, env=_env(work),
                     check=False)
    assert p.returncode == 2 and "add --force" in p.stderr and (model / "generator.onnx").read_bytes() == before
    run_cli_here("export", "--run", "tiny", "--format", "onnx", "--out", model, "--force", cwd=work, env=_env(work))
    assert onnx.load(str(model / "generator.onnx")).graph.input[0].name == "z"
    # A plain export over it removes the graph and its script: they would not be the new weights.
    run_cli_here("export", "--run", "tiny", "--out", model, "--force", cwd=work, env=_env(work))
    assert not (model / "generator.onnx").exists() and not (model / "generate_onnx.py").exists()
    assert "onnx" not in json.loads((model / "config.json").read_text())["export"]
    run_cli_here("export", "--run", "tiny", "--format", "onnx", "--out", model, "--force", cwd=work, env=_env(work))


def test_front_matter_nests_model_index_and_keeps_numbers_numbers() -> None:
    from snowgan.modelcard import front_matter

    meta = {"license": "mit", "tags": ["gan", 'a "tag": with a colon'], "model-index": [{"name": "x", "results": [
        {"metrics": [{"type": "kid", "value": 5e-05, "args": {"protocol": "KID: 1000 vs 500"}},
                     {"type": "fid", "value": 83.25}, {"type": "n", "value": 3}]}]}], "empty": []}
    text = front_matter(meta)
    assert text.startswith("---\n") and text.endswith("\n---\n")
    assert yaml.safe_load(text[4:-5]) == meta  # 5e-05 stays a float for YAML 1.1 readers too
