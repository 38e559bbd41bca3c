"""Fixtures for executing the notebooks: the project's kernel and the sample data folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


@pytest.fixture
def project_kernel(monkeypatch: pytest.MonkeyPatch) -> str:
    """The ``python3`` kernel of this interpreter: its kernel spec runs ``python`` from PATH, so
    this test's interpreter goes first on PATH (the venv's, with infersight installed)."""
    pytest.importorskip("ipykernel")
    bindir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("MPLBACKEND", "agg")
    return "python3"
