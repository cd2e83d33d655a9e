"""A family owns its facts (issue 40): one folder plus one registry entry, and nothing outside
src/snowgan/models/ names a family.

- a toy family, written here as one folder (its networks and its entry) and registered, trains,
  samples and exports through the real command line code with no edit anywhere else;
- no family name appears as a string outside models/ and recipes/ (the trainer, validation and
  the model card ask the entry instead of comparing names);
- the one normalisation rule: --arch projected --loss rpgan gets no BatchNorm in D (it had it
  when Projected GAN kept its own copy of the rule).
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from snowgan.cli import main as cli_main
from snowgan.config import ConfigError
from snowgan.flags import parse_args
from snowgan.models.families import FAMILIES, family, register
from snowgan.models.family import Family
from snowgan.models.registry import build_networks
from snowgan.validation import validate

SRC = Path(__file__).resolve().parents[1] / "src" / "snowgan"

TOY_NETWORKS = '''
"""A toy family: a linear G and D, enough to train, sample and export."""
import torch
from torch import nn


class Generator(nn.Module):
    def __init__(self, latent_dim, channels, hw):
        super().__init__()
        self.latent_dim, self.shape = latent_dim, (channels, *hw)
        self.net = nn.Linear(latent_dim, channels * hw[0] * hw[1])

    def forward(self, z, labels=None):
        return torch.tanh(self.net(z)).view(-1, *self.shape)


class Discriminator(nn.Module):
    def __init__(self, channels, hw, width):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Flatten(), nn.Linear(channels * hw[0] * hw[1], width),
                                                   nn.LeakyReLU(0.2))])
        self.head = nn.Linear(width, 1)

    def forward_features(self, x):
        return [self.blocks[0](x)]

    def forward(self, x, labels=None):
        return self.head(self.forward_features(x)[-1]).flatten()


def build(cfg):
    m = cfg.model
    return (Generator(m.latent_dim, cfg.data.channels, cfg.image_hw),
            Discriminator(cfg.data.channels, cfg.image_hw, m.d_width))
'''

TOY_ENTRY = '''
from snowgan.models.family import Family

FAMILY = Family(name="toylinear", title="Toy linear GAN", summary="a test's family",
                build="toyfamily.networks:build", g_steps_per_d_step=3)
'''


@pytest.fixture()
def toy_family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """One folder (toyfamily/: networks.py + family.py) on sys.path, and its entry registered."""
    pkg = tmp_path / "plugins" / "toyfamily"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "networks.py").write_text(textwrap.dedent(TOY_NETWORKS), encoding="utf-8")
    (pkg / "family.py").write_text(textwrap.dedent(TOY_ENTRY), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    from toyfamily.family import FAMILY  # type: ignore[import-not-found]

    register(FAMILY)
    yield FAMILY
    FAMILIES.pop(FAMILY.name)
    for name in [m for m in sys.modules if m.startswith("toyfamily")]:
        del sys.modules[name]


def test_a_toy_family_is_one_folder_plus_one_entry(toy_family: Family, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNOWGAN_CACHE", str(tmp_path / "cache"))
    cfg, _ = parse_args(["--arch", "toylinear", "--image_size", "12"])
    G, D = build_networks(cfg)
    assert G(torch.zeros(2, cfg.model.latent_dim)).shape == (2, 3, 12, 12)
    # Its facts reach the trainer: 3 G steps per D step are healthy for it, so no warning.
    from snowgan.train.techniques import schedule_warning
    assert schedule_warning(parse_args(["--arch", "toylinear", "--loss", "nonsat", "--gen_steps", "3"])[0]) is None
    assert schedule_warning(parse_args(["--arch", "dcgan", "--loss", "nonsat", "--gen_steps", "3"])[0])
    # Trains, samples and exports through the command line's own code.
    tiny = ["--image_size", "12", "--builtin_count", "16", "--batch_size", "4", "--progress", "none",
            "--metrics_every", "0", "--loss", "nonsat"]
    assert cli_main(["train", "--arch", "toylinear", *tiny, "--steps", "2", "--name", "toy"]) == 0
    run = next((tmp_path / "runs").glob("*-toy"))
    assert (run / "config.json").read_text().count('"arch": "toylinear"') == 1
    assert cli_main(["export", "--run", str(run), "--out", str(tmp_path / "toy-export")]) == 0
    card = (tmp_path / "toy-export" / "README.md").read_text(encoding="utf-8")
    assert "Toy linear GAN" in card  # the model card reads the entry's title
    from snowgan.export import load_generator
    assert load_generator(tmp_path / "toy-export")(torch.zeros(1, 100)).shape == (1, 3, 12, 12)


def test_an_option_of_one_family_is_refused_under_another_by_one_rule() -> None:
    for flags, owner in ((["--per_logit_loss"], "projected"), (["--blocks_per_stage", "2"], "r3gan"),
                         (["--pg_start", "8"], "progan")):
        with pytest.raises(ConfigError, match=rf"^--{flags[0][2:]} belongs to --arch {owner}; --arch dcgan "):
            parse_args(["--arch", "dcgan", *flags])
        validate(parse_args(["--arch", owner, *flags])[0])  # its own family reads it


def test_conditional_follows_the_entry() -> None:
    assert not family("progan").conditional
    with pytest.raises(ConfigError, match="--conditional is not supported with --arch progan"):
        parse_args(["--arch", "progan", "--conditional"])


def test_projected_with_rpgan_has_no_batchnorm_in_d() -> None:
    """The one norm rule (models/layers.resolved_d_norm): the loss forbids BatchNorm in D for every
    family; Projected GAN's entry only says spectral norm does not replace it."""
    from snowgan.models.layers import resolved_d_norm
    from snowgan.models.projected.networks import ProjectedDiscriminator

    cfg, _ = parse_args(["--arch", "projected", "--loss", "rpgan", "--image_size", "32", "--d_width", "8"])
    assert resolved_d_norm(cfg.model) == "none"
    D = ProjectedDiscriminator(cfg.image_hw, 3, 8, 64, resolved_d_norm(cfg.model), True, backbone_hw=(64, 64))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
    hinge, _ = parse_args(["--arch", "projected", "--loss", "hinge", "--spectral_norm"])
    assert resolved_d_norm(hinge.model) == "batch"  # the paper's heads: spectral norm *and* BatchNorm
    dcgan_sn, _ = parse_args(["--arch", "dcgan", "--loss", "hinge", "--spectral_norm"])
    assert resolved_d_norm(dcgan_sn.model) == "none"  # elsewhere spectral norm is D's normalisation


def _strings(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module but its docstrings (prose may name a family)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_no_family_name_appears_as_a_string_outside_models_and_recipes() -> None:
    """A string equal to a family name (``arch == "progan"``), ``--arch NAME`` in a message, or a
    name that is no English word (dcgan, progan, r3gan) inside any string: each means a family's
    fact lives outside its entry. ("projected" alone is also the participle of the `project`
    command, GAN inversion, so only the first two forms count for it; a recipe's hyphenated name
    such as photos-dcgan is a recipe, not the family.)"""
    names = list(FAMILIES)
    coined = [n for n in names if n != "projected"]
    word = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, coined)) + r")(?![\w-])")
    arch = re.compile(r"--arch (" + "|".join(map(re.escape, names)) + r")\b")
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(("models/", "recipes/")):
            continue
        for line, text in _strings(path):
            if text in names or word.search(text) or arch.search(text):
                found.append(f"{rel}:{line}: {text[:70]!r}")
    assert not found, "ask the family's entry (models/families.py) instead:\n" + "\n".join(found)
