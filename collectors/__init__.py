"""infersight.collectors: the OTLP receiver (HTTP 4318 + gRPC 4317) that stores into DuckDB.

``Collector`` runs it in-process; ``reader.open_readonly`` opens the data for reading (file,
running collector URL or Parquet folder); ``query`` holds the trace-search and trace-lookup
queries the Jaeger API and the web UI use; ``Reads`` is what an app mounted on the collector's
port (``Collector(mounts=...)``) gets to read the live database. The tables follow the OpenTelemetry Collector contrib
ClickHouse exporter schema (collectors/schema.sql, its public handle ``schema``, docs/schema.md).
"""

from __future__ import annotations

from ._collector import Collector
from ._errors import (
    CollectorConfigError,
    CollectorError,
    DecodeError,
    ImportFormatError,
    NotTelemetryError,
    OverloadedError,
    PayloadTooLargeError,
    PortInUseError,
    SchemaVersionError,
    StorageError,
)
from ._reads import Reads
from .reader import open_readonly
from .schema import SCHEMA_VERSION, TABLES

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "Collector",
    "CollectorError",
    "CollectorConfigError",
    "DecodeError",
    "ImportFormatError",
    "NotTelemetryError",
    "OverloadedError",
    "PayloadTooLargeError",
    "PortInUseError",
    "Reads",
    "SchemaVersionError",
    "StorageError",
    "open_readonly",
]
