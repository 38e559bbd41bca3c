"""Parsing ``--since``/``--until``/``step`` values into nanoseconds (durations: :mod:`infersight._units`)."""

from __future__ import annotations

from datetime import datetime, timezone

from infersight.analysis._errors import UsageError

from infersight._units import DURATION_EXAMPLES, is_duration
from infersight._units import parse_duration_ns as _parse_duration_ns


def parse_duration_ns(text: str | int | float) -> int:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"250ms"``, ``"1w"`` (or a number of seconds) -> nanoseconds."""
    return _parse_duration_ns(text, error=UsageError)


def parse_instant_ns(text: str, *, latest_ns: int) -> int:
    """A relative duration (counted back from ``latest_ns``, the newest span) or an ISO-8601 time."""
    if is_duration(text):
        return latest_ns - parse_duration_ns(text)
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read time {text!r}: use a duration back from the newest data ({DURATION_EXAMPLES}) "
            "or an ISO time (2026-01-31T12:00:00Z)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1_000_000) * 1000
