"""The one parser of human durations and sizes, for every CLI option and argument that takes one.

Durations: ``250ms``, ``45s``, ``30m``, ``12h``, ``7d``, ``1w`` (case-insensitive, decimals
allowed, a plain number is seconds). Sizes: ``512k``, ``64MiB``, ``10GB`` (SI and binary
prefixes, a plain number is bytes). Each function raises ``error`` (default
:class:`~infersight.BadArgumentError`; parts pass their own bad-argument class) with a message
that shows what would work.
"""

from __future__ import annotations

import re

from infersight._errors import BadArgumentError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SECONDS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_BYTES = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20,
          "gi": 1 << 30, "gib": 1 << 30, "ti": 1 << 40, "tib": 1 << 40}
DURATION_EXAMPLES = "250ms, 45s, 30m, 12h, 7d, 1w"
SIZE_EXAMPLES = "512k, 64MiB, 10GB, 1048576"


def is_duration(text: str) -> bool:
    """True when ``text`` reads as a duration (so it is not an ISO time)."""
    return bool(_DURATION.match(text))


def parse_duration(text: str | float, *, error: type[Exception] = BadArgumentError, what: str = "duration") -> float:
    """Seconds (> 0) from ``"250ms"``, ``"45s"``, ``"30m"``, ``"12h"``, ``"7d"``, ``"1w"`` or a number."""
    if isinstance(text, bool):
        raise error(f"{what} must be a duration like {DURATION_EXAMPLES}, got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _DURATION.match(text)
        if not m:
            raise error(f"cannot read {what} {text!r}: use e.g. {DURATION_EXAMPLES}")
        value = float(m.group(1)) * _SECONDS[(m.group(2) or "").lower()]
    if not value > 0:
        raise error(f"{what} must be positive, got {text!r}")
    return value


def parse_duration_ns(text: str | float, *, error: type[Exception] = BadArgumentError,
                      what: str = "duration") -> int:
    """Like :func:`parse_duration`, in integer nanoseconds."""
    return round(parse_duration(text, error=error, what=what) * 1e9)


def parse_size(text: str | int, *, error: type[Exception] = BadArgumentError, what: str = "size") -> int:
    """Bytes (> 0) from ``"512k"``, ``"64MiB"``, ``"10GB"`` or a plain number."""
    if isinstance(text, bool):
        raise error(f"{what} must be a size like {SIZE_EXAMPLES}, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        m = _SIZE.match(text)
        unit = (m.group(2) or "").lower() if m else ""
        if not m or unit not in _BYTES:
            raise error(f"cannot read {what} {text!r}: use e.g. {SIZE_EXAMPLES}")
        value = int(float(m.group(1)) * _BYTES[unit])
    if value <= 0:
        raise error(f"{what} must be positive, got {text!r}")
    return value


__all__ = ["DURATION_EXAMPLES", "SIZE_EXAMPLES", "is_duration", "parse_duration", "parse_duration_ns",
           "parse_size"]
