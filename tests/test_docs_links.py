"""Every relative link and picture in the README and docs/ points at a file that is there.

The docs carry many measured grids and GIFs (docs/images/); a renamed or forgotten file shows
as a broken picture on the page a newcomer reads first, and nothing else would notice.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# [text](target) and ![alt](target); the target ends at whitespace or ")" (an optional "title" follows).
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def relative_targets(page: Path) -> list[str]:
    """Link targets in a markdown page that name a file of this repository (no URL, no bare #anchor)."""
    text = CODE.sub("", page.read_text(encoding="utf-8"))
    out = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # http(s):, mailto: ..., or a heading on the same page
        out.append(target.split("#", 1)[0])
    return out


def test_the_link_finder_sees_pictures_links_and_skips_urls_and_code(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("![a](images/a.png) and [b](other.md#part) and [c](https://x.org/y) and [d](#top)\n"
                    "`[e](in-code.md)`\n```\n![f](fenced.png)\n```\n[g](sub/g.md \"a title\")\n", encoding="utf-8")
    assert relative_targets(page) == ["images/a.png", "other.md", "sub/g.md"]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_in_the_docs_exists(page: Path) -> None:
    missing = [t for t in relative_targets(page) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to files that are not there: {missing}"


def test_the_readme_is_a_users_guide_of_at_most_12_kb() -> None:
    """Issue 40: measurements belong in docs/ (docs/how-it-compares.md), not in the README a new user reads."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert readme.stat().st_size <= 12 * 1024, f"README.md is {readme.stat().st_size} bytes"
