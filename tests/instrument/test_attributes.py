"""The attribute catalog (infersight.instrument.metrics.attributes) is the one list of attribute names:
every name any SQL file reads and every name the instrumentation writes is in it, legacy
spellings are read only after the current name, and finding categories are the analysis' enum."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from infersight.instrument.metrics.attributes import ATTRIBUTES, BY_NAME, spellings

ROOT = Path(__file__).resolve().parents[2]
# x['name'] after an identifier, a closing bracket/paren or a quote: a map lookup, not a list literal
SQL_KEY = re.compile(r"""(?<=[\w\]\)"])\[\s*'([^']+)'\s*\]""")
ATTR_PREFIXES = ("infersight.", "cache.", "db.", "http.", "url.", "server.", "client.", "gen_ai.", "cpython.",
                 "hw.", "gpu.", "code.", "error.", "exception.", "process.", "service.", "peer.", "network.",
                 "user_agent.", "cpu.")


def _sql_files() -> list[Path]:
    files = sorted(ROOT.glob("*/sql/**/*.sql"))
    assert len(files) >= 60 and any(f.parts[-3:-1] == ("sql", "staging") for f in files)
    return files


def _sql_reads() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in _sql_files():
        for m in SQL_KEY.finditer(f.read_text()):
            found.setdefault(m.group(1), set()).add(str(f.relative_to(ROOT)))
    return found


def test_the_catalog_is_consistent() -> None:
    names = [a.name for a in ATTRIBUTES]
    assert len(names) == len(set(names))
    for a in ATTRIBUTES:
        assert a.meaning and a.on, a.name
        assert (a.source == "legacy") == (a.replaced_by is not None), a.name
        if a.replaced_by is not None:
            assert BY_NAME[a.replaced_by].source != "legacy", a.name  # one step back to the current name
    assert spellings("cache.hit") == ("cache.hit", "infersight.cache.hit")


def test_every_name_any_sql_file_reads_is_in_the_catalog() -> None:
    reads = _sql_reads()
    assert {"http.route", "cache.hit", "db.client.connection.pool.name", "gen_ai.latency.time_in_queue"} <= set(reads)
    missing = {name: sorted(files) for name, files in reads.items() if name not in BY_NAME}
    assert missing == {}


def test_the_checker_sees_a_new_sql_file_and_skips_list_literals(tmp_path: Path) -> None:
    sample = "SELECT attrs['x.y'], s.resource['r.z'], e[2]['lag_ms'] FROM t WHERE a IN ['not_a_key']"
    assert [m.group(1) for m in SQL_KEY.finditer(sample)] == ["x.y", "r.z", "lag_ms"]


def test_legacy_spellings_are_read_after_the_current_name() -> None:
    for f in _sql_files():
        text = f.read_text()
        for m in SQL_KEY.finditer(text):
            spec = BY_NAME.get(m.group(1))
            if spec is None or spec.replaced_by is None:
                continue
            current = spellings(spec.replaced_by)[0]
            first_current = text.find(f"['{current}']")
            assert 0 <= first_current < m.start(), f"{f.name}: reads {spec.name!r} without {current!r} before it"


def _written_names() -> dict[str, str]:
    """String keys the instrumentation puts on spans, events, resources and metric points: dict
    keys, set_attribute's first argument, attrs[...] = ..., and ("name", value) pairs it loops over."""
    found: dict[str, str] = {}

    def add(node: ast.AST, where: str) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(ATTR_PREFIXES):
            found.setdefault(node.value, where)

    for path in (ROOT / "instrument").rglob("*.py"):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                for key in node.keys:
                    if key is not None:
                        add(key, where)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args and \
                    node.func.attr in ("set_attribute", "setdefault"):
                add(node.args[0], where)
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
                add(node.slice, where)
            elif isinstance(node, ast.For) and isinstance(node.iter, (ast.Tuple, ast.List)):
                for item in node.iter.elts:
                    if isinstance(item, ast.Tuple) and item.elts:
                        add(item.elts[0], where)
    return found


def test_every_name_the_instrumentation_writes_is_in_the_catalog_and_current() -> None:
    written = _written_names()
    assert {"cache.hit", "cache.key_hash", "infersight.job.name", "infersight.gpu.energy_j"} <= set(written)
    assert {n: w for n, w in written.items() if n not in BY_NAME} == {}
    legacy = {n: w for n, w in written.items() if BY_NAME[n].source == "legacy"}
    assert legacy == {}, "the instrumentation writes only current names"


def test_finding_categories_are_the_analysis_enum() -> None:
    import importlib

    from infersight.analysis._category import Category
    from infersight.demo._faults import FAULTS

    known = {c.value for c in Category}
    assert {f.category for f in FAULTS.values()} <= known
    for spec in sorted((ROOT / "benchmarks" / "rca" / "workloads").glob("*/spec.py")):
        mod = importlib.import_module(f"benchmarks.rca.workloads.{spec.parent.name}.spec")
        for family, fault in mod.FAULTS.items():
            expected = fault["expected"]["category"]
            cats = [expected] if isinstance(expected, str) else list(expected)
            assert set(cats) <= known, (spec.parent.name, family, cats)


@pytest.mark.parametrize("name", ["cache.hit", "db.client.connection.pool.name", "infersight.job.name"])
def test_docs_name_the_current_spelling(name: str) -> None:
    assert f"`{name}`" in (ROOT / "docs" / "metrics.md").read_text()
