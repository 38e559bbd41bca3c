"""Workloads of the RCA corpus: one package per workload with a plain-data ``spec.py`` (CONTRACTS.md)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def names() -> list[str]:
    return sorted(p.parent.name for p in HERE.glob("*/spec.py"))


def spec(name: str) -> ModuleType:
    if name not in names():
        raise KeyError(f"unknown workload {name!r}; known: {', '.join(names())}")
    return importlib.import_module(f"benchmarks.rca.workloads.{name}.spec")


__all__ = ["names", "spec"]
