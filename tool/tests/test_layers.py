"""forktool's layers (forktool/__init__.py): each module imports from its own layer or those below."""

from __future__ import annotations

import ast
from pathlib import Path

import forktool

SRC = Path(forktool.__file__).parent
BASICS = {"errors", "progress", "workspace", "interpreters"}
#: Lowest first; a module may import from its own layer and any earlier one.
LAYERS = ("basics", "stack", "series", "bench", "top")


def _layer(module: str) -> str:
    parts = module.split(".")[1:]  # drop "forktool"
    if parts and parts[0] in ("stack", "series", "bench"):
        return parts[0]
    return "basics" if parts and parts[0] in BASICS else "top"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("forktool"):
            found.update(
                f"{node.module}.{a.name}" if node.module.count(".") == 0 else node.module for a in node.names
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("forktool"))
    return found


def test_no_module_imports_from_a_higher_layer() -> None:
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(("forktool", *path.relative_to(SRC).with_suffix("").parts))
        own = LAYERS.index(_layer(module))
        for imported in _imports(path):
            if LAYERS.index(_layer(imported)) > own:
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_the_layers_are_what_the_package_docstring_says() -> None:
    assert {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == {
        "stack",
        "series",
        "bench",
    }
    top = {p.stem for p in SRC.glob("*.py")} - {"__init__", "__main__"}
    assert top == BASICS | {"demo", "cli"}
