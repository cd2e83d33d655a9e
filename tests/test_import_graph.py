"""The import graph of src/snowgan has no cycles and no back-edges, and every module has a layer.

scripts/import_graph.py names the layers (LAYERS, lowest first: foundations < settings and run
folders < the GAN's parts < run outputs < training < trained models < commands < command line).
A back-edge (train/loop.py importing checks.py, which imported train/plan.py: issue 40) reads as
"the trainer depends on the command line"; this test keeps the count at 0 and makes a new module
take a place in the order. scripts/function_sizes.py, beside it, lists the largest functions.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_graph.py"
sys.path.insert(0, str(SCRIPT.parent))  # scripts/function_sizes.py names modules as import_graph does


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_no_import_cycles_and_no_back_edges_among_module_level_imports() -> None:
    graph = _script()
    edges, _ = graph.graph(include_local=False)
    layer, problems = graph.layers_of(edges)
    assert not problems, "place each module of src/snowgan in one layer of scripts/import_graph.py LAYERS: " \
        + "; ".join(problems)
    assert graph.cycles(edges) == []
    assert graph.back_edges(edges, layer) == [], "a module imports a higher layer: move the code to where it belongs"


def test_a_back_edge_is_an_import_into_a_higher_layer_and_a_package_entry_places_its_modules() -> None:
    graph = _script()
    layer, problems = graph.layers_of(["snowgan", "snowgan.errors", "snowgan.train.loop", "snowgan.checks"])
    assert layer["snowgan"] == layer["snowgan.errors"] < layer["snowgan.train.loop"] < layer["snowgan.checks"]
    assert "data: in LAYERS but not a module of snowgan" in problems
    edges = {"snowgan.train.loop": {"snowgan.checks", "snowgan.errors"}, "snowgan.checks": {"snowgan.train.loop"}}
    assert graph.back_edges(edges, layer) == [("snowgan.train.loop", "snowgan.checks")]
    assert any("newmodule: in 0 layers" in p for p in graph.layers_of(["snowgan.newmodule"])[1])


def test_function_sizes_count_each_def_from_its_first_to_its_last_line(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("function_sizes", SCRIPT.parent / "function_sizes.py")
    sizes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sizes)  # type: ignore[union-attr]
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("def f():\n    def g():\n        pass\n    return g\n\n\n"
                                           "class C:\n    def method(self):\n        return 1\n", encoding="utf-8")
    found = sizes.sizes(tmp_path / "pkg")
    assert [(s.lines, s.where) for s in found] == [(4, "m:f"), (2, "m:C.method"), (2, "m:f.g")]
    assert found[0].path == "pkg/m.py:1"


def test_commands_that_use_a_trained_model_never_reach_train() -> None:
    """generate, interpolate, the studio, project, export, evaluate and probe load a run through run/
    (its checkpoints, lock and loading); nothing they import, directly or not, inside functions
    included, is in train/ (issue 40: the trainer is not a loading library)."""
    graph = _script()
    edges, _ = graph.graph(include_local=True)
    users = [m for m in edges if m in ("snowgan.export", "snowgan.project", "snowgan.commands.generate",
                                        "snowgan.commands.media", "snowgan.commands.export",
                                        "snowgan.commands.project", "snowgan.commands.studio",
                                        "snowgan.commands.evaluate", "snowgan.commands.probe")
             or m.startswith(("snowgan.studio", "snowgan.probe"))]
    assert len(users) >= 12
    for start in users:
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges[todo.pop()] - seen:
                assert not nxt.startswith("snowgan.train"), f"{start} reaches {nxt}"
                seen.add(nxt)
                todo.append(nxt)


def test_no_function_in_snowgan_is_longer_than_60_lines() -> None:
    """Issue 40: a reader holds any function at once (scripts/function_sizes.py lists the largest)."""
    spec = importlib.util.spec_from_file_location("function_sizes", SCRIPT.parent / "function_sizes.py")
    sizes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sizes)  # type: ignore[union-attr]
    found = sizes.sizes(SCRIPT.parents[1] / "src" / "snowgan")
    assert len(found) > 1000
    long = [f"{s.where} {s.lines} lines ({s.path})" for s in found if s.lines > 60]
    assert not long, "split these into functions named for what they do: " + "; ".join(long)
