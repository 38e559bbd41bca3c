"""``infersight collect | import | export``: thin typer commands over the collectors package.

Every expected failure (port in use, unwritable or locked DB, newer schema, bad flag value) is
one line on stderr and exit code 1 (2 for usage errors); nothing is written in that case.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from ._errors import CollectorError

_HELP = {"help_option_names": ["-h", "--help"]}
import_app = typer.Typer(add_completion=False, context_settings=_HELP,
                         help="Import OTLP JSON/protobuf files or Jaeger JSON traces into DuckDB.")
export_app = typer.Typer(add_completion=False, context_settings=_HELP,
                         help="Export a DuckDB telemetry file to partitioned Parquet.")
Mounts = Mapping[str, Callable[[Any], Any]]


def _fail(exc: Exception) -> SystemExit:
    # SystemExit, not typer.Exit: the top-level shell is plain click, typer's Exit is not its own.
    typer.echo(f"infersight: error: {exc}", err=True)
    return SystemExit(1)


def build_collect_app(mounts: Callable[[], Mounts] | None = None) -> typer.Typer:
    """The ``collect`` command; ``mounts()`` (called when it runs) names apps to serve on its
    HTTP port, e.g. ``{"/ui": infersight.ui.mount}`` (the CLI shell passes the web UI)."""
    app = typer.Typer(add_completion=False, context_settings=_HELP,
                      help="Run the OTLP receiver (HTTP 4318, gRPC 4317) storing into DuckDB.")

    @app.command()
    def collect(
        db: Annotated[Path, typer.Option("--db", help="DuckDB file to write (created if missing).")] = Path("telemetry.duckdb"),
        host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
        http_port: Annotated[int, typer.Option("--http-port", help="OTLP/HTTP port (also /ui, /api, /metrics); 0 picks a free one.")] = 4318,
        grpc_port: Annotated[int, typer.Option("--grpc-port", help="OTLP/gRPC port; -1 disables gRPC.")] = 4317,
        token: Annotated[str | None, typer.Option(envvar="INFERSIGHT_TOKEN", show_envvar=True,
                                                  help="Require 'Authorization: Bearer TOKEN' (the UI asks for it once).")] = None,
        retention: Annotated[str | None, typer.Option(help="Delete data older than this (e.g. 7d, 12h).")] = None,
        max_size: Annotated[str | None, typer.Option("--max-size", help="Keep the DB under this size (e.g. 10GB).")] = None,
        max_body: Annotated[str, typer.Option("--max-body", help="Largest request body after decompression.")] = "64MiB",
        tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate: serve HTTPS and gRPC+TLS.")] = None,
        tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key for --tls-cert.")] = None,
        workers: Annotated[int, typer.Option("--workers", help="Decode processes; -1 = one per CPU beyond the first, 0 = in-process.")] = -1,
        ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Serve the web UI at /ui (read-only, same port and token).")] = True,
        log_level: Annotated[str, typer.Option("--log-level")] = "info",
    ) -> None:
        """Receive OTLP traces, metrics and logs and store them in a DuckDB file.

        The HTTP port also serves the web UI (/ui), the Jaeger query API (/api, for Grafana)
        and the collector's own Prometheus metrics (/metrics).
        """
        from ._collector import Collector
        from ._units import parse_duration, parse_size

        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stderr)
        extra = dict(mounts()) if (ui and mounts is not None) else {}
        try:
            col = Collector(
                db, host=host, http_port=http_port, grpc_port=None if grpc_port < 0 else grpc_port, token=token,
                retention_s=parse_duration(retention) if retention else None,
                max_size=parse_size(max_size) if max_size else None, max_body=parse_size(max_body),
                tls_cert=str(tls_cert) if tls_cert else None, tls_key=str(tls_key) if tls_key else None,
                decode_workers=workers if workers >= 0 else max(1, min(4, (os.cpu_count() or 2) - 1)),
                mounts=extra)
            col.start()
        except CollectorError as exc:
            raise _fail(exc) from None
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        grpc_txt = f"{host}:{col.grpc_port}" if col.grpc_port is not None else "off"
        typer.echo(f"infersight collector ready: http {col.url} grpc {grpc_txt} db {db}", err=False)
        if "/ui" in extra:
            typer.echo(f"web UI: {col.url}/ui   Jaeger API: {col.url}/api   metrics: {col.url}/metrics")
        sys.stdout.flush()
        try:
            while not stop.wait(1.0):
                pass
        finally:
            col.stop()
        typer.echo("infersight collector stopped", err=True)

    return app


collect_app = build_collect_app()


@import_app.command("import")
def import_files(
    files: Annotated[list[Path], typer.Argument(help="OTLP JSON(L)/protobuf files or Jaeger JSON trace files.")],
    db: Annotated[Path, typer.Option("--db", help="DuckDB file to write into.")] = Path("telemetry.duckdb"),
    fmt: Annotated[str, typer.Option("--format", help="auto | otlp-json | otlp-proto | jaeger")] = "auto",
) -> None:
    """Import telemetry files (as written by the OTel Collector's file exporter, or Jaeger JSON)."""
    from ._import import import_paths

    try:
        counts = import_paths(db, files, fmt=fmt)
    except CollectorError as exc:
        raise _fail(exc) from None
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


@export_app.command("export")
def export(
    db: Annotated[Path, typer.Option("--db", help="DuckDB telemetry file (collector stopped) or collector URL.")] = Path("telemetry.duckdb"),
    parquet: Annotated[Path, typer.Option("--parquet", help="Output folder (partitioned by service/date/hour).")] = Path("export"),
) -> None:
    """Export every otel_* table to Parquet: DIR/<table>/service=S/date=YYYY-MM-DD/hour=HH/*.parquet."""
    from ._export import export_parquet

    try:
        counts = export_parquet(str(db), parquet)
    except CollectorError as exc:
        raise _fail(exc) from None
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
