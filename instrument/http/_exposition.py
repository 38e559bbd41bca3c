"""``/metrics``: Prometheus text or OpenMetrics (with exemplars), multiprocess-aware."""

from __future__ import annotations

import logging

from infersight.instrument.metrics._families import multiprocess_dir
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

logger = logging.getLogger(__name__)


class Exposition:
    """Renders a registry; under ``PROMETHEUS_MULTIPROC_DIR`` it renders every worker's files.

    In multiprocess mode prometheus_client's per-process collectors (``python_gc_*``,
    ``process_*``) are not exposed, exemplars are not kept and Info metrics become gauges; the
    GC families of infersight (``cpython_gc_*``, ``infersight_gc_*``) are ordinary
    counters/histograms, so they are summed over the workers and survive.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.multiprocess = multiprocess_dir() is not None
        if self.multiprocess:
            from prometheus_client import multiprocess

            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        else:
            self.registry = registry

    def render(self, accept: str) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


__all__ = ["Exposition"]
