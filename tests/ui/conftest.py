"""A real collector with the web UI mounted, over a real demo run (tests/data/runs/full_sync)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from infersight.collectors import Collector
from infersight.ui import mount

from tests._runs import run_db


@pytest.fixture(scope="package")
def ui_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    db = run_db("full_sync", tmp_path_factory.mktemp("ui") / "t.duckdb")
    with Collector(db, http_port=0, grpc_port=None, retention_interval_s=3600, mounts={"/ui": mount}) as col:
        yield col
