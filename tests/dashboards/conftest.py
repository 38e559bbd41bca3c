"""Fixtures for the dashboards/rules/deploy tests: the build module loaded from its path."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"


def load_build() -> ModuleType:
    """dashboards/build.py is a script, not a package module; load it by path."""
    if "infersight_dashboards_build" in sys.modules:
        return sys.modules["infersight_dashboards_build"]
    spec = importlib.util.spec_from_file_location("infersight_dashboards_build", DASHBOARDS / "build.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def build() -> ModuleType:
    return load_build()


def need_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make system-deps` (Debian package prometheus)")
    return path
