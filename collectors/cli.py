"""``infersight collect | import | export``: thin typer commands over the collectors package.

Every expected failure (port in use, unwritable or locked DB, newer schema, bad flag value) is
one line on stderr, ``infersight <command>: error: ...``, with the exit code of
:mod:`infersight._errors` (1 failed, 2 bad input); nothing is written in that case.
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

from infersight._fail import fail
from infersight._units import parse_duration, parse_size

from ._errors import CollectorConfigError, CollectorError

_HELP = {"help_option_names": ["-h", "--help"]}
import_app = typer.Typer(add_completion=False, context_settings=_HELP,
                         help="Import OTLP JSON/protobuf files or Jaeger JSON traces into DuckDB.")
export_app = typer.Typer(add_completion=False, context_settings=_HELP,
                         help="Export a DuckDB telemetry file to partitioned Parquet.")
Mounts = Mapping[str, Callable[[Any], Any]]


def _size(text: str, option: str) -> int:
    return parse_size(text, error=CollectorConfigError, what=option)


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
                                                  help="Require 'Authorization: Bearer TOKEN' (the UI asks for it "
                                                       "once). Prefer $INFERSIGHT_TOKEN or --token-file: a flag is "
                                                       "visible to every user in the process list.")] = None,
        token_file: Annotated[Path | None, typer.Option("--token-file", help="Read the bearer token from this file "
                                                        "(first line; keep it chmod 600).")] = None,
        allow_host: Annotated[list[str] | None, typer.Option("--allow-host", help="Also answer requests whose Host "
                                                             "header names this host (repeatable; '*' = any). "
                                                             "On loopback only localhost names and IPs are "
                                                             "answered, against DNS rebinding.")] = None,
        grpc_max_message: Annotated[str, typer.Option("--grpc-max-message", help="Largest gRPC message.")] = "4MiB",
        max_connections: Annotated[int, typer.Option("--max-connections", help="Open HTTP connections before new "
                                                     "ones get 503.")] = 512,
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

        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stderr)
        extra = dict(mounts()) if (ui and mounts is not None) else {}
        try:
            token = _resolve_token(token, token_file)
            col = Collector(
                db, host=host, http_port=http_port, grpc_port=None if grpc_port < 0 else grpc_port, token=token,
                grpc_max_message=_size(grpc_max_message, "--grpc-max-message"), max_connections=max_connections,
                allow_hosts=allow_host or (),
                retention_s=parse_duration(retention, error=CollectorConfigError, what="--retention")
                if retention else None,
                max_size=_size(max_size, "--max-size") if max_size else None, max_body=_size(max_body, "--max-body"),
                tls_cert=str(tls_cert) if tls_cert else None, tls_key=str(tls_key) if tls_key else None,
                decode_workers=workers if workers >= 0 else max(1, min(4, (os.cpu_count() or 2) - 1)),
                mounts=extra)
            col.start()
        except CollectorError as exc:
            raise fail("collect", exc) from None
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


def _resolve_token(flag: str | None, path: Path | None) -> str | None:
    """The token from --token / $INFERSIGHT_TOKEN or --token-file; an empty one is an error.

    ``INFERSIGHT_TOKEN=`` (set but empty) once meant "no token" without a word: a collector
    believed to be protected was open. Now it is refused: unset the variable to run without one.
    """
    if path is not None:
        if flag is not None:
            raise CollectorConfigError("give the token once: --token-file or --token/$INFERSIGHT_TOKEN, not both")
        try:
            text = path.read_text(encoding="utf-8")
            mode = path.stat().st_mode
        except OSError as exc:
            raise CollectorConfigError(f"cannot read --token-file {path}: {exc.strerror}") from None
        flag = text.splitlines()[0].strip() if text.strip() else ""
        if mode & 0o077:
            logging.getLogger(__name__).warning("%s is readable by other users (mode %o): chmod 600 it",
                                                path, mode & 0o777)
        if not flag:
            raise CollectorConfigError(f"--token-file {path} is empty")
        return flag
    env = os.environ.get("INFERSIGHT_TOKEN")
    if flag is None and env is not None and not env.strip():  # click reads an empty variable as unset
        raise CollectorConfigError("$INFERSIGHT_TOKEN is set but empty: give a token, or unset it to run without one")
    if flag is not None and not flag.strip():
        raise CollectorConfigError("--token is empty: give a token, or leave it out to run without one")
    return flag.strip() if flag else None


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
        raise fail("import", exc) from None
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


def _export_clickhouse(source: str, url: str, ttl_days: int) -> dict[str, int]:
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from .clickhouse import export_to_clickhouse

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True) as bar:
        task = bar.add_task("creating the exporter's tables")

        def step(table: str, rows: int) -> None:
            bar.update(task, description=f"{table}: {rows:,} rows copied")

        return export_to_clickhouse(source, url, ttl_days=ttl_days, progress=step)


@export_app.command("export")
def export(
    db: Annotated[Path, typer.Option("--db", help="DuckDB telemetry file (collector stopped), Parquet folder or collector URL.")] = Path("telemetry.duckdb"),
    parquet: Annotated[Path, typer.Option("--parquet", help="Output folder (partitioned by service/date/hour).")] = Path("export"),
    clickhouse: Annotated[str | None, typer.Option("--clickhouse", help="Copy into the OTel Collector ClickHouse "
                                                   "exporter's tables instead: chdb:PATH or clickhouse://user@host:8123/db "
                                                   "(created with the exporter's DDL).")] = None,
    ttl_days: Annotated[int, typer.Option("--ttl-days", help="With --clickhouse: the tables' TTL in days "
                                          "(0: none), as the exporter's ttl option.")] = 0,
) -> None:
    """Export every otel_* table to Parquet: DIR/<table>/service=S/date=YYYY-MM-DD/hour=HH/*.parquet
    (or, with --clickhouse, into ClickHouse / chDB)."""
    try:
        if clickhouse:
            counts = _export_clickhouse(str(db), clickhouse, ttl_days)
        else:
            from ._export import export_parquet

            counts = export_parquet(str(db), parquet)
    except CollectorError as exc:
        raise fail("export", exc) from None
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
