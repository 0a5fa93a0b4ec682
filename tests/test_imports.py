"""The package's import graph: no cycle anywhere, each module importing only its own layer or
the layers below, as the architecture page's table says (the table is the layer map: the test
reads it, so the page cannot drift from the code), and the flows never reach the task layer.

Every ``import`` is counted, also those inside functions: a deferred import only hides a cycle
from the interpreter, not from whoever reads or changes the code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import phone_verify

PACKAGE = Path(phone_verify.__file__).parent
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``phone_verify`` modules it imports (migrations aside)."""
    modules = {
        module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.relative_to(PACKAGE).parts
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # "from .x import y": y is a module, or a name defined in x
                candidates = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for candidate in candidates:
                while candidate and candidate not in modules:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name:
                    targets.add(candidate)
        graph[name] = targets
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), as a path to read."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_table(text: str) -> list[tuple[str, list[str], list[str]]]:
    """The architecture page's layer table, top layer first: (layer, its modules, the layers
    it says it may import). Modules are named from inside the package (``services`` is the
    package and its modules)."""
    section = text.split("<!-- layers -->")[1]
    rows = re.findall(r"^\|\s*\*\*(\w+)\*\*\s*\|([^|\n]*)\|([^|\n]*)\|", section, re.MULTILINE)
    names = [layer for layer, _, _ in rows]
    return [
        (
            layer,
            re.findall(r"`([\w.]+)`", modules),
            [word for word in re.findall(r"\w+", may_import) if word in names],
        )
        for layer, modules, may_import in rows
    ]


def layer_map() -> tuple[list[str], dict[str, str]]:
    """The layers, top first, and each table entry (``phone_verify.x``) -> its layer."""
    table = layer_table(ARCHITECTURE.read_text())
    layers = [layer for layer, _, _ in table]
    return layers, {
        f"phone_verify.{module}": layer for layer, modules, _ in table for module in modules
    }


def layer_of(module: str, entries: dict[str, str]) -> str | None:
    """The layer of the longest table entry that is ``module`` or a package holding it."""
    while module:
        if module in entries:
            return entries[module]
        module = module.rpartition(".")[0]
    return None


def test_the_layer_table_parses_as_the_page_shows_it():
    page = """<!-- layers -->
| Layer | Modules | May import |
|---|---|---|
| **top** | `api`, `forms` | middle, bottom |
| **middle** | `services` | bottom (and Django) |
| **bottom** | `conf` | nothing of the package |
"""
    assert layer_table(page) == [
        ("top", ["api", "forms"], ["middle", "bottom"]),
        ("middle", ["services"], ["bottom"]),
        ("bottom", ["conf"], []),
    ]
    entries = {"phone_verify.api": "top", "phone_verify.api.views": "middle"}
    assert layer_of("phone_verify.api.views", entries) == "middle"  # the longest entry
    assert layer_of("phone_verify.api.urls", entries) == "top"
    assert layer_of("phone_verify.models", entries) is None


def test_the_page_says_each_layer_may_import_exactly_the_layers_below():
    table = layer_table(ARCHITECTURE.read_text())
    assert [layer for layer, _, _ in table] == [
        "entrances",
        "services",
        "providers",
        "models",
        "base",
    ]
    for index, (layer, _, may_import) in enumerate(table):
        assert may_import == [below for below, _, _ in table[index + 1 :]], layer


def test_every_module_has_one_layer_and_every_entry_of_the_table_exists():
    _, entries = layer_map()
    graph = import_graph()
    assert sorted(m for m in graph if m != "phone_verify" and not layer_of(m, entries)) == []
    assert sorted(e for e in entries if e not in graph) == []  # no stale or misspelt entry
    assert graph["phone_verify"] == set()  # the package itself imports nothing of its own


def upward_imports(
    graph: dict[str, set[str]], layers: list[str], entries: dict[str, str]
) -> list[str]:
    """Each import of a module of a higher layer, as a sentence."""
    rank = {module: layers.index(layer_of(module, entries) or "") for module in graph}
    return sorted(
        f"{module} ({layer_of(module, entries)}) imports {target} ({layer_of(target, entries)})"
        for module, targets in graph.items()
        for target in targets
        if rank[target] < rank[module]
    )


def test_an_import_of_a_higher_layer_is_seen():
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}
    entries = {"p.a": "top", "p.b": "top", "p.c": "bottom"}
    assert upward_imports(graph, ["top", "bottom"], entries) == ["p.c (bottom) imports p.a (top)"]


def test_each_module_imports_only_its_own_layer_or_below():
    layers, entries = layer_map()
    graph = import_graph()
    del graph["phone_verify"]  # imports nothing (checked above), belongs to no layer
    assert upward_imports(graph, layers, entries) == []


def test_the_walker_sees_imports_of_every_form():
    graph = import_graph()
    assert "phone_verify.services" in graph["phone_verify.api.views"]  # from .. import services
    assert "phone_verify.models" in graph["phone_verify.services.consent"]  # from ..models import X
    assert "phone_verify.conf" in graph["phone_verify.providers.base"]  # from ..conf import X
    # and it finds a cycle when there is one
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_in_the_package():
    assert cycles(import_graph()) == []


def test_the_flows_never_import_the_tasks():
    graph = import_graph()
    for flow in ("phone_verify.services", "phone_verify.prefills"):  # the package and its modules
        assert "phone_verify.tasks" not in reachable(graph, flow) | {flow}


def provider_interface() -> set[str]:
    """The provider modules the architecture page lets entrances import (its sentence marked
    ``<!-- provider-interface -->``)."""
    sentence = ARCHITECTURE.read_text().split("<!-- provider-interface -->")[1].split(":")[0]
    return {f"phone_verify.{name}" for name in re.findall(r"`(providers\.\w+)`", sentence)}


def test_entrances_reach_the_providers_only_through_their_interface():
    layers, entries = layer_map()
    interface = provider_interface()
    assert interface == {
        "phone_verify.providers.base",
        "phone_verify.providers.registry",
        "phone_verify.providers.checks",
    }
    graph = import_graph()
    entrances = [module for module in graph if layer_of(module, entries) == layers[0]]
    assert "phone_verify.webhooks" in entrances
    assert (
        sorted(
            f"{module} imports {target}"
            for module in entrances
            for target in graph[module]
            if layer_of(target, entries) == "providers" and target not in interface
        )
        == []
    )
