"""Export -> portable model folder -> networks rebuilt from the folder alone (real CLI, real files)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import cli_env, run_cli, run_cli_here

TINY = ["--image_size", "16", "--builtin_count", "64", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--log_every", "2", "--sample_every", "4"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(workdir, run folder, exported folder) of a tiny 4-step run trained with the seed's D learning rate."""
    work = tmp_path_factory.mktemp("export")
    run_cli("--mode", "train", *TINY, "--steps", "4", "--disc_lr", "0.0001", "--name", "tiny", cwd=work)
    run = work / "runs" / "00001-tiny"
    # An evaluation from the real evaluate command, so the card's metrics come from the run.
    run_cli("--mode", "evaluate", "--run", "tiny", "--metrics", "swd", "--n_samples", "16", cwd=work)
    p = run_cli_here("--mode", "export", "--run", "tiny", "--out", work / "model", "--license", "apache-2.0", cwd=work)
    assert "step 4" in p.stdout
    return work, run, work / "model"


def test_folder_is_self_contained(exported: tuple[Path, Path, Path]) -> None:
    work, run, model = exported
    names = {p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()}
    assert {"config.json", "generator.safetensors", "discriminator.safetensors", "README.md",
            "samples/grid.png", "samples/training-data.png", "samples/seed000000.png"} <= names
    cfg = json.loads((model / "config.json").read_text())
    assert cfg["model"]["arch"] == "dcgan" and cfg["data"]["image_size"] == "16"  # the run's resolved config
    assert cfg["export"]["source"]["run"] == "00001-tiny" and cfg["export"]["source"]["step"] == 4
    assert cfg["export"]["generator"]["latent_dim"] == 100
    # A folder meant to be shared gets ordinary file modes (safetensors alone writes 0600):
    # the tests run with the default umask 022, so group and others can read every weight file.
    for f in ("generator.safetensors", "discriminator.safetensors"):
        assert (model / f).stat().st_mode & 0o044 == 0o044, f
    ckpt = next((run / "checkpoints").glob("step-*/model.safetensors"))
    assert ckpt.stat().st_mode & 0o044 == 0o044
    # Moved elsewhere with the run deleted, the folder still works: it depends on nothing else.
    moved = work / "elsewhere" / "m"
    moved.parent.mkdir()
    model.rename(moved)
    try:
        shutil.move(str(run), str(work / "run-away"))
        p = run_cli_here("--mode", "generate", "--model", moved, "--n_samples", "2", "--out", work / "from-moved",
                         cwd=work / "elsewhere")
        assert len(list((work / "from-moved").glob("*.png"))) == 2, p.stdout
    finally:
        shutil.move(str(work / "run-away"), str(run))
        moved.rename(model)


def test_round_trip_gives_identical_images(exported: tuple[Path, Path, Path]) -> None:
    work, run, model = exported
    for (src, out), cli in zip(((["--model", model], "a"), (["--run", "tiny"], "b")), (run_cli, run_cli_here)):
        cli("--mode", "generate", *src, "--n_samples", "6", "--seed", "7", "--format", "npy", "--out", work / out,
            cwd=work)
    a, b = np.load(work / "a" / "samples.npy"), np.load(work / "b" / "samples.npy")
    assert a.shape == (6, 16, 16, 3) and np.array_equal(a, b)
    assert a.std() > 0  # real images, not a constant
    # The sample PNGs in the folder are those seeds too.
    run_cli_here("--mode", "generate", "--run", "tiny", "--n_samples", "2", "--out", work / "c", cwd=work)
    for name in ("seed000000.png", "seed000001.png"):
        assert np.array_equal(np.asarray(Image.open(model / "samples" / name)), np.asarray(Image.open(work / "c" / name)))


