"""The demo's telemetry wiring: infersight.instrument's public API, used as any user would.

This is the one module of the demo that talks to :mod:`infersight.instrument`. The gen_ai
spans (``chat {model}``, ``gen_ai.queue|prefill|decode``) are written with the plain OTel API
in ``_server.py``, as a model-server author would write them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

log = logging.getLogger(__name__)


def setup(service_name: str, endpoint: str | None, *, export_interval_s: float = 2.0,
          process_role: str = "model-server") -> Any:
    """``infersight.instrument.configure`` with the collector endpoint; returns its handle."""
    import infersight.instrument as instrument

    return instrument.configure(service_name, endpoint=endpoint or None, export_interval_s=export_interval_s,
                                process_role=process_role)


def instrument_service(app: Any, service_name: str) -> None:
    """The one line: ``instrument_app(app, service_name=...)``."""
    import infersight.instrument as instrument

    fn = getattr(instrument, "instrument_app", None)
    if fn is None:
        log.warning("infersight.instrument.instrument_app is not available yet; %s runs without it",
                    service_name)
        return
    fn(app, service_name=service_name)


def job_runner() -> Callable[[str, Callable[[], int]], int]:
    """Wrap each scheduled-job run in ``traced_job(name)`` (span + duration/rows metrics)."""
    import infersight.instrument as instrument

    traced_job = getattr(instrument, "traced_job", None)
    tracer = trace.get_tracer("infersight.demo")

    def run(name: str, fn: Callable[[], int]) -> int:
        if traced_job is not None:
            with traced_job(name) as job:
                rows = fn()
                _report_rows(job, rows)
                return rows
        with tracer.start_as_current_span(name, attributes={"infersight.job.name": name}) as span:
            rows = fn()
            span.set_attribute("infersight.job.rows", rows)
            return rows

    return run


def _report_rows(job: Any, rows: int) -> None:
    for attr in ("add_rows", "set_rows", "rows"):
        fn = getattr(job, attr, None)
        if callable(fn):
            fn(rows)
            return


__all__ = ["instrument_service", "job_runner", "setup"]
