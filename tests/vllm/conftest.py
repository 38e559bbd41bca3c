"""Fixtures for the vLLM plugin tests: a real in-process collector and DuckDB query helpers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VLLM_VENV = Path(os.environ.get("INFERSIGHT_VLLM_VENV", ROOT / ".venv-vllm")).resolve()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Any]:
    from infersight.collectors import Collector

    col = Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, retention_interval_s=3600)
    col.start()
    try:
        yield col
    finally:
        col.stop()


def query(col: Any, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    cur = col.con.cursor()
    try:
        return cur.execute(sql, params or []).fetchall()
    finally:
        cur.close()


def wait_for(fn: Callable[[], Any], timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Poll ``fn`` until it returns something truthy (the last value is returned either way)."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = fn()
    return value
