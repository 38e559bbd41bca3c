"""What instrumentation never stores by default: query values, URL credentials, the raw paths of
requests that matched no route, exception messages.

Prompts, API keys and e-mail addresses travel in query strings, 404 paths and exception messages
(``ValueError(f"bad prompt {prompt!r}")``). Spans keep what diagnosis needs (parameter names,
the route template, exception *types* and stack frames) and drop the values:

* ``redact_query("a=1&b&token=x")`` -> ``"a=REDACTED&REDACTED&token=REDACTED"`` (a part without
  ``=`` is a value too: ``?SECRET``);
* ``redact_url`` does the same to a full URL, drops ``user:password@`` and the fragment (outgoing
  CLIENT spans of httpx/requests);
* unmatched requests get ``url.path = "/{unmatched}"`` (their raw path is whatever the caller sent);
* ``exception_attributes`` keeps ``exception.type`` and a stack trace of frames only, with the
  message left out, unless :func:`set_capture_exception_messages` (``instrument_app(
  privacy=PrivacyOptions(capture_exception_messages=True))`` or ``INFERSIGHT_CAPTURE_EXCEPTION_MESSAGES=1``) turned
  capture on. This setting is process-wide because ``traced_job``/``traced_cache`` are too.
"""

from __future__ import annotations

import os
import traceback
import urllib.parse
from typing import Any

REDACTED = "REDACTED"
UNMATCHED_PATH = "/{unmatched}"
_capture_messages = os.environ.get("INFERSIGHT_CAPTURE_EXCEPTION_MESSAGES", "").strip().lower() in ("1", "true", "yes")


def set_capture_exception_messages(on: bool) -> None:
    global _capture_messages
    _capture_messages = bool(on)


def capture_exception_messages() -> bool:
    return _capture_messages


def redact_query(query: str) -> str:
    """``a=1&b=x`` -> ``a=REDACTED&b=REDACTED``: names stay (useful, low risk), values never."""
    if not query:
        return query
    return "&".join(f"{k}={REDACTED}" if sep else (REDACTED if k else k)
                    for k, sep, _ in (part.partition("=") for part in query.split("&")))


def redact_url(url: str) -> str:
    """A URL with its query values redacted, its userinfo and fragment removed."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
    except ValueError:  # not a URL we can take apart: keep nothing of it after the path
        return url.split("?", 1)[0].split("#", 1)[0]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, redact_query(parts.query), ""))


def _type_name(exc: BaseException) -> str:
    module, qualname = type(exc).__module__, type(exc).__qualname__
    return f"{module}.{qualname}" if module and module != "builtins" else qualname


def exception_attributes(exc: BaseException, *, escaped: bool = False) -> dict[str, Any]:
    """``record_exception`` attributes: the type and the frames; the message only if captured."""
    if _capture_messages:
        message, stack = str(exc), "".join(traceback.format_exception(exc))
    else:
        frames = traceback.format_tb(exc.__traceback__)
        message = ""
        stack = "Traceback (most recent call last):\n" + "".join(frames) + f"{_type_name(exc)}: [message not recorded]\n"
    return {"exception.type": _type_name(exc), "exception.message": message,
            "exception.stacktrace": stack, "exception.escaped": str(escaped)}


def status_description(exc: BaseException) -> str:
    """The ERROR status description of a span that ended with ``exc``."""
    return f"{type(exc).__name__}: {exc}" if _capture_messages else type(exc).__name__


def record_exception(span: Any, exc: BaseException) -> None:
    """``span.record_exception`` with the message left out unless captured (any OTel span)."""
    span.record_exception(exc, attributes=exception_attributes(exc))


__all__ = ["REDACTED", "UNMATCHED_PATH", "capture_exception_messages", "exception_attributes", "record_exception",
           "redact_query", "redact_url", "set_capture_exception_messages", "status_description"]
