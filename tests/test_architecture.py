"""The package layers and the absence of import cycles, checked on the source.

Every `import` and `from ... import` in the product packages counts, wherever
it sits (module top, function body): a lazy import that dodges a cycle at run
time is still a cycle for the reader. Imports under `if TYPE_CHECKING:` count
for the layers; for module cycles they do not, since they only name a type
(telephony.resync annotates the tracker that owns it).

Layers, top to bottom; a module may import its own layer and the ones below,
never one above:

    atiende              composition root, commands, demo
    agent_api            the web layer: every HTTP/WebSocket route
    dashboards           KPIs, live metrics, reports, wallboard frames
    crm_bridge           the attention store and the CRM sync
    telephony.simulator  the PBX stand-in: speaks AMI, drives the IVR over FastAGI
    telephony | ivr      the AMI bridge and the FastAGI IVR, independent of each other
    citizen              shared citizen-attention rules (cédula, calendar)

Test doubles (`*.testing` modules) are for tests and benchmarks: no product
module imports one.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("atiende", "agent_api", "dashboards", "crm_bridge", "telephony", "ivr", "citizen")
# Top to bottom; names in one tuple share a layer and may not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("atiende",),
    ("agent_api",),
    ("dashboards",),
    ("crm_bridge",),
    ("telephony.simulator",),
    ("telephony", "ivr"),
    ("citizen",),
)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """ids of the nodes inside `if TYPE_CHECKING:` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    inside.update(id(n) for n in ast.walk(child))
    return inside


def _imports(
    name: str, path: Path, modules: dict[str, Path], *, typing_only: bool = True
) -> set[str]:
    """The product modules `name` imports (a package's name when that is all
    it names); `typing_only=False` leaves out imports under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    skipped = set() if typing_only else _type_checking_nodes(tree)
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                child = f"{module}.{alias.name}"
                targets.add(child if child in modules else module)
    found: set[str] = set()
    for target in targets:
        # `import a.b.c` of a module we have, else its nearest known parent.
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def _graph(*, typing_only: bool = True) -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: _imports(name, path, modules, typing_only=typing_only)
        for name, path in modules.items()
    }


def _layer(module: str) -> tuple[int, str]:
    """(layer index, the layer member the module belongs to), longest match first."""
    best: tuple[int, str] | None = None
    for index, members in enumerate(LAYERS):
        for member in members:
            inside = module == member or module.startswith(member + ".")
            if inside and (best is None or len(member) > len(best[1])):
                best = (index, member)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def test_the_walk_sees_the_imports() -> None:
    # Guards the checker itself: a parser that sees nothing passes every rule.
    graph = _graph()
    assert "telephony.domain" in graph["crm_bridge.attentions"]
    assert "citizen.cedula" in graph["crm_bridge.persons"]
    assert "dashboards.report_queries" in graph["agent_api.routes.figures"]
    assert _layer("telephony.simulator.calls") == (4, "telephony.simulator")
    assert _layer("telephony.tracker") == (5, "telephony")
    # Type-only imports count for the layers, not for cycles.
    assert "telephony.tracker" in graph["telephony.resync"]
    assert "telephony.tracker" not in _graph(typing_only=False)["telephony.resync"]


def test_layers_only_point_down() -> None:
    wrong = []
    for module, targets in sorted(_graph().items()):
        index, member = _layer(module)
        for target in sorted(targets):
            target_index, target_member = _layer(target)
            if target_index < index or (target_index == index and target_member != member):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_product_module_imports_a_test_double() -> None:
    wrong = [
        f"{module} -> {target}"
        for module, targets in sorted(_graph().items())
        if not module.endswith(".testing")
        for target in sorted(targets)
        if target.endswith(".testing")
    ]
    assert not wrong, "product code on test doubles:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    graph = _graph(typing_only=False)
    # Tarjan's strongly connected components: any component of two or more
    # modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, f"modules importing each other in a circle: {cycles}"


def test_packages_form_no_cycle() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in _graph().items():
        for target in targets:
            a, b = module.split(".")[0], target.split(".")[0]
            if a != b:
                edges[a].add(b)
    for start in edges:
        seen: set[str] = set()
        todo = list(edges[start])
        while todo:
            package = todo.pop()
            assert package != start, f"package cycle through {start}"
            if package not in seen:
                seen.add(package)
                todo.extend(edges.get(package, ()))
