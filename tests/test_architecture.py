"""Imports run down the floors of docs/architecture.md, never up."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "microchimera"

#: Top-level module or package -> floor (docs/architecture.md).
FLOORS = {
    "conventions": 1, "errors": 1, "options": 1, "result": 1, "provenance": 1, "_atomic": 1, "_progress": 1,
    "io": 2,
    "count": 3, "model": 3, "sim": 3, "ychrom": 3, "report": 3,
    "workflow": 4, "cohort": 4,
    "cli": 5, "__main__": 5,
}


def _top(module_path: Path) -> str:
    rel = module_path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imported_tops(path: Path) -> set[str]:
    """Top-level microchimera modules imported by ``path`` (absolute or relative imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    depth_of_file = len(path.relative_to(PKG).parts) - 1  # 0 for microchimera/x.py
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] == "microchimera" and len(parts) > 1:
                    out.add(parts[1])
                continue
            up = node.level - 1  # levels above the file's own package
            if up > depth_of_file:
                continue
            base = list(path.relative_to(PKG).parts[:depth_of_file - up])
            mod = base + ((node.module or "").split(".") if node.module else [])
            if mod:
                out.add(mod[0])
            else:  # from . import x at the package root
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "microchimera" and len(parts) > 1:
                    out.add(parts[1])
    return out


def test_architecture__every_top_level_module_has_a_floor():
    tops = {_top(p) for p in PKG.rglob("*.py")} - {"__init__"}
    assert tops, "no modules found"
    assert tops <= set(FLOORS), tops - set(FLOORS)


def test_architecture__no_import_points_up_a_floor():
    files = sorted(p for p in PKG.rglob("*.py") if p.name != "__init__.py" or p.parent != PKG)
    assert len(files) > 40
    up = []
    for path in files:
        own = FLOORS[_top(path)]
        for target in _imported_tops(path):
            if target in FLOORS and FLOORS[target] > own:
                up.append(f"{path.relative_to(PKG)} (floor {own}) imports {target} (floor {FLOORS[target]})")
    assert not up, "\n".join(up)
