"""X-Request-Start in the forms gateways send, and which arrival source wins."""

from __future__ import annotations

import pytest
from infersight.instrument.http._arrival import parse_request_start, set_queued

NOW = 1_700_000_000_500_000_000  # Unix ns


@pytest.mark.parametrize(("value", "expected"), [
    ("t=1700000000.250", 1_700_000_000_250_000_000),      # nginx: t=${msec} (seconds.millis)
    ("t=1700000000250000", 1_700_000_000_250_000_000),    # Apache %t: microseconds
    ("1700000000250", 1_700_000_000_250_000_000),         # Heroku: milliseconds
    ("1700000000250000000", 1_700_000_000_250_000_000),   # nanoseconds
    (" t=1700000000250 ", 1_700_000_000_250_000_000),
    ("t=1700000000250000, t=1700000000300000", 1_700_000_000_250_000_000),  # two hops: the first (earliest)
    ("1700000000", 1_700_000_000_000_000_000),            # whole seconds
])
def test_request_start_forms(value: str, expected: int) -> None:
    assert parse_request_start(value, NOW) == expected


@pytest.mark.parametrize("value", ["", "t=", "abc", "t=abc", "-5", "0", "nan", "inf", "t=1e400", "1e999999999",
                                   "1" * 200,
                                   "1700000002",          # 1.5 s in the future: clock trouble
                                   "1699990000"])         # almost 3 h old: not an arrival
def test_implausible_request_start_is_ignored(value: str) -> None:
    assert parse_request_start(value, NOW) is None


class _Span:
    def __init__(self) -> None:
        self.attributes: dict[str, object] = {}

    def set_attribute(self, key: str, value: object) -> None:
        self.attributes[key] = value


def test_measured_arrival_wins_over_the_block_estimate() -> None:
    span = _Span()
    set_queued(span, NOW, "t=1700000000.250", NOW - 400_000_000)
    assert span.attributes == {"infersight.loop.queued_ms": 250.0,
                               "infersight.request.arrival_source": "x-request-start"}
    span = _Span()
    set_queued(span, NOW, "garbage", NOW - 400_000_000)
    assert span.attributes == {"infersight.loop.queued_ms": 400.0,
                               "infersight.request.arrival_source": "loop-block-estimate"}
    span = _Span()
    set_queued(span, NOW, f"{NOW + 200_000_000}", None)  # a gateway clock slightly ahead: no negative wait
    assert span.attributes["infersight.loop.queued_ms"] == 0.0
    span = _Span()
    set_queued(span, NOW, None, None)
    assert span.attributes == {}
