"""The collectors' one exception tree (under :class:`infersight.InfersightError`); the CLI maps it
to one-line errors and exit codes (``exit_code``), HTTP/gRPC to status codes."""

from __future__ import annotations

from infersight._errors import EXIT_BAD_INPUT, BadArgumentError, InfersightError


class CollectorError(InfersightError):
    """Base of every error the collectors package raises on purpose."""


class CollectorConfigError(CollectorError, BadArgumentError):
    """Bad configuration (a flag value, a size or duration that does not parse); the collectors'
    one bad-argument class."""


class PortInUseError(CollectorError):
    """A listening port is already taken."""


class StorageError(CollectorError):
    """The DuckDB file cannot be opened, written or read."""


class NotTelemetryError(StorageError):
    """A source to read that does not exist, cannot be opened as DuckDB or holds no otel_* data."""

    exit_code = EXIT_BAD_INPUT


class SchemaVersionError(StorageError):
    """The database was written by a newer infersight (its schema version is unknown here)."""

    exit_code = EXIT_BAD_INPUT


class DecodeError(CollectorError):
    """An OTLP payload that cannot be decoded (maps to HTTP 400 / gRPC INVALID_ARGUMENT)."""

    exit_code = EXIT_BAD_INPUT


class PayloadTooLargeError(CollectorError):
    """A body over the configured limit after decompression (HTTP 413)."""

    exit_code = EXIT_BAD_INPUT


class OverloadedError(CollectorError):
    """The write queue is full; the client should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ImportFormatError(CollectorError):
    """A file given to ``infersight import`` is not OTLP JSON/protobuf or Jaeger JSON."""

    exit_code = EXIT_BAD_INPUT
