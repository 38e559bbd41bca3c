"""Parsing ``--since``/``--until``/``step`` values into nanoseconds."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from infersight.analysis._errors import UsageError

_UNITS_NS = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
             "d": 86_400_000_000_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration_ns(text: str | int | float) -> int:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"250ms"`` (or a number of seconds) -> nanoseconds."""
    if isinstance(text, (int, float)):
        if text <= 0:
            raise UsageError(f"duration must be positive, got {text!r}")
        return int(text * 1_000_000_000)
    m = _DURATION.match(text)
    if not m:
        raise UsageError(f"cannot read duration {text!r}: use e.g. 250ms, 30s, 5m, 1h, 2d")
    ns = int(float(m.group(1)) * _UNITS_NS[m.group(2)])
    if ns <= 0:
        raise UsageError(f"duration must be positive, got {text!r}")
    return ns


def parse_instant_ns(text: str, *, latest_ns: int) -> int:
    """A relative duration (counted back from ``latest_ns``, the newest span) or an ISO-8601 time."""
    if _DURATION.match(text):
        return latest_ns - parse_duration_ns(text)
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read time {text!r}: use a duration back from the newest data (30m, 1h) "
            "or an ISO time (2026-01-31T12:00:00Z)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1_000_000) * 1000