def test_python_api_rebuilds_the_checkpoint_networks(exported: tuple[Path, Path, Path]) -> None:
    import snowgan
    from snowgan.run.load import load_run

    _, run, model = exported
    G, D = snowgan.load_generator(model, device="cpu"), snowgan.load_discriminator(model)
    ref = load_run(run, "latest", "cpu")
    assert not G.training and not D.training
    for mine, theirs in ((G, ref.G), (D, ref.D)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(D(x), ref.D(x)) and len(D.forward_features(x)) == len(D.blocks)


def test_model_card_front_matter_is_yaml_and_states_the_run(exported: tuple[Path, Path, Path]) -> None:
    _, run, model = exported
    text = (model / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(head)
    assert meta["license"] == "apache-2.0" and meta["library_name"] == "snowgan"
    assert meta["pipeline_tag"] == "unconditional-image-generation"
    assert {"gan", "image-generation", "dcgan"} <= set(meta["tags"])
    for section in ("## Model Description", "## Intended uses & limitations", "## Training data",
                    "## Training procedure", "## Model Details", "## Metrics", "## How to Use"):
        assert section in body
    assert "discriminator learning rate 0.0001" in body  # from the run's config
    assert "n_critic" in body and "Batch size: 8" in body and "latent size 100" in body
    assert "built-in mountains: 64 images at 16x16" in body  # from dataset.json
    assert "4 iterations" in body
    swd = json.loads((run / "evaluations" / "00001-seed0.json").read_text())["metrics"]["swd"]["value"]
    assert ("From `snowgan --mode evaluate` (evaluations/00001-seed0.json) on step-00000004 (step 4), 16 generated "
            "images (seed 0)") in body
    assert f"| swd | {swd:.4g} | SWD x1e3" in body
    assert "snowgan --mode generate --model" in body and "snowgan.load_generator" in body
    assert "![generated samples](samples/grid.png)" in body


def test_model_card_reports_metrics_of_the_exported_step(tmp_path: Path) -> None:
    from snowgan.config import Config
    from snowgan.modelcard import collect_run_facts, render_model_card

    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"step": 100, "kimg": 1.0, "time": 1.0, "kid": 0.2, "swd": 40.0, "best_metric": "kid", "protocol": {"kid": "p"}},
        {"step": 200, "kimg": 2.0, "time": 2.0, "kid": 0.1, "swd": 30.0, "best_metric": "kid"},
        {"step": 300, "kimg": 3.0, "time": 3.0, "kid": 0.3, "swd": 50.0, "best_metric": "kid"},
    ]) + "\n{truncated", encoding="utf-8")
    facts = collect_run_facts(tmp_path, step=250)
    assert facts["metrics"]["step"] == 200 and facts["metrics"]["values"] == {"kid": 0.1, "swd": 30.0}
    record = {"source": {"run": "00002-x", "checkpoint": "best", "why": "best", "step": 250, "kimg": 2.5},
              "generator": {"latent_dim": 100, "parameters": 1}, "discriminator": {"blocks": 3, "parameters": 1},
              "sample_seed": 0, "snowgan_version": "0", "exported": "now", "license": "mit: or: not"}
    card = render_model_card(Config(), record, facts, has_reals=False)
    assert "| kid | 0.1 |" in card and "| swd | 30 |" in card
    assert "Best `kid` up to the exported step: 0.1 at step 200" in card  # step 300 is after the export
    assert yaml.safe_load(card.split("---\n")[1])["license"] == "mit: or: not"  # quoting keeps YAML intact
    # Higher-is-better best metrics pick the maximum.
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps({"step": s, "coverage": c, "best_metric": "coverage"})
                                                      for s, c in ((10, 0.2), (20, 0.6), (30, 0.4))))
    assert collect_run_facts(tmp_path, step=30)["metrics"]["best"] == {"value": 0.6, "step": 20}
    # A run with no metrics says so instead of inventing numbers.
    empty = render_model_card(Config(), record, {"dataset": None, "metrics": None, "evaluation": None}, False)
    assert "Not measured: this run recorded no metrics" in empty and "| metric |" not in empty


