"""Which ``Host`` headers the collector answers (DNS rebinding), and which URLs are loopback.

A web page can make a browser send requests to 127.0.0.1 by resolving its own name there (DNS
rebinding); the request then carries that page's name in ``Host``. A collector bound to loopback
answers only Host names it knows (``localhost``, its bound address, ``--allow-host`` names) and
IP literals (no rebinding uses an IP literal: there is no DNS lookup to change). A collector
bound to another address is reachable from the network anyway (use ``--token``); there the check
applies only when ``--allow-host`` is given. ``--allow-host '*'`` turns it off.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Collection, Sequence

LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def is_loopback(host: str) -> bool:
    """A loopback address or name (127.0.0.0/8, ::1, localhost)."""
    h = host.strip("[]").lower().rstrip(".")
    if h in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    return host.strip("[]") in ("0.0.0.0", "::", "")


def allowed_hosts(bind: str, extra: Sequence[str] = ()) -> frozenset[str] | None:
    """The Host names to accept for a server bound to ``bind``; None = accept any."""
    extra = [e.strip().lower().rstrip(".") for e in extra if e.strip()]
    if "*" in extra:
        return None
    if not is_loopback(bind) and not extra:
        return None
    return frozenset({*LOCAL_NAMES, bind.strip("[]").lower(), *extra})


def host_allowed(header: str, allowed: Collection[str]) -> bool:
    """``header`` (``name[:port]``, ``[v6]:port``) names an allowed host or is an IP literal."""
    value = header.strip().lower()
    if value.startswith("["):
        name = value[1:].split("]", 1)[0]
    else:
        name = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    name = name.rstrip(".")
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return name in allowed


def url_is_loopback(url: str) -> bool:
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        return False
    return is_loopback(host)
