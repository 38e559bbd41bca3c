"""Shared pytest fixtures. Part-specific fixtures live in tests/<part>/conftest.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (tests bind loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(autouse=True)
def _no_leaked_client_instrumentation() -> Iterator[None]:
    """instrument_app patches httpx/requests process-wide until uninstrument_app; a test that
    leaves it patched would make every later test's httpx client inject its own traceparent."""
    yield
    for module, cls in (("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
                        ("opentelemetry.instrumentation.requests", "RequestsInstrumentor")):
        try:
            instrumentor = getattr(__import__(module, fromlist=[cls]), cls)()
        except ImportError:
            continue
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
