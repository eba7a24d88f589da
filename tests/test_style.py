"""The tree stays ruff clean and formatted, type-checks, has no import cycle and small modules."""

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(ROOT / ".venv" / "bin"))
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' installs it)")
    return path


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]], ids=["check", "format"])
def test_ruff_clean(args: list[str]) -> None:
    out = subprocess.run([_tool("ruff"), *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_types_check() -> None:
    """mypy over scalesearch/ and searchspaces/ (settings in pyproject.toml)."""
    out = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in (ROOT / "README.md").read_text()


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_import_cycle() -> None:
    """No module reaches itself through imports (function-level and TYPE_CHECKING imports included)."""
    modules = {}
    for root in ("scalesearch", "searchspaces"):
        for f in (ROOT / root).rglob("*.py"):
            name = ".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = f
    edges = {m: {d for d in _imports(f) if d in modules and d != m} for m, f in modules.items()}

    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    return [*path, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for m in sorted(modules) if (c := cycle_from(m))]
    assert not cycles, " -> ".join(cycles[0])


def test_top_level_of_the_engine_stays_small() -> None:
    """The engine's tree reads as the data flow: few top-level modules, none over 400 lines."""
    top = sorted(p.name for p in (ROOT / "scalesearch").glob("*.py"))
    assert len(top) <= 12, top
    big = [
        f"{p.relative_to(ROOT)} ({n} lines)"
        for p in [*(ROOT / "scalesearch").rglob("*.py"), *(ROOT / "searchspaces").glob("*.py")]
        if (n := len(p.read_text().splitlines())) > 400
    ]
    assert not big, big
