"""The largest functions and methods in src/snowgan, by line count (for docs/architecture.md).

    python scripts/function_sizes.py            # the top 5
    python scripts/function_sizes.py --top 20

A function's size is its lines from ``def`` to its last line, docstring and comments included:
what a reader has to hold at once. A nested function counts within its parent and on its own
line too. Issue 40 asks for every function to be at most LIMIT lines; this only reports.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import NamedTuple

from import_graph import ROOT, module_name

LIMIT = 60


class Size(NamedTuple):
    lines: int
    where: str  # module:qualified.name
    path: str   # src/snowgan/...py:line, to open it


def sizes(root: Path = ROOT) -> list[Size]:
    """Every function and method under root, largest first."""
    out: list[Size] = []

    def visit(node: ast.AST, module: str, path: Path, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}."
                if not isinstance(child, ast.ClassDef):
                    rel = path.relative_to(root.parent)
                    out.append(Size(child.end_lineno - child.lineno + 1, f"{module}:{prefix}{child.name}",
                                    f"{rel}:{child.lineno}"))
            visit(child, module, path, name)

    for path in sorted(root.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), module_name(path, root), path, "")
    return sorted(out, key=lambda s: (-s.lines, s.where))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=5, help="how many to list (default 5)")
    args = ap.parse_args(argv)
    found = sizes()
    over = sum(s.lines > LIMIT for s in found)
    print(f"functions and methods: {len(found)}; over {LIMIT} lines: {over}")
    for s in found[: args.top]:
        print(f"  {s.lines:4d}  {s.where}  ({s.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
