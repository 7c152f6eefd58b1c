"""The gateway is shaped by area: an area imports only itself and what is shared (gateway.common,
gateway.errors), never another area, so each area's models, presenters and routes are in one place."""
from __future__ import annotations

import ast
from pathlib import Path

import gateway.areas

AREAS = Path(gateway.areas.__file__).parent


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_no_area_imports_another():
    areas = sorted(p.name for p in AREAS.iterdir() if (p / "routes.py").exists())
    assert len(areas) == 19  # kpis: the sales KPIs; printing: the printed documents; imports; prices
    sideways = [(area, path.name, name) for area in areas for path in (AREAS / area).glob("*.py")
                for name in _imported(path)
                if name.startswith("gateway.areas") and not name.startswith(f"gateway.areas.{area}")]
    assert sideways == []


def test_every_area_router_is_included_once():
    from gateway.areas import ROUTERS

    assert len({id(r) for r in ROUTERS}) == len(ROUTERS) == 19
