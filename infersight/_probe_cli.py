"""``infersight probe URL``: the click command; the prober itself is ``infersight.instrument.probe``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

import click


@click.command("probe")
@click.argument("url")
@click.option("--path", default="/healthz", show_default=True, help="Path to GET on every probe.")
@click.option("--rate", type=float, default=10.0, show_default=True, help="Probes per second (fixed schedule).")
@click.option("--duration", default=None, help="How long to run (30, 30s, 5m; default: until Ctrl-C).")
@click.option("--timeout", default="2s", show_default=True, help="Per-probe timeout (2, 2s, 500ms).")
@click.option("--otlp-endpoint", default=None,
              help="Collector base URL (default: OTEL_* variables, else http://127.0.0.1:4318).")
@click.option("--spans/--no-spans", default=True, show_default=True,
              help="Export one OTLP CLIENT span per probe.")
@click.option("--service-name", default="infersight-probe", show_default=True,
              help="service.name of the probe's spans.")
@click.option("--print-every", default="0",
              help="Print a rolling p50/p99 (last 60 s) every so often (10, 10s, 1m; 0: only at the end).")
def probe_command(url: str, path: str, rate: float, duration: str | None, timeout: str,
                  otlp_endpoint: str | None, spans: bool, service_name: str, print_every: str) -> None:
    """Probe URL+PATH at a fixed rate; each probe is an OTLP CLIENT span (client-side latency)."""
    from infersight._fail import cli_errors
    from infersight._units import parse_duration
    from infersight.instrument import ConfigurationError
    from infersight.instrument.client import ClientSpans
    from infersight.instrument.probe import ProbeConfig, Prober, Rolling, percentiles

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    with cli_errors("probe"):
        def seconds(text: str, option: str) -> float:
            return parse_duration(text, error=ConfigurationError, what=option)

        every = 0.0 if print_every.strip() in ("0", "0s") else seconds(print_every, "--print-every")
        cfg = ProbeConfig(url=url, path=path, rate=rate,
                          duration=None if duration is None else seconds(duration, "--duration"),
                          timeout=seconds(timeout, "--timeout"))
        client_spans = ClientSpans(service_name, role="probe", endpoint=otlp_endpoint) if spans else None
    rolling = Rolling()
    prober = Prober(cfg, client_spans, on_result=rolling.add)

    def report(elapsed: float) -> None:
        s = rolling.snapshot(elapsed)
        click.echo(f"{elapsed:7.1f}s  {path}  n={s['n']}  errors={s['errors']}  "
                   f"p50={_ms(s['p50_ms'])}  p99={_ms(s['p99_ms'])}  max={_ms(s['max_ms'])}")

    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: prober.stop())
    try:
        results = prober.run(report if every > 0 else None, every or 5.0)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if client_spans is not None:
            client_spans.shutdown()
    p = percentiles(results)
    failed = sum(1 for r in results if r.latency_ms is None)
    click.echo(f"{len(results)} probes of {url.rstrip('/')}{path}: {failed} failed, p50={_ms(p['p50_ms'])} "
               f"p99={_ms(p['p99_ms'])} max={_ms(p['max_ms'])}")
    if client_spans is not None and client_spans.dropped:
        click.echo(f"{client_spans.dropped} CLIENT span(s) could not be exported", err=True)
    if results and failed == len(results):
        raise SystemExit(1)


def _ms(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"


__all__ = ["probe_command"]
