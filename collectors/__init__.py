"""infersight.collectors: the OTLP receiver (HTTP 4318 + gRPC 4317) that stores into DuckDB.

``Collector`` runs it in-process; ``reader.open_readonly`` opens the data for reading (file,
running collector URL or Parquet folder). The tables follow the OpenTelemetry Collector contrib
ClickHouse exporter schema (collectors/schema.sql, docs/schema.md).
"""

from __future__ import annotations

from ._collector import Collector
from ._errors import (
    CollectorError,
    ConfigError,
    DecodeError,
    ImportFormatError,
    OverloadedError,
    PayloadTooLargeError,
    PortInUseError,
    SchemaVersionError,
    StorageError,
)
from ._schema import SCHEMA_VERSION, TABLES
from .reader import open_readonly

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "Collector",
    "CollectorError",
    "ConfigError",
    "DecodeError",
    "ImportFormatError",
    "OverloadedError",
    "PayloadTooLargeError",
    "PortInUseError",
    "SchemaVersionError",
    "StorageError",
    "open_readonly",
]
