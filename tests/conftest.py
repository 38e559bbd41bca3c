"""Shared pytest fixtures. Part-specific fixtures live in tests/<part>/conftest.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests._wheel import BackgroundInstall, InstalledVenv


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


_BACKGROUND: dict[str, BackgroundInstall] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start building and installing the wheel now, on a thread, if a collected test needs it:
    it overlaps the tests that run before tests/installed/ (tests/_wheel.py)."""
    needs = any("built_wheel" in getattr(item, "fixturenames", ()) or "installed" in getattr(item, "fixturenames", ())
                for item in session.items)
    if needs and not session.config.option.collectonly:
        from tests._wheel import BackgroundInstall

        _BACKGROUND["job"] = BackgroundInstall()


def pytest_sessionfinish(session: pytest.Session) -> None:
    job = _BACKGROUND.pop("job", None)
    if job is not None:
        job.cleanup()


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, built once per test session (in the background when possible)."""
    from tests._wheel import build_wheel

    job = _BACKGROUND.get("job")
    return job.wheel() if job is not None else build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def installed(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> InstalledVenv:
    """The wheel installed non-editable (with [collector,analysis]) into a fresh venv."""
    from tests._wheel import install_wheel, reused_venv

    reused = reused_venv()
    if reused is not None:
        return reused
    job = _BACKGROUND.get("job")
    return job.venv() if job is not None else install_wheel(built_wheel, tmp_path_factory.mktemp("wheel") / "venv")
