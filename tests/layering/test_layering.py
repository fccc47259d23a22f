"""Import layering of `kinevid`: no import cycles, and no package importing from a layer below it.

The layer order is DESIGN.md's ("each imports only from layers above it in this list"); `utils`
and `errors` sit above every layer and may be imported by all. Imports are read from the source
with `ast`, including imports inside functions: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE_ROOT = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "kinevid"
# DESIGN.md, top to bottom: a package may import from the ones before it.
LAYERS = (
    "body", "motion", "render", "text", "models", "diffusion", "losses", "data", "train", "pipelines", "eval",
    "recipes", "cli",
)  # fmt: skip
SHARED = ("utils", "errors")  # usable by every layer; they import only each other
# Known violations, each (importing module prefix, imported module prefix). The test fails on any
# violation not listed here and on an entry that no longer occurs, so the list can only shrink.
ALLOWED_VIOLATIONS: tuple[tuple[str, str], ...] = ()


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted((SOURCE_ROOT / PACKAGE).rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """kinevid modules `name` imports (a `from package import submodule` names the submodule)."""
    is_package = path.name == "__init__.py"
    package_parts = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module + "." + alias.name for alias in node.names]  # a submodule, else resolved below
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import kinevid.a.b.C` -> nearest module
                target = target.rpartition(".")[0]
            if target.startswith(PACKAGE + ".") and target != name:
                found.add(target)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def _allowed(source: str, target: str) -> bool:
    return any(source.startswith(s) and target.startswith(t) for s, t in ALLOWED_VIOLATIONS)


def _upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    violations = []
    for source, targets in graph.items():
        source_layer = _layer(source)
        for target in targets:
            target_layer = _layer(target)
            if target_layer == source_layer or target_layer in SHARED:
                continue
            unknown = source_layer in SHARED or target_layer not in LAYERS
            if unknown or (source_layer in LAYERS and LAYERS.index(target_layer) > LAYERS.index(source_layer)):
                violations.append((source, target))
    return sorted(violations)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in sorted(graph.get(node, ())):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_every_package_has_a_layer(graph):
    layers = {_layer(module) for module in graph if module != PACKAGE}
    packages = {layer for layer in layers if (SOURCE_ROOT / PACKAGE / layer).is_dir()}
    assert packages <= set(LAYERS) | set(SHARED), f"packages missing from DESIGN.md's layers: {packages - set(LAYERS)}"


def test_no_upward_imports(graph):
    violations = _upward_imports(graph)
    new = [(s, t) for s, t in violations if not _allowed(s, t)]
    assert not new, "imports from a lower layer (DESIGN.md's order):\n" + "\n".join(f"{s} -> {t}" for s, t in new)
    stale = [
        (prefix, target_prefix)
        for prefix, target_prefix in ALLOWED_VIOLATIONS
        if not any(s.startswith(prefix) and t.startswith(target_prefix) for s, t in violations)
    ]
    assert not stale, f"allowed violations that no longer occur (remove them): {stale}"


def test_no_import_cycles(graph):
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_the_checks_catch_a_cycle_and_an_upward_import():
    fake = {"kinevid.body.a": {"kinevid.motion.b"}, "kinevid.motion.b": {"kinevid.body.a"}}
    assert _cycles(fake) == [["kinevid.body.a", "kinevid.motion.b"]]
    assert _upward_imports(fake) == [("kinevid.body.a", "kinevid.motion.b")]
    assert _upward_imports({"kinevid.utils.x": {"kinevid.body.a"}}) == [("kinevid.utils.x", "kinevid.body.a")]
