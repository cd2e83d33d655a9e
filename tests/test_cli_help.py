"""The command line that guides: overview, help, subcommands, spellings, one-line errors, checks.

All in this process (snowgan.cli.main) and without training: nothing here imports torch
except where a command would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from snowgan.cli import main
from snowgan.config import FIELDS
from snowgan.flags import parse_args, recipe_names

# Names new with the guiding command line are imported inside the tests that use them, so that
# against the old code each test fails on its own defect rather than the file failing to import.
COMMAND_NAMES = ["train", "generate", "interpolate", "average", "progress", "report", "evaluate", "features", "export",
         "prepare", "probe", "predict"]

SRC = Path(__file__).resolve().parents[1] / "src" / "snowgan"


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in an empty folder: a runs/ folder appearing there means something was created."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_bare_snowgan_prints_an_overview_and_trains_nothing(capsys, in_tmp: Path) -> None:
    rc, out, _ = _run(capsys)
    assert rc == 0 and "snowgan train --data" in out and "snowgan COMMAND --help" in out
    for mode in COMMAND_NAMES:
        assert re.search(rf"^  {mode}\s", out, re.M), mode
    assert len(out.splitlines()) < 30 and not (in_tmp / "runs").exists()


def test_help_lists_every_mode_choice_and_real_default_once(capsys) -> None:
    from snowgan.helptext import full_help

    rc, out, _ = _run(capsys, "--help")
    assert rc == 0 and out == full_help()
    assert "usage:" in out and len([l for l in out.splitlines() if l.startswith("usage")]) == 1
    for mode in COMMAND_NAMES:
        assert re.search(rf"^  {mode}\s", out, re.M)
    for name, (_, f, _) in FIELDS.items():
        assert len(re.findall(rf"^  --{name}\b", out, re.M)) == 1, name  # every flag, once
        for choice in f.metadata.get("choices") or []:
            assert re.search(rf"--{name} {{[^}}]*\b{re.escape(str(choice))}\b", out), (name, choice)
    assert "(default: None)" not in out  # a None default is said in words (shown_default) or not at all
    epochs = out[out.index("--epochs"):].split("\n  --")[0]
    assert "(default: 25 for the built-in dataset when no other length is given)" in " ".join(epochs.split())
    for entry in out.split("\n  --")[1:]:  # the default is said once per flag
        assert entry.count("default") <= 1, entry
    assert "5 with wgan-gp; 1 with nonsat, hinge, rpgan" in " ".join(out.split())  # loss-dependent default
    assert "snowgan --mode train --gen_steps 4 --disc_lr 0.0001" in out  # examples


def test_command_help_shows_only_the_flags_that_command_reads(capsys) -> None:
    from snowgan.helptext import command_help

    rc, out, _ = _run(capsys, "generate", "--help")
    assert rc == 0 and out == command_help("generate")
    assert "--n_samples" in out and "--truncation" in out and "--grid ROWSxCOLS" in out
    flags = re.findall(r"^  --(\w+)", out, re.M)
    assert "n_samples" in flags and not {"gen_steps", "image_size", "mode", "data"} & set(flags)
    assert "(default: 10)" in out  # generate's own default of --n_samples, not evaluate's 1000
    assert _run(capsys, "--mode", "generate", "--help")[1] == out
    assert _run(capsys, "help", "generate")[1] == out
    train = _run(capsys, "train", "-h")[1]
    flags = re.findall(r"^  --(\w+)", train, re.M)
    assert {"gen_steps", "image_size", "data"} <= set(flags) and "n_samples" not in flags
    assert "(default: 1000)" in _run(capsys, "evaluate", "--help")[1]


def test_version_and_recipes(capsys) -> None:
    rc, out, _ = _run(capsys, "--version")
    assert rc == 0 and re.fullmatch(r"snowgan \S+ \(torch .+\)\n", out)
    rc, listed, _ = _run(capsys, "recipes")
    assert rc == 0 and _run(capsys, "train", "--recipe", "list")[1] == listed
    lines = [l for l in listed.splitlines()[1:] if l.strip()]
    assert [l.split()[0] for l in lines] == recipe_names()
    for line, name in zip(lines, recipe_names()):
        first = next(t for t in (SRC / "recipes" / f"{name}.toml").read_text().splitlines() if t.startswith("#"))
        assert line.split(None, 1)[1] == first.lstrip("# ").strip()
        assert line.endswith(".") and len(line) <= 100, line  # a whole phrase, on one line


def test_hyphens_and_underscores_both_work_and_values_keep_their_hyphens() -> None:
    from snowgan.flags import parse_typed

    typed = parse_typed(["--gen-steps", "4", "--disc-lr=0.0001", "--data", "my-photos", "--label-seeds"])
    assert typed == {"gen_steps": 4, "disc_lr": 0.0001, "data": "my-photos", "label_seeds": True}
    assert parse_args(["--mode", "train", "--gen_steps", "4", "--disc_lr", "0.0001"])[0].train.gen_steps == 4


@pytest.mark.parametrize("argv, message", [
    (["--mode", "generate", "--n_sample", "4"], "unknown flag --n_sample; did you mean --n_samples?"),
    (["generate", "--n-sample", "4"], "unknown flag --n_sample; did you mean --n_samples?"),
    (["trian"], "unknown command 'trian'; did you mean train?"),
    (["--mode", "genrate"], "--mode: 'genrate' is not one of train, generate, interpolate"),
    (["--mode", "genrate"], "; did you mean generate?"),
    (["--loss", "hinj"], "did you mean hinge?"),
    (["train", "photos/"], "unexpected argument 'photos/'"),
    (["train", "--steps"], "--steps needs a value"),
    (["generate", "--mode", "train"], "`snowgan generate` was also given --mode train"),
    (["train", "--recipe", "dmeo"], "did you mean demo?"),
])
def test_mistakes_get_one_line_with_a_suggestion_and_no_usage(capsys, argv: list[str], message: str,
                                                              in_tmp: Path) -> None:
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.startswith("snowgan: error: ") and len(err.strip().splitlines()) == 1, err
    assert message in err and "usage" not in err
    assert not (in_tmp / "runs").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "--steps", "-3"], "--steps -3: the number of iterations must be at least 1"),
    (["train", "--kimg", "-1"], "--kimg -1: the training length must be positive"),
    (["--mode", "train", "--epochs", "0"], "--epochs 0: the training length must be positive"),
    (["generate", "--truncation", "-1"], "--truncation -1: must be positive"),
    (["generate", "--grid", "0x3"], "--grid 0x3: rows and columns must be at least 1"),
    (["train", "--image_size", "0"], "--image_size 0: a size must be positive"),
    (["generate", "--checkpoint", "bset"], "did you mean best?"),
])
def test_bad_values_are_refused_before_anything_is_created(capsys, argv: list[str], message: str,
                                                           in_tmp: Path) -> None:
    rc, _, err = _run(capsys, *argv)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "0x0" not in err and "--n_samples" not in err
    assert not (in_tmp / "runs").exists()


def test_ignored_and_losing_flags_get_a_note(capsys, in_tmp: Path) -> None:
    from snowgan.checks import before_start
    from snowgan.flags import parse_typed

    def notes(*argv: str) -> list[str]:
        typed = parse_typed(list(argv))
        cfg, given = parse_args(list(argv))
        return before_start(cfg, set(typed) - {"mode"}, given)

    (size,) = notes("--mode", "generate", "--image_size", "128")
    assert "--image_size 128 is ignored" in size and "size the run was trained at" in size
    (length,) = notes("--mode", "train", "--kimg", "1", "--steps", "5", "--epochs", "3")
    assert length.startswith("--steps 5 sets the training length; --kimg 1, --epochs 3 are not used")
    (unread,) = notes("--mode", "train", "--n_samples", "4")
    assert unread.startswith("--n_samples is not used by `snowgan train` (used by generate")
    assert notes("--mode", "generate", "--grid", "2x2", "--n_samples", "3") == [
        "--grid 2x2 sets the number of images; --n_samples 3 is not used"]
    assert re.match(r"--steps 3 sets the training length; --epochs \d+ \(from --recipe/--config\) is not used",
                    notes("--mode", "train", "--recipe", "demo", "--steps", "3")[0])
    (in_tmp / "x").mkdir()  # (a --data that is not there is refused before any note: test_input_paths.py)
    assert notes("--mode", "evaluate", "--data", "x/", "--metrics", "swd") == []  # evaluate reads both


def _reads(node) -> set[str]:
    """Fields read as cfg.SECTION.FIELD (the name cfg itself, not a loaded run's .cfg) inside an AST node."""
    import ast

    from snowgan.config import FIELDS

    found = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute) \
                and isinstance(n.value.value, ast.Name) and n.value.value.id == "cfg" and n.attr in FIELDS \
                and FIELDS[n.attr][0] == n.value.attr:
            found.add(n.attr)
    return found


