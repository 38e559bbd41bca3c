"""``/ui/login``: a browser's way to present the collector's token (browsers send no bearer header).

GET shows a one-field form; POST with the right token sets an HttpOnly, SameSite=Strict cookie
and redirects to ``/ui``. The cookie is honoured only on read-only GETs (the UI, the Jaeger API,
/metrics, live reads), never on the OTLP endpoints, so a page on another site cannot make a
browser write telemetry. Without a token configured there is nothing to log in to.
"""

from __future__ import annotations

import hmac
import html
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

COOKIE = "infersight_token"
_MAX_FORM = 8192

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_FORM = """<!doctype html><html><head><meta charset="utf-8"><title>infersight: sign in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28em;margin:4em auto;color:#222}}
input{{font-size:1em;padding:.3em;width:100%;box-sizing:border-box;margin:.5em 0}}
.err{{color:#b00020}}</style></head><body><h1>infersight collector</h1>
<p>This collector requires its token (<code>--token</code> / <code>INFERSIGHT_TOKEN</code>).</p>
{error}<form method="post" action="/ui/login"><label>Token <input type="password" name="token"
autofocus autocomplete="current-password"></label><input type="submit" value="Sign in"></form>
</body></html>"""


def cookie_token(header: str) -> str | None:
    """The token in a ``Cookie:`` header, or None."""
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return urllib.parse.unquote(morsel.value) if morsel is not None else None


async def _reply(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def login(token: str | None, scope: Scope, receive: Receive, send: Send) -> None:
    html_type = (b"content-type", b"text/html; charset=utf-8")
    if not token:
        await _reply(send, 303, b"", [(b"location", b"/ui")])
        return
    if scope["method"] in ("GET", "HEAD"):
        await _reply(send, 200, _FORM.format(error="").encode(), [html_type])
        return
    if scope["method"] != "POST":
        await _reply(send, 405, b"use GET or POST\n", [(b"allow", b"GET, POST")])
        return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if len(body) > _MAX_FORM:
            await _reply(send, 413, b"form too large\n", [])
            return
        if not msg.get("more_body", False):
            break
    given = urllib.parse.parse_qs(body.decode("latin-1")).get("token", [""])[0]
    if not hmac.compare_digest(given.encode(), token.encode()):
        page = _FORM.format(error=f'<p class="err">{html.escape("Wrong token.")}</p>')
        await _reply(send, 401, page.encode(), [html_type])
        return
    value = urllib.parse.quote(token, safe="")
    await _reply(send, 303, b"", [(b"location", b"/ui"),
                                  (b"set-cookie", f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict".encode())])


__all__ = ["COOKIE", "cookie_token", "login"]
