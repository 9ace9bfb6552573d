"""The architecture as a test: data flows one way (core → stores → doors → cli) and no modules import in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mleditor"

# What each part may import from mleditor (besides itself and the shared top-level modules).
SHARED = {"mleditor", "mleditor.errors", "mleditor.config", "mleditor.ports", "mleditor._exports"}
ALLOWED = {
    "core": set(),
    "stores": {"core"},
    "training": {"core"},
    "serve": {"core", "stores", "browser"},  # serve hands out the editor's static site (serve/editor.py)
    "batch": {"core", "stores"},
    "hybrid": {"core", "stores", "serve"},  # hybrid composes over the serve door (hybrid/app.py)
    # device builds its variants with training's graph export, calibration and splits; its runtime
    # imports core alone (tests/device/test_runtime.py)
    "device": {"core", "training"},
    "browser": {"core"},  # browser/tables.py writes the JavaScript featurizer's Unicode 14 tables
    "federated": {"core", "training"},  # clients are authors split by training's labels (federated/partition.py)
    # the advisor measures every door through its public modules and composes over them; no door imports it
    "advise": {"core", "stores", "training", "serve", "batch", "hybrid", "device", "browser", "federated"},
    "cli": {"core", "stores", "training", "serve", "batch", "hybrid", "device", "browser", "federated", "advise"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every mleditor module `path` imports, at module level or inside functions, except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(node) for node in ast.walk(tree) if isinstance(node, ast.If)
               and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
               for node in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "mleditor" or name.startswith("mleditor.")}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {dep for dep in imports(path) if dep in modules and dep != name} for name, path in modules.items()}


def part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 and module not in SHARED else ""


def test_each_part_imports_only_the_layers_below_it(graph):
    wrong = sorted(f"{module} imports {dep}" for module, deps in graph.items() for dep in deps
                   if part(module) in ALLOWED and part(dep) and part(dep) != part(module)
                   and part(dep) not in ALLOWED[part(module)])
    assert wrong == []


def test_no_modules_import_each_other_in_a_circle(graph):
    # A package's __init__ is an import of every module under it only through names it lists lazily
    # (mleditor._exports), so edges into a package are edges to its __init__ module alone.
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep):], dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_layout_the_readme_describes_exists():
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    for folder in ("core", "stores", "stores/predictions", "training", "serve", "serve/engines", "batch",
                   "batch/engines", "hybrid", "cli"):
        assert (PACKAGE / folder / "__init__.py").is_file(), folder
        assert folder.split("/")[-1] + "/" in layout, folder
    for module in ("errors.py", "config.py"):
        assert (PACKAGE / module).is_file() and module in layout