def test_every_field_a_command_module_reads_is_in_that_command_s_topics() -> None:
    """So the 'not used by' note is never wrong: what a command's entry reads from cfg (the settings
    given now, not a run's saved ones) is in its topics; what the module's helpers read is in the
    topics of the commands that module serves."""
    import ast

    from snowgan.helptext import COMMANDS, TOPICS, topic_of
    from snowgan.registries import MODES

    assert set(COMMANDS) == set(MODES)
    assert all(t in TOPICS for c in COMMANDS.values() for t in c.topics)
    assert all(topic_of(n) in TOPICS for n in FIELDS)
    modules: dict[str, list[str]] = {}
    for mode, target in MODES.items():
        modules.setdefault(target.split(":")[0], []).append(mode)
    for module, modes in modules.items():
        if modes == ["train"]:
            continue  # training reads every setting outside the command section, through the Trainer
        tree = ast.parse((SRC / Path(*module.split(".")[1:])).with_suffix(".py").read_text())
        functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
        entries = {MODES[m].split(":")[1]: m for m in modes}
        served = {t for m in modes for t in COMMANDS[m].topics}
        for name, fn in functions.items():
            allowed = set(COMMANDS[entries[name]].topics) if name in entries else served
            for field in _reads(fn):
                assert topic_of(field) in allowed, (module, name, field)


