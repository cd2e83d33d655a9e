"""Import cycles and imports inside functions in src/snowgan (for docs/architecture.md).

    python scripts/import_graph.py            # cycles among module-level imports, counts
    python scripts/import_graph.py --all      # cycles counting imports inside functions too

Module-level imports are what Python executes at import time; an import inside a
function hides a dependency from that picture, so both are reported.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([node.module] if node.module else []))
    names = [f"{base}.{a.name}" for a in node.names]
    return names + [base]  # `from pkg import submodule` adds pkg only if the name is not a module (graph())


def graph(include_local: bool) -> tuple[dict[str, set[str]], int]:
    mods = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in mods}
    local = 0
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_pkg = path.name == "__init__.py"
        top = set(id(n) for n in tree.body)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            inside = id(node) not in top and not _in_type_checking(tree, node)
            if inside:
                local += 1
            if _in_type_checking(tree, node) or (inside and not include_local):
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                *names, base = resolve(mod, is_pkg, node)
                submodules = [n for n in names if n in mods]
                targets = submodules + ([base] if len(submodules) < len(names) else [])
            for t in targets:
                if t in mods and t != mod:
                    edges[mod].add(t)
    return edges, local


def _in_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    for top in tree.body:
        if isinstance(top, ast.If) and "TYPE_CHECKING" in ast.unparse(top.test):
            if any(n is node for n in ast.walk(top)):
                return True
    return False


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def main() -> int:
    include_local = "--all" in sys.argv
    edges, local = graph(include_local)
    found = cycles(edges)
    print(f"modules: {len(edges)}; imports inside functions: {local}; "
          f"import cycles ({'all imports' if include_local else 'module level'}): {len(found)}")
    for c in found:
        print("  cycle:", " <-> ".join(c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
