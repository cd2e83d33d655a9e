"""The import graph of src/snowgan has no cycles and no back-edges, and every module has a layer.

scripts/import_graph.py names the layers (LAYERS, lowest first: foundations < settings and run
folders < the GAN's parts < run outputs < training < trained models < commands < command line).
A back-edge (train/loop.py importing checks.py, which imported train/plan.py: issue 40) reads as
"the trainer depends on the command line"; this test keeps the count at 0 and makes a new module
take a place in the order.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_graph.py"


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