def test_help_and_usage_errors_answer_without_importing_torch(tmp_path: Path) -> None:
    """`snowgan --help` and a bad flag answer in well under a second: torch (2+ s to import) stays out.

    Run in a fresh interpreter (this test process has torch already); the loss defaults that
    flag resolution needs come from the torch-free loss registry (losses/entries.py).
    """
    import subprocess
    import sys

    from conftest import cli_env

    code = ("import sys; from snowgan.cli import main\n"
            "rcs = [main(a) for a in (['--help'], ['train', '--help'], ['train', '--image_size', '100'],\n"
            "        ['train', '--loss', 'hinge', '--disc_lr', 'x'], ['--mode', 'generate', '--help'])]\n"
            "print(rcs, 'torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[0, 0, 2, 2, 0] False", p.stdout + p.stderr


def test_every_loss_takes_its_facts_from_its_torch_free_entry() -> None:
    """Issue 40: a loss, like a family, is one module plus one entry holding its facts (losses/entries.py)."""
    from snowgan.losses import loss_class
    from snowgan.losses.entries import LOSSES

    for name, entry in LOSSES.items():
        cls = loss_class(name)
        assert cls.name == name and cls.defaults is entry.defaults and cls.summary == entry.summary
        assert cls.signed_scores is entry.signed_scores and cls.d_norm == (entry.d_norm or "batch")
        assert parse_args(["--loss", name])[0].train.disc_lr == entry.defaults["disc_lr"]


def _entry(help_text: str, flag: str) -> str:
    """One flag's help entry, its lines joined with single spaces."""
    return " ".join(help_text[help_text.index(f"\n  --{flag} "):].split("\n  --")[1].split())


def test_train_help_says_what_a_data_run_gets_read_from_the_recipe_file(in_tmp: Path) -> None:
    """Issue 42: help quoted the schema's dcgan / wgan-gp / batch 64 / a grid every 500, while a --data run
    trains the photos recipe with planned intervals; --name claimed that re-using a name resumes a run."""
    from conftest import run_cli
    from snowgan.config import coerce
    from snowgan.flags import data_recipe, tomllib
    from snowgan.helptext import _value_text
    from snowgan.train.plan import INTERVAL_FIELDS

    out = run_cli("train", "--help", cwd=in_tmp).stdout
    recipe = data_recipe()
    table = tomllib.loads((SRC / "recipes" / f"{recipe}.toml").read_text())
    quoted = 0
    for section in table.values():
        for name, value in section.items():
            _, f, _ = FIELDS[name]
            if coerce(name, value) == f.default:
                assert "with --data" not in _entry(out, name), name  # nothing to say where the two agree
                continue
            assert f"with --data: the {recipe} recipe's {_value_text(coerce(name, value))})" in _entry(out, name)
            quoted += 1
    assert quoted >= 10  # arch, loss, batch_size, augment, the learning rates ...
    assert "(default: dcgan; with --data: the" in _entry(out, "arch")
    planned = {n for n, (_, f, _) in FIELDS.items() if f.metadata.get("planned")}
    assert planned == set(INTERVAL_FIELDS)  # the fields help calls planned are the ones train/plan.py plans
    for name in INTERVAL_FIELDS:
        assert "(default: planned from the run's length unless given;" in _entry(out, name), name
    name = _entry(out, "name")
    assert "resumes" not in name and "without --name every run gets a new numbered folder" in name
    assert "with --data" not in run_cli("generate", "--help", cwd=in_tmp).stdout  # it reads a run's own settings
