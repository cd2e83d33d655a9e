"""Import cycles, back-edges and imports inside functions in src/snowgan (for docs/architecture.md).

    python scripts/import_graph.py            # cycles and back-edges among module-level imports, counts
    python scripts/import_graph.py --all      # cycles counting imports inside functions too

Module-level imports are what Python executes at import time; an import inside a
function hides a dependency from that picture, so both are reported.

The layers of src/snowgan, lowest first (LAYERS below names every module's layer): foundations
(errors, text, sizes, files, diskspace, progress, registries, tensorfile, latentfile, and the
torch-free family registry: models/family.py, models/families.py, models/NAME/family.py) < settings
and run folders (config, validation, flags, runfolder, runs, evaluations) < the GAN's parts
(data, models, losses, metrics, pretrained, augment, optim, sample) < a run's checkpoints, lock
and loading (run: what training writes and every trained-model command reads) < run outputs (report:
grids, videos, plots, the report page; training writes them live) < training (train) < trained
models (export, modelcard, project, studio, probe) < commands < the command line (cli, __main__,
helptext, checks) < the Python API (api: the same settings and commands as the CLI). A module imports its own layer and those below; an import of a higher layer
is a back-edge. tests/test_import_graph.py keeps module-level cycles and back-edges at 0 and
every module in exactly one layer.
"""

from __future__ import annotations

import ast
import fnmatch
import sys
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "snowgan"

# Lowest first. An entry is a module or a package (all of its modules) of src/snowgan; "__init__"
# is the package itself. Written out, not inferred from the imports: the order is how the code is
# meant to be read, and the graph is checked against it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundations", ("__init__", "errors", "text", "sizes", "files", "diskspace", "progress", "registries",
                     "tensorfile", "latentfile", "models.family", "models.families", "models.*.family",
                     "losses.entries")),
    ("settings and run folders", ("config", "decided", "validation", "flags", "runfolder", "runs", "evaluations")),
    ("the GAN's parts", ("data", "models", "losses", "metrics", "pretrained", "augment", "optim", "sample")),
    ("a run's checkpoints, lock and loading", ("run",)),
    ("run outputs", ("report",)),
    ("training", ("train",)),
    ("trained models", ("export", "onnx_export", "templates", "modelcard", "project", "studio", "probe")),
    ("commands", ("commands",)),
    ("command line", ("cli", "__main__", "helptext", "checks")),
    ("Python API", ("api",)),
]


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
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


def _entry(mod: str) -> str:
    """A module's name as LAYERS writes it: "snowgan" -> "__init__", "snowgan.data.load" -> "data.load"."""
    return "__init__" if mod == PACKAGE else mod.removeprefix(PACKAGE + ".")


def layers_of(modules: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Each module's layer (an index into LAYERS), and what is wrong with LAYERS: a module in no
    layer or in more than one (a new module must be placed), an entry that names no module."""
    names = {_entry(m): m for m in modules}
    found: dict[str, list[int]] = {m: [] for m in names}
    best: dict[str, int] = {}  # the length of the entry that placed a module: the longest wins
    problems = []
    for i, (_, entries) in enumerate(LAYERS):
        for e in entries:
            hits = [n for n in names if _matches(n, e)]
            for n in hits:
                if len(e) > best.get(n, -1):  # a nested entry (models.family) places a module apart from its package
                    found[n], best[n] = [i], len(e)
                elif len(e) == best[n]:
                    found[n].append(i)
            if not hits:
                problems.append(f"{e}: in LAYERS but not a module of {PACKAGE}")
    for n, where in sorted(found.items()):
        if len(where) != 1:
            problems.append(f"{n}: in {len(where)} layers ({', '.join(LAYERS[i][0] for i in where) or 'place it'})")
    return {names[n]: where[0] for n, where in found.items() if len(where) == 1}, problems


def _matches(name: str, entry: str) -> bool:
    """A module matches an entry that names it, a package above it, or a pattern (models.*.family)."""
    if entry == "__init__":
        return name == entry
    if "*" in entry:
        return fnmatch.fnmatchcase(name, entry)
    return name == entry or name.startswith(entry + ".")


def back_edges(edges: dict[str, set[str]], layer: dict[str, int]) -> list[tuple[str, str]]:
    """Imports from a lower layer into a higher one, sorted (modules without a layer are left to layers_of)."""
    return sorted((a, b) for a, targets in edges.items() for b in targets
                  if a in layer and b in layer and layer[a] < layer[b])


def main() -> int:
    include_local = "--all" in sys.argv
    edges, local = graph(include_local)
    found = cycles(edges)
    layer, problems = layers_of(edges)
    module_level = graph(False)[0]
    upward = back_edges(module_level, layer)
    inside = sorted(set(back_edges(graph(True)[0], layer)) - set(upward))
    print(f"modules: {len(edges)}; imports inside functions: {local}; "
          f"import cycles ({'all imports' if include_local else 'module level'}): {len(found)}; "
          f"back-edges: {len(upward)} (module level), {len(inside)} (inside functions only)")
    for c in found:
        print("  cycle:", " <-> ".join(c))
    for kind, pairs in (("back-edge", upward), ("back-edge inside a function", inside)):
        for a, b in pairs:
            print(f"  {kind}: {a} ({LAYERS[layer[a]][0]}) -> {b} ({LAYERS[layer[b]][0]})")
    for p in problems:
        print("  layers:", p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
