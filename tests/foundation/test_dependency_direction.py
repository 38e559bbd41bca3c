"""The dependency rules of DESIGN.md, checked on the source (every import, lazy ones included)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Modules that must never be imported by a part, whether at module level or inside functions.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "instrument": ("duckdb", "numpy", "pandas", "pyarrow", "scipy", "matplotlib",
                   "infersight.collectors", "infersight.analysis", "infersight.demo", "infersight.cli",
                   "infersight.ui"),
    # the collector's own metric names come from the catalog; nothing else of instrument (ALLOWED)
    "collectors": ("infersight.analysis", "infersight.demo", "infersight.cli", "infersight.ui",
                   "infersight.instrument"),
    "analysis": ("infersight.demo", "infersight.cli", "infersight.instrument._", "infersight.ui"),
    "demo": ("infersight.analysis", "infersight.collectors._", "infersight.cli", "infersight.ui"),
    # the web UI reads through the collectors' and the analysis' public APIs only
    "ui": ("infersight.demo", "infersight.cli", "infersight.instrument", "infersight.collectors._",
           "infersight.analysis._"),
}
# A prefix ending in "._" forbids every private module below that package, in any room
# (infersight.instrument._ also covers infersight.instrument.export._otlp).
# Named exceptions to a prefix above: (part, module). The UI renders the findings with the same
# function as `infersight diagnose --html` (which lives in a private module of analysis).
ALLOWED: frozenset[tuple[str, str]] = frozenset({("ui", "infersight.analysis._report_html"),
                                                 ("ui", "infersight.analysis._report_html.render"),
                                                 ("collectors", "infersight.instrument.metrics.catalog"),
                                                 ("collectors", "infersight.instrument.metrics.catalog.BY_NAME")})


def _forbidden(mod: str, prefix: str) -> bool:
    if prefix.endswith("._"):
        package = prefix[:-2]
        rest = mod[len(package) + 1:].split(".") if mod.startswith(package + ".") else []
        return any(part.startswith("_") for part in rest)
    return mod == prefix or mod.startswith(prefix + ".")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from infersight.instrument import _gc` reaches a private module too
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
    return found


def _violations(part: str) -> list[str]:
    bad: list[str] = []
    for path in sorted((ROOT / part).rglob("*.py")):
        for lineno, mod in _imports(path):
            if (part, mod) in ALLOWED:
                continue
            for prefix in FORBIDDEN[part]:
                if _forbidden(mod, prefix):
                    bad.append(f"{path.relative_to(ROOT)}:{lineno} imports {mod}")
    return bad


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_part_respects_dependency_direction(part: str) -> None:
    assert _violations(part) == []


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    # The checker itself must be able to fail: a lazy import inside a function counts.
    src = tmp_path / "x.py"
    src.write_text("def f():\n    import duckdb\n    from infersight.analysis import connect\n")
    mods = [m for _, m in _imports(src)]
    assert "duckdb" in mods and "infersight.analysis" in mods
    assert _forbidden("infersight.instrument.export._otlp", "infersight.instrument._")
    assert not _forbidden("infersight.instrument.metrics.catalog", "infersight.instrument._")


def test_cli_shell_imports_no_part_at_module_level() -> None:
    tree = ast.parse((ROOT / "infersight" / "cli.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.startswith("infersight.") and n != "infersight._version"]


def test_help_imports_neither_duckdb_nor_numpy() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from infersight.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    rc = main(['--help'])\n"
        "heavy = sorted(m for m in ('duckdb', 'numpy', 'pandas', 'pyarrow', 'infersight.collectors',\n"
        "               'infersight.analysis', 'infersight.demo', 'infersight.ui') if m in sys.modules)\n"
        "assert rc == 0, rc\n"
        "assert 'diagnose' in out.getvalue() and 'collect' in out.getvalue()\n"
        "print(heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_instrument_import_stays_light() -> None:
    code = ("import sys, infersight.instrument\n"
            "print(sorted(m for m in ('duckdb','numpy','pandas','pyarrow') if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"
