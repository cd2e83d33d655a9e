"""Finding a run (runs.find_run) as a user types it: inside a run folder, inside runs/, a name two
runs share, a number that is not there. Real runs, real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli, run_cli_here
from studio_helpers import TINY


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 2-step runs without --name: runs/00001-dcgan and runs/00002-dcgan."""
    work = tmp_path_factory.mktemp("runs")
    env = {"SNOWGAN_CACHE": str(work / "cache")}
    run_cli("train", *TINY, "--steps", "2", cwd=work, env=env)
    run_cli_here("train", *TINY, "--steps", "2", cwd=work, env=env)
    assert sorted(p.name for p in (work / "runs").iterdir()) == ["00001-dcgan", "00002-dcgan"]
    return work


def test_a_command_inside_a_run_folder_uses_that_run(work: Path) -> None:
    run = work / "runs" / "00001-dcgan"
    proc = run_cli("generate", "--n_samples", "2", cwd=run, env={"SNOWGAN_CACHE": str(work / "cache")})
    assert "run 00001-dcgan" in proc.stdout  # the folder it stands in, not the newest run
    # what was loaded, said once in words (not 'latest checkpoint (...) step-00000002 (step 2)')
    assert "run 00001-dcgan, step 2 (0.1 kimg): the latest checkpoint" in proc.stdout
    assert "step-0000" not in proc.stdout
    assert len(list((run / "generated").glob("*/*.png"))) == 2
    assert not (run / "runs").exists()


def test_a_command_inside_runs_uses_the_runs_there(work: Path) -> None:
    proc = run_cli_here("generate", "--run", "1", "--n_samples", "1", cwd=work / "runs")
    assert "run 00001-dcgan" in proc.stdout


def test_a_name_two_runs_share_says_which_it_matched(work: Path) -> None:
    proc = run_cli_here("generate", "--run", "dcgan", "--n_samples", "1", cwd=work)
    assert "--run dcgan matches 2 runs (00001-dcgan, 00002-dcgan); using the newest, 00002-dcgan" in proc.stdout


def test_a_run_that_is_not_there_lists_the_runs_that_are(work: Path) -> None:
    proc = run_cli("generate", "--run", "7", cwd=work, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "run '7' not found" in lines[0] and "00001-dcgan, 00002-dcgan" in lines[0]
