"""Layering rules that the event contracts depend on (docs/ARCHITECTURE.md, Layout): the kernel
is handed the contracts and imports none of this repository but the generated hubapi code, and
contracts/ imports only the kernel."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"hub", "hubkit", "hubapi", "contracts", "services", "gateway", "connectors", "simulators", "bench", "tests"}


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level packages of this repository that each module of `package` imports."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names & OURS
    return found


@pytest.mark.parametrize("package, allowed", [("hubkit", {"hubkit", "hubapi"}), ("contracts", {"hubkit", "contracts"})])
def test_package_imports_only_what_it_may(package, allowed):
    wrong = {module: sorted(names - allowed) for module, names in _imports(package).items() if names - allowed}
    assert wrong == {}


def test_every_emit_builds_its_contract():
    """`uow.emit("type", ...)` with a bare type name is the old, unchecked way."""
    bare = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "services").rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"\.emit\(\s*['\"]", line)]
    assert bare == []
