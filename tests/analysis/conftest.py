"""Fixtures for the analysis tests: small real DuckDB files built by tests/analysis/_synth.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis._synth import Builder, steady_requests


@pytest.fixture
def clean_db(tmp_path: Path) -> Path:
    b = Builder(seed=7)
    steady_requests(b, seconds=300, rps=4)
    return b.write(tmp_path / "clean.duckdb")
