"""Every relative link and picture in the README and docs/ points at a file that is there, and every
#anchor at a heading of that page.

The docs carry many measured grids and GIFs (docs/images/); a renamed or forgotten file shows
as a broken picture on the page a newcomer reads first, and nothing else would notice. The pages
live in docs/, docs/models/ and docs/lab/ and link across folders and to each other's sections, so
a moved page or a retitled section breaks links as silently.
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
FENCE = re.compile(r"```.*?```", re.S)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def links(page: Path) -> list[str]:
    """Every link target of a markdown page outside code, as written (anchors kept)."""
    return LINK.findall(CODE.sub("", page.read_text(encoding="utf-8")))


def relative_targets(page: Path) -> list[str]:
    """Link targets in a markdown page that name a file of this repository (no URL, no bare #anchor)."""
    out = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # http(s):, mailto: ..., or a heading on the same page
        out.append(target.split("#", 1)[0])
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation (backticks, dots, colons ...) dropped,
    each space a hyphen; letters, digits, "_" and "-" kept."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors a page's headings give, a repeated one numbered as GitHub does (x, x-1, x-2)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_anchors(page: Path) -> list[str]:
    """Links to #anchor on this page or on another markdown page of the repository that no heading gives."""
    bad = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or "#" not in target:
            continue
        path, anchor = target.split("#", 1)
        dest = page if not path else page.parent / path
        if dest.suffix == ".md" and dest.is_file() and anchor not in anchors(dest):
            bad.append(target)
    return bad


def test_the_link_finder_sees_pictures_links_and_skips_urls_and_code(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("![a](images/a.png) and [b](other.md#part) and [c](https://x.org/y) and [d](#top)\n"
                    "`[e](in-code.md)`\n```\n![f](fenced.png)\n```\n[g](sub/g.md \"a title\")\n", encoding="utf-8")
    assert relative_targets(page) == ["images/a.png", "other.md", "sub/g.md"]


def test_anchors_are_githubs(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# Top\n## The `--data` default trains on the data's classes\n"
                    "### How close: `bench/matrix_ceiling.py`\n## Top\n```\n# not a heading\n```\n"
                    "[ok](#top-1) [ok](#the---data-default-trains-on-the-datas-classes) "
                    "[ok](#how-close-benchmatrix_ceilingpy) [bad](#not-a-heading) [bad](p.md#nope)\n", encoding="utf-8")
    assert anchors(page) == {"top", "top-1", "the---data-default-trains-on-the-datas-classes",
                             "how-close-benchmatrix_ceilingpy"}
    assert broken_anchors(page) == ["#not-a-heading", "p.md#nope"]


def test_the_pages_include_the_subfolders() -> None:
    """docs/models/ and docs/lab/ are checked like docs/ itself."""
    folders = {p.parent.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"docs", "docs/models", "docs/lab"} <= folders, folders


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_in_the_docs_exists(page: Path) -> None:
    missing = [t for t in relative_targets(page) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to files that are not there: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_anchor_in_the_docs_names_a_heading(page: Path) -> None:
    bad = broken_anchors(page)
    assert not bad, f"{page.relative_to(ROOT)} links to sections that are not there: {bad}"


def test_the_readme_is_a_users_guide_of_at_most_12_kb() -> None:
    """Issue 40: measurements belong in docs/ (docs/how-it-compares.md), not in the README a new user reads."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert readme.stat().st_size <= 12 * 1024, f"README.md is {readme.stat().st_size} bytes"
