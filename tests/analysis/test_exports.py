"""The public surface of infersight.analysis is pinned (httpx test_exported_members style)."""

from __future__ import annotations

import infersight.analysis as analysis


def test_all_is_pinned() -> None:
    assert sorted(analysis.__all__) == sorted([
        "AnalysisError", "CATEGORIES", "Diagnosis", "Evidence", "Finding", "Impact", "NoDataError",
        "RootCause", "NewerSchemaError", "SchemaError", "Segment", "SourceError", "Span", "Symptom",
        "Telemetry", "UsageError", "connect", "critical_path", "diagnose",
    ])
    for name in analysis.__all__:
        assert getattr(analysis, name) is not None


def test_cli_exposes_a_typer_app() -> None:
    import typer
    from infersight.analysis.cli import diagnose_app

    assert isinstance(diagnose_app, typer.Typer)
