"""Pins the public surface of infersight.collectors (house style: explicit __all__)."""

from __future__ import annotations

import infersight.collectors as collectors
from infersight.collectors import reader


def test_all_is_pinned() -> None:
    assert collectors.__all__ == [
        "SCHEMA_VERSION", "TABLES", "Collector", "CollectorError", "CollectorConfigError", "DecodeError",
        "ImportFormatError", "NotTelemetryError", "OverloadedError", "PayloadTooLargeError", "PortInUseError", "Reads",
        "SchemaVersionError", "StorageError", "open_readonly",
    ]
    for name in collectors.__all__:
        assert getattr(collectors, name) is not None


def test_reader_module_surface() -> None:
    assert reader.__all__ == ["collector_url", "live_newest_ns", "open_readonly"]


def test_query_module_surface() -> None:
    from infersight.collectors import query

    assert query.__all__ == ["KINDS", "ORDERS", "RESOURCE_PREFIX", "SpanSearch", "TRACE_WINDOW_NS", "find_traces",
                             "operations", "search_spans", "services", "time_range", "trace", "traces"]


def test_exception_tree() -> None:
    for name in collectors.__all__:
        obj = getattr(collectors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, collectors.CollectorError)
