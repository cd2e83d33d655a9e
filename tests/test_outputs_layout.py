"""docs/outputs.md draws the run folder as a tree; a real run, after every command that writes into it,
holds exactly what the tree says (issue 42 item 8: outputs were scattered over generated/, media/,
report/, metrics.json beside metrics.jsonl, and a train.lock that outlived training)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import run_cli, run_cli_here

DOC = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"
TINY = ["--image_size", "16", "--builtin_count", "32", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--loss", "nonsat", "--augment", "translation", "--progress", "none", "--log_every", "2", "--sample_every", "3",
        "--metrics_every", "3", "--metrics", "swd,diversity", "--metrics_samples", "16"]

# Placeholders of the tree, as regular expressions.
PLACEHOLDERS = {"NNNNNNNN": r"\d{8}", "NNNNNN": r"\d{6}", "NNNNN": r"\d{5}", "seedS": r"seed\d+",
                "RxC": r"\d+x\d+", "KIND": r"[a-z]+(?:-[a-z]+)*", "PANEL": r"[a-z_]+", "PHOTO": r"[\w-]+",
                "NAME": r"[\w.-]+", "CLASS": r"[\w.-]+"}
# Entries this test's run does not make (their own tests cover them), or must not hold once training ended.
NOT_MADE = {"skipped.txt", "train.lock", "projections/", "probe-head/", "tensorboard/"}


def _regex(name: str) -> str:
    """A tree entry's name as a regex: placeholders, {a,b} alternatives, the rest literal."""
    token = re.compile("|".join(map(re.escape, PLACEHOLDERS)) + r"|\{[^}]*\}")
    out, at = "", 0
    for m in token.finditer(name):
        out += re.escape(name[at:m.start()])
        text = m.group()
        out += PLACEHOLDERS.get(text) or "(?:" + "|".join(_regex(alt) for alt in text[1:-1].split(",")) + ")"
        at = m.end()
    return out + re.escape(name[at:])


def documented_tree() -> list[tuple[str, str]]:
    """(the entry as written, e.g. 'media/KIND-NNNNN.{gif,mp4,png}', the regex of its path in a run folder)."""
    text = DOC.read_text(encoding="utf-8")
    lines = text[text.index("    runs/NNNNN-NAME/"):].split("\n\n")[0].splitlines()[1:]
    entries, parents = [], []
    for line in lines:
        m = re.match(r"    ([│├└─ ]*)(\S+)", line)
        assert m, line
        depth = len(m.group(1)) // 4 - 1  # "├── " is the first level below the run folder
        parents[depth:] = [m.group(2)]
        entries.append(("".join(parents), "/".join(_regex(p.rstrip("/")) for p in parents)))
    return entries


@pytest.mark.slow
def test_every_command_writes_where_the_documented_tree_says(workdir: Path) -> None:
    env = {"SNOWGAN_CACHE": str(workdir / "cache")}
    run_cli("train", *TINY, "--steps", "6", "--name", "tiny", cwd=workdir, env=env)
    run = workdir / "runs" / "00001-tiny"
    assert not (run / "train.lock").exists()  # a finished run does not look like one still training
    for argv in (["generate", "--n_samples", "2"], ["generate", "--grid", "2x2"], ["generate", "--format", "npy"],
                 ["interpolate", "--frames", "4", "--keyframes", "2"],
                 ["interpolate", "--grid", "1x2", "--frames", "4", "--keyframes", "2"],
                 ["average", "--n_samples", "8"], ["progress"],
                 ["evaluate", "--metrics", "swd", "--n_samples", "8"],
                 ["evaluate", "--metrics", "swd", "--n_samples", "8", "--seed", "1"],
                 ["export"], ["report", "--frames", "4", "--keyframes", "2", "--n_samples", "8"]):
        run_cli_here(*argv, cwd=workdir, env=env)
    assert {p.name for p in workdir.iterdir()} <= {"cache", "runs"}  # nothing in the current folder
    tree = documented_tree()
    files = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    for f in files:  # every file any command wrote is in the tree ...
        assert any(re.fullmatch(rx + ("(/.*)?" if entry.endswith("/") else ""), f) for entry, rx in tree), \
            f"{f} is not in docs/outputs.md's tree"
    for entry, rx in tree:  # ... and every entry of the tree is there, except those no command here makes
        if any(entry.startswith(n) for n in NOT_MADE):
            continue
        assert any(re.fullmatch(rx + "(/.*)?", f) for f in files), f"docs/outputs.md lists {entry}; the run has none"
    assert not (run / "report").exists() and not (run / "metrics.json").exists()  # one copy, in media/, evaluations/
    assert len(list((run / "evaluations").iterdir())) == 2
    # The report made no second interpolation or average: it showed the ones the commands made.
    assert sorted(p.name for p in (run / "media").glob("interpolate-0*")) == ["interpolate-00001.gif",
                                                                             "interpolate-00001.mp4"]
    assert len(list((run / "media").glob("average-*.png"))) == 1
