"""cache_duplicate_misses: duplicate *loads* (no single-flight) vs single-flight waiters.

A miss loads when its own trace does work while the lookup is open; a single-flight waiter
only awaits the first caller's load. Only racing loads are the stampede signature.
"""

from __future__ import annotations

from pathlib import Path

from infersight.analysis import _sql, connect

from tests.analysis._synth import T0, Builder

MS = 1_000_000


def _miss(b: Builder, start_ns: int, key: str, *, work: bool) -> None:
    tid, sid = b.request("/v1/chat", start_ns, 120 * MS)
    b.span(tid, "cache.lookup answers", start_ns + MS, 100 * MS, parent=sid,
           attrs={"cache.name": "answers", "cache.hit": "false", "cache.key_hash": key})
    if work:  # the recomputation, a sibling span inside the lookup (as the demo's generation)
        b.span(tid, "generate", start_ns + 2 * MS, 95 * MS, parent=sid)


def _counts(tmp_path: Path, second_works: bool, *, traced: bool = True) -> dict[str, int]:
    b = Builder(seed=3)
    _miss(b, T0, "hot", work=traced)
    _miss(b, T0 + 20 * MS, "hot", work=second_works)  # starts while the first is still loading
    _miss(b, T0 + 5_000 * MS, "other", work=traced)  # a later, lone miss
    with connect(b.write(tmp_path / "c.duckdb")) as tel:
        tel.build_features()
        df = _sql.run(tel.con, "detectors/cache_duplicate_misses", step_ns=60_000 * MS, **tel.params)
    return {c: int(df[c].sum()) for c in ("misses", "concurrent_duplicates", "duplicate_loads", "loads")}


def test_single_flight_waiter_is_not_a_duplicate_load(tmp_path: Path) -> None:
    got = _counts(tmp_path, second_works=False)
    assert got == {"misses": 3, "concurrent_duplicates": 1, "duplicate_loads": 0, "loads": 2}


def test_two_requests_loading_one_key_is_a_duplicate_load(tmp_path: Path) -> None:
    got = _counts(tmp_path, second_works=True)
    assert got == {"misses": 3, "concurrent_duplicates": 1, "duplicate_loads": 1, "loads": 3}


def test_untraced_loader_counts_every_miss_as_a_load(tmp_path: Path) -> None:
    got = _counts(tmp_path, second_works=False, traced=False)
    assert got == {"misses": 3, "concurrent_duplicates": 1, "duplicate_loads": 1, "loads": 3}
