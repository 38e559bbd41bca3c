"""The time range of a UI page: ``?from=&to=`` as Grafana sends them, or as a person types them.

Accepted for each bound: unix epoch milliseconds (Grafana's ``${__from}``/``${__to}``),
microseconds or nanoseconds (by magnitude), ``now`` / ``now-30m`` (wall clock), a duration
counted back from the newest span (``30m``, ``2h``: what a recorded file needs), an ISO-8601
time (UTC when no offset is given), or ``all`` (from: the first span). Missing bounds default
to the last hour of data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from infersight._errors import BadArgumentError

_UNITS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
_DUR = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_NOW = re.compile(r"^now(?:-(\d+(?:\.\d+)?)(ms|s|m|h|d))?$")
DEFAULT_SPAN_NS = 3600 * 10**9


class RangeError(BadArgumentError):
    """A time range the UI cannot use (shown on the page, HTTP 400)."""


def duration_ns(text: str) -> int:
    m = _DUR.match(text.strip())
    if not m:
        raise RangeError(f"cannot read duration {text!r}: use e.g. 500ms, 30s, 5m, 1h")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def instant_ns(text: str, *, latest_ns: int, now_ns: int) -> int:
    """One bound in unix nanoseconds (see the module doc for the accepted forms)."""
    s = text.strip()
    if s.isdigit():
        v = int(s)
        if v < 10**14:
            return v * 10**6
        if v < 10**17:
            return v * 1000
        return v
    m = _NOW.match(s)
    if m:
        back = int(float(m.group(1)) * _UNITS[m.group(2)]) if m.group(1) else 0
        return now_ns - back
    if _DUR.match(s):
        return latest_ns - duration_ns(s)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise RangeError(f"cannot read time {text!r}: use epoch ms, now-30m, 30m (back from the newest "
                         "data) or an ISO time like 2026-01-31T12:00:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 10**6) * 1000


@dataclass(frozen=True)
class TimeRange:
    from_ns: int
    to_ns: int
    raw_from: str = ""
    raw_to: str = ""

    @property
    def span_ns(self) -> int:
        return self.to_ns - self.from_ns

    def query(self) -> dict[str, str]:
        """The bounds as they should appear in links (what the user typed, else epoch ms)."""
        return {"from": self.raw_from or str(self.from_ns // 10**6), "to": self.raw_to or str(-(-self.to_ns // 10**6))}


def parse_range(raw_from: str | None, raw_to: str | None, *, first_ns: int | None, last_ns: int | None,
                now_ns: int) -> TimeRange:
    """``[from, to)`` in ns; the default is the hour of data up to the newest span."""
    latest = last_ns if last_ns is not None else now_ns
    to_ns = instant_ns(raw_to, latest_ns=latest, now_ns=now_ns) if raw_to else latest + 10**9
    if raw_from and raw_from.strip() == "all":
        from_ns = first_ns if first_ns is not None else 0
    elif raw_from:
        from_ns = instant_ns(raw_from, latest_ns=latest, now_ns=now_ns)
    else:
        from_ns = max(to_ns - DEFAULT_SPAN_NS, first_ns if first_ns is not None else 0)
    if to_ns <= from_ns:
        raise RangeError("the time range is empty: 'to' must be after 'from'")
    return TimeRange(from_ns, to_ns, raw_from or "", raw_to or "")


def iso(ns: int | None, *, ms: bool = True) -> str:
    if ns is None:
        return "-"
    dt = datetime.fromtimestamp(ns / 1e9, timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z" if ms else dt.strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["RangeError", "TimeRange", "duration_ns", "instant_ns", "iso", "parse_range"]
