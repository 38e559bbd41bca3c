"""The collectors' one exception tree; the CLI maps it to one-line errors, HTTP/gRPC to status codes."""

from __future__ import annotations


class CollectorError(Exception):
    """Base of every error the collectors package raises on purpose."""


class ConfigError(CollectorError):
    """Bad configuration (a flag value, a size or duration that does not parse)."""


class PortInUseError(CollectorError):
    """A listening port is already taken."""


class StorageError(CollectorError):
    """The DuckDB file cannot be opened, written or read."""


class SchemaVersionError(StorageError):
    """The database was written by a newer infersight (its schema version is unknown here)."""


class DecodeError(CollectorError):
    """An OTLP payload that cannot be decoded (maps to HTTP 400 / gRPC INVALID_ARGUMENT)."""


class PayloadTooLargeError(CollectorError):
    """A body over the configured limit after decompression (HTTP 413)."""


class OverloadedError(CollectorError):
    """The write queue is full; the client should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ImportFormatError(CollectorError):
    """A file given to ``infersight import`` is not OTLP JSON/protobuf or Jaeger JSON."""
