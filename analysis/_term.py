"""Telemetry text on a terminal: never markup, never control characters.

Span, job, pool, route and service names come from whatever sent OTLP to the collector. Given
to rich as a ``str`` they are parsed as markup (``[/]`` raised MarkupError, ``[link=...]`` made
a clickable link); printed raw, escape sequences reach the terminal (clear screen, set title,
bidi overrides that reorder what is shown). :func:`clean` replaces every control and bidi
character with a visible ``\\xNN`` / ``\\uNNNN`` escape; :func:`text` makes a rich ``Text`` that
rich never parses as markup.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

# C0 controls (tab and newline kept where allowed), DEL, C1 controls, zero-width and bidi
# formatting characters, line/paragraph separators
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_UNSAFE_NO_NEWLINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def clean(value: object, *, newlines: bool = False) -> str:
    """``str(value)`` with control/bidi characters shown as escapes (newlines kept if ``newlines``)."""
    s = "" if value is None else str(value)
    return (_UNSAFE if newlines else _UNSAFE_NO_NEWLINE).sub(_escape, s)


def text(value: object, style: str = "", *, newlines: bool = False) -> Text:
    """A rich ``Text`` of :func:`clean` (``value``): printed as-is, never parsed as markup."""
    return Text(clean(value, newlines=newlines), style=style)


#: matplotlib settings under which telemetry text is drawn as it is: ``$...$`` in a span name,
#: GPU label or legend is never parsed as mathtext (``$\undefinedcmd{x}$`` used to make the
#: whole HTML report fail), and never handed to LaTeX.
PLAIN_TEXT_RC: dict[Any, Any] = {"text.parse_math": False, "text.usetex": False}

__all__ = ["PLAIN_TEXT_RC", "clean", "text"]
