"""``infersight demo``: serve | downstream | load | scenario | scenarios | incident."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from infersight.demo._config import DEFAULT_DATA_DIR
from infersight.demo._errors import DemoConfigError, DemoError

from infersight._errors import EXIT_INTERRUPTED, EXIT_TERMINATED, InfersightError
from infersight._fail import fail
from infersight._units import parse_duration

demo_app = typer.Typer(help="Reference model server with switchable faults, load generator, scenarios.",
                       no_args_is_help=True, add_completion=False)


def _fail(command: str, exc: Exception) -> SystemExit:
    """One line, ``infersight demo <command>: error: ...``, and the exit code of infersight's map
    (2 for a bad option or input, 1 for a failure); a bare ValueError is a bad value."""
    if not isinstance(exc, InfersightError) and isinstance(exc, ValueError):
        exc = DemoConfigError(str(exc))
    return fail(f"demo {command}", exc)


def _seconds(text: str | None, option: str) -> float | None:
    """A duration option (``30``, ``45s``, ``2m``, ``250ms``) in seconds."""
    return None if text is None else parse_duration(text, error=DemoConfigError, what=option)


def _one_blas_thread() -> None:
    """Many request threads share 2-16 cores: one BLAS thread each (set before NumPy loads)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


@demo_app.command()
def serve(
    fault: Annotated[list[str] | None, typer.Option("--fault", help="Fault to switch on (repeatable); "
                                                    "see 'infersight demo scenarios'.")] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    otlp_endpoint: Annotated[str | None, typer.Option("--otlp-endpoint", help="Collector base URL "
                                                      "(default: OTEL_* variables, else http://127.0.0.1:4318).")] = None,
    downstream_url: Annotated[str | None, typer.Option("--downstream-url", help="Risk service base URL.")] = None,
    redis_url: Annotated[str | None, typer.Option("--redis-url", help="Redis for the embedding cache.")] = None,
    rows: Annotated[int | None, typer.Option(help="Rows in the payment table (default 500000).")] = None,
    sync_period: Annotated[str | None, typer.Option("--sync-period", help="Time between payment syncs "
                                                    "(60, 45s, 2m).")] = None,
    pool_size: Annotated[int | None, typer.Option("--pool-size", help="Payments DB connections.")] = None,
    cache_ttl: Annotated[str | None, typer.Option("--cache-ttl", help="Response cache TTL (30, 30s, 5m).")] = None,
    backend: Annotated[str | None, typer.Option(help="auto | numpy | torch")] = None,
    gpu: Annotated[str | None, typer.Option(help="GPU plane (NVML sampling, per-request energy/cost): "
                                            "auto (on when a CUDA GPU is present) | on | off")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where the payment table lives.")] = None,
    service_name: Annotated[str | None, typer.Option("--service-name")] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "warning",
) -> None:
    """Run the OpenAI-compatible demo model server (env: INFERSIGHT_DEMO_<OPTION>)."""
    _one_blas_thread()
    import uvicorn
    from infersight.demo._config import ServerConfig
    from infersight.demo._server import create_app
    from infersight.demo._telemetry import setup

    _logging(log_level)
    try:
        overrides: dict[str, object] = dict(
            faults=fault or None, otlp_endpoint=otlp_endpoint, downstream_url=downstream_url, redis_url=redis_url,
            rows=rows, sync_period=_seconds(sync_period, "--sync-period"), pool_size=pool_size,
            cache_ttl=_seconds(cache_ttl, "--cache-ttl"), backend=backend, gpu=gpu,
            service_name=service_name)
        cfg = ServerConfig.from_env(**overrides)
        if data_dir is not None:
            cfg.db_path = str(data_dir / f"payments-{cfg.rows}.sqlite")
        telemetry = setup(cfg.service_name, cfg.otlp_endpoint or None, export_interval_s=cfg.export_interval_s)
    except (InfersightError, ValueError) as exc:
        raise _fail("serve", exc) from None
    try:
        uvicorn.run(create_app(cfg), host=host, port=port, log_level=log_level, access_log=False)
    finally:
        telemetry.shutdown()


@demo_app.command()
def downstream(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    otlp_endpoint: Annotated[str | None, typer.Option("--otlp-endpoint")] = None,
    slow: Annotated[bool, typer.Option("--slow", help="Start in slow (unindexed) mode.")] = False,
    data_dir: Annotated[Path, typer.Option("--data-dir")] = DEFAULT_DATA_DIR,
    log_level: Annotated[str, typer.Option("--log-level")] = "warning",
) -> None:
    """Run the downstream risk-scoring service the demo server calls."""
    _one_blas_thread()
    import uvicorn
    from infersight.demo._downstream import build_risk_db, create_downstream_app
    from infersight.demo._telemetry import setup

    _logging(log_level)
    telemetry = setup("risk-service", otlp_endpoint, process_role="downstream")
    try:
        db = build_risk_db(data_dir / "risk-events.sqlite")
        uvicorn.run(create_downstream_app(db, slow=slow), host=host, port=port, log_level=log_level,
                    access_log=False)
    finally:
        telemetry.shutdown()


@demo_app.command()
def load(
    url: Annotated[str, typer.Option(help="Demo server base URL.")] = "http://127.0.0.1:8000",
    rate: Annotated[float, typer.Option(help="Target arrivals per second (open loop, Poisson).")] = 8.0,
    duration: Annotated[str, typer.Option(help="How long arrivals go on (30, 30s, 2m).")] = "30s",
    ramp_to: Annotated[float | None, typer.Option("--ramp-to", help="Ramp the rate linearly to this.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the arrival times and the request mix.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON summary here.")] = None,
    requests_out: Annotated[Path | None, typer.Option("--requests-csv", help="Write one CSV row per "
                                                      "request (client-seen latency, trace id) here.")] = None,
    otlp_endpoint: Annotated[str | None, typer.Option("--otlp-endpoint", help="Collector base URL for the "
                                                      "CLIENT spans (default: OTEL_* variables, else "
                                                      "http://127.0.0.1:4318).")] = None,
    spans: Annotated[bool, typer.Option("--spans/--no-spans", help="Export one OTLP CLIENT span per "
                                        "request, started at its scheduled send time.")] = True,
    service_name: Annotated[str, typer.Option("--service-name", help="service.name of the CLIENT spans.")]
    = "infersight-load",
) -> None:
    """Drive a server with open-loop load; latency counts from each request's scheduled time."""
    from infersight.demo._load import LoadConfig, run_load
    from infersight.demo._openloop import write_requests_csv
    from infersight.demo._report import print_summary
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    try:
        seconds = _seconds(duration, "--duration") or 0.0
        cfg = LoadConfig(url=url, rate=rate, duration=seconds, ramp_to=ramp_to, seed=seed)
        client_spans = None
        if spans:
            from infersight.instrument import ConfigurationError
            from infersight.instrument.client import ClientSpans

            try:
                client_spans = ClientSpans(service_name, role="load", endpoint=otlp_endpoint)
            except ConfigurationError as exc:
                raise DemoConfigError(str(exc)) from None
    except DemoError as exc:
        raise _fail("load", exc) from None
    try:
        with Progress(TextColumn("load"), BarColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn()) as bar:
            task = bar.add_task("load", total=seconds, info="")

            def progress(elapsed: float, sent: int, done: int) -> None:
                bar.update(task, completed=min(elapsed, seconds), info=f"sent {sent} done {done}")

            summary = asyncio.run(run_load(cfg, progress, spans=client_spans))
    finally:
        if client_spans is not None:
            client_spans.shutdown()
    print_summary(summary)
    if client_spans is not None and client_spans.dropped:
        typer.echo(f"{client_spans.dropped} CLIENT span(s) could not be exported", err=True)
    if json_out is not None:
        json_out.write_text(summary.to_json())
        typer.echo(f"summary written to {json_out}")
    if requests_out is not None:
        write_requests_csv(summary.records, requests_out)
        typer.echo(f"per-request latencies written to {requests_out}")
    if summary.ok == 0:
        raise SystemExit(1)


@demo_app.command("scenarios")
def scenarios() -> None:
    """List the scenario catalog: faults, Finding categories and components."""
    from infersight.demo._report import print_catalog

    print_catalog()


@demo_app.command()
def scenario(
    name: Annotated[str, typer.Argument(help="Scenario name (see 'infersight demo scenarios').")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default runs/NAME).")] = None,
    duration: Annotated[str, typer.Option(help="How long the load goes on (40, 40s, 2m).")] = "40s",
    rate: Annotated[float | None, typer.Option(help="Override the scenario's arrival rate.")] = None,
    parquet: Annotated[Path | None, typer.Option("--parquet", help="Also write small Parquet files + "
                                                 "labels.json into this folder.")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir")] = DEFAULT_DATA_DIR,
) -> None:
    """Run one labelled scenario: writes OUT/telemetry.duckdb and OUT/labels.json."""
    from infersight.demo._procs import sigterm_as_interrupt
    from infersight.demo._report import run_with_progress

    try:
        with sigterm_as_interrupt():
            result = run_with_progress(name, out or Path("runs") / name,
                                       duration=_seconds(duration, "--duration") or 0.0, rate=rate,
                                       data_dir=data_dir)
        if parquet is not None:
            from infersight.demo.record import write_parquet

            write_parquet(result.out / "telemetry.duckdb", result.out / "labels.json", parquet)
            typer.echo(f"parquet written to {parquet}")
    except DemoError as exc:
        raise _fail("scenario", exc) from None
    except KeyboardInterrupt as exc:
        raise _interrupted(exc) from None


@demo_app.command()
def incident(
    duration: Annotated[str, typer.Option(help="Load per run (75, 75s, 2m; the incident run is healthy for its "
                                               "first 40 %: the baseline).")] = "75s",
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs") / "incident",
    data_dir: Annotated[Path, typer.Option("--data-dir")] = DEFAULT_DATA_DIR,
) -> None:
    """The make-demo story: full_sync incident, diagnosis, then the fix (incremental sync), P99 before/after."""
    from infersight.demo._incident import run_incident
    from infersight.demo._procs import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            code = run_incident(out, duration=_seconds(duration, "--duration") or 0.0, data_dir=data_dir)
    except DemoError as exc:
        raise _fail("incident", exc) from None
    except KeyboardInterrupt as exc:
        raise _interrupted(exc) from None
    raise SystemExit(code)


def _interrupted(exc: KeyboardInterrupt) -> SystemExit:
    """Ctrl-C (exit 130) or SIGTERM (143): the child processes were stopped on the way out."""
    from infersight.demo._procs import Terminated

    how = "terminated" if isinstance(exc, Terminated) else "interrupted"
    typer.echo(f"{how}: every child process was stopped", err=True)
    return SystemExit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED)


__all__ = ["demo_app"]
