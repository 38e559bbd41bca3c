"""Shared pytest fixtures. Part-specific fixtures live in tests/<part>/conftest.py."""

from __future__ import annotations

import socket

import pytest


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (tests bind loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()