def test_refuses_non_empty_out_without_force(exported: tuple[Path, Path, Path]) -> None:
    work, _, _ = exported
    out = work / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    p = run_cli_here("--mode", "export", "--run", "tiny", "--out", out, cwd=work, check=False)
    assert p.returncode == 2 and "--force" in p.stderr and "Traceback" not in p.stderr
    assert sorted(x.name for x in out.iterdir()) == ["notes.txt"]
    run_cli_here("--mode", "export", "--run", "tiny", "--out", out, "--force", "--checkpoint", "0", cwd=work)
    assert json.loads((out / "config.json").read_text())["export"]["source"]["step"] == 0
    assert (out / "notes.txt").read_text() == "the user's own file"  # --force replaces only our files


def test_damaged_folder_is_refused_with_one_line(exported: tuple[Path, Path, Path], tmp_path: Path) -> None:
    work, _, model = exported
    bad = tmp_path / "bad"
    shutil.copytree(model, bad)
    data = (bad / "generator.safetensors").read_bytes()
    (bad / "generator.safetensors").write_bytes(data[: len(data) // 2])
    p = run_cli_here("--mode", "generate", "--model", bad, "--n_samples", "1", "--out", tmp_path / "o", cwd=work,
                     check=False)
    err = [x for x in p.stderr.splitlines() if x.strip()]
    assert p.returncode == 2 and len(err) == 1 and "generator.safetensors" in err[0]
    p = run_cli_here("--mode", "generate", "--model", tmp_path, "--n_samples", "1", cwd=work, check=False)
    assert p.returncode == 2 and "not a folder made by snowgan --mode export" in p.stderr


def test_import_snowgan_stays_cheap() -> None:
    code = ("import sys, snowgan; assert 'torch' not in sys.modules, 'import snowgan pulled in torch'; "
            "f = snowgan.load_generator; assert 'torch' in sys.modules; print(f.__name__)")
    p = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "load_generator"


def test_networks_are_rebuilt_from_their_recorded_init_arguments_alone(exported: tuple[Path, Path, Path],
                                                                        tmp_path: Path) -> None:
    """Issue 40: export writes each network's class and init arguments; load_generator rebuilds from
    them, not from the settings (here scrambled); a folder from before they were recorded still loads;
    a record naming code outside snowgan's networks is refused, not imported."""
    from snowgan.config import ConfigError
    from snowgan.export import load_discriminator, load_generator

    _, _, model = exported
    cfg = json.loads((model / "config.json").read_text())
    init = cfg["export"]["generator"]["init"]
    assert init == {"class": "snowgan.models.dcgan.networks:Generator",
                    "args": {"image_size": [16, 16], "channels": 3, "latent_dim": 100, "width": 8, "max_width": 512,
                             "norm": "batch", "num_classes": 0}}
    assert cfg["export"]["discriminator"]["init"]["class"] == "snowgan.models.dcgan.networks:Discriminator"
    z = torch.randn(2, 100, generator=torch.Generator().manual_seed(0))
    want = load_generator(model)(z)

    def variant(name: str, change) -> Path:
        folder = tmp_path / name
        shutil.copytree(model, folder)
        raw = json.loads((folder / "config.json").read_text())
        change(raw)
        (folder / "config.json").write_text(json.dumps(raw))
        return folder

    def scramble(raw: dict) -> None:  # settings that would build other networks: the record wins
        raw["model"]["g_width"], raw["model"]["latent_dim"], raw["model"]["arch"] = 64, 7, "r3gan"

    assert torch.equal(load_generator(variant("scrambled", scramble))(z), want)

    def old(raw: dict) -> None:  # exported before the init arguments were recorded
        for which in ("generator", "discriminator"):
            raw["export"][which].pop("init")

    old_folder = variant("old", old)
    assert torch.equal(load_generator(old_folder)(z), want)
    assert load_discriminator(old_folder)(want).shape == (2,)

    def hostile(raw: dict) -> None:
        raw["export"]["generator"]["init"] = {"class": "os:system", "args": {"command": "echo owned"}}

    with pytest.raises(ConfigError, match="names a network outside snowgan"):
        load_generator(variant("hostile", hostile))
