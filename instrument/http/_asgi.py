"""Small ASGI helpers of the request middleware: route templates, query redaction, hook logging."""

from __future__ import annotations

import logging
from typing import Any

from infersight.instrument.http._redact import redact_query
from opentelemetry.propagators.textmap import Getter

logger = logging.getLogger(__name__)


class _DictGetter(Getter[dict[str, str]]):
    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key.lower())
        return None if value is None else [value]

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return list(carrier)


GETTER = _DictGetter()
_HOOK_WARNED: set[tuple[str, str]] = set()  # (hook class, phase): warned once, then DEBUG


def log_hook_failure(hook: Any, phase: str) -> None:
    """A broken hook fails on every request: one WARNING (with the traceback) per hook class and
    phase, DEBUG after that (the infersight_hook_errors counter keeps the count)."""
    key = (type(hook).__qualname__, phase)
    if key in _HOOK_WARNED:
        logger.debug("request hook %r failed at %s", hook, phase, exc_info=True)
        return
    _HOOK_WARNED.add(key)
    logger.warning("request hook %r failed at %s (logged once; counted in infersight_hook_errors)",
                   hook, phase, exc_info=True)


def route_template(scope: dict[str, Any], root0: str) -> str | None:
    """The matched route's template (with any mount prefix), or None when nothing matched."""
    route = scope.get("route")
    path = getattr(route, "path", None) if route is not None else None
    if path is None:
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return None
        app = scope.get("app")
        for r in getattr(getattr(app, "router", None), "routes", ()) or ():
            if getattr(r, "endpoint", None) is endpoint:
                path = getattr(r, "path", None)
                break
        if path is None:
            return None
    root1 = scope.get("root_path", "") or ""
    if root1 != root0 and root1.startswith(root0):
        return root1[len(root0):] + str(path)
    return str(path)


async def respond(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


__all__ = ["GETTER", "log_hook_failure", "redact_query", "respond", "route_template"]
