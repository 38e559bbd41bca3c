"""A lean HTTP transport for the SDK's OTLP/HTTP client: one kept-alive ``http.client`` connection.

The SDK's default transport goes through ``requests``, which spends ~400 µs of pure-Python
CPU per POST (proxy environment scans, session merging, hooks) while holding the GIL: the
event loop of the instrumented server waits for it on every span export. This transport
sends the same POST over a persistent ``http.client`` connection (~100 µs, most of it in
``sendall`` with the GIL released). Retries, backoff, compression, headers and timeouts stay
the SDK client's (``_OTLPHTTPClient``); ``OTEL_EXPORTER_OTLP_*`` TLS settings are honoured.
It is used only where it changes nothing else: no proxy applies to the endpoint and no
credential-provider session is configured (then the SDK's ``requests`` transport is kept).
"""

from __future__ import annotations

import http.client
import logging
import os
import ssl
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from infersight.instrument._sdk_compat import (
    HAS_HTTP_TRANSPORT,
    BaseHTTPResult,
    BaseHTTPTransport,
    client_transport,
    exporter_endpoint,
    otlp_http_client,
    set_client_transport,
)

logger = logging.getLogger(__name__)

_CREDENTIAL_ENV = "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER"


@dataclass(frozen=True, slots=True)
class _Result(BaseHTTPResult):
    body: bytes = b""
    response_headers: Any = field(default=None, hash=False, compare=False)  # http.client.HTTPMessage

    def content(self) -> bytes:
        return self.body

    def headers(self) -> Mapping[str, str]:
        # HTTPMessage.get() is case-insensitive, as the SDK client's Retry-After lookup needs
        headers: Mapping[str, str] = self.response_headers if self.response_headers is not None else {}
        return headers


class LeanHTTPTransport(BaseHTTPTransport):
    """POSTs over one persistent connection per exporter (exports are serialised by a lock)."""

    def __init__(self, url: str, *, verify: bool | str = True, cert: str | tuple[str, str] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._context: ssl.SSLContext | None = None
        if self._https:
            if verify is True:  # what requests verifies against: its CA-bundle variables, else certifi
                verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or _certifi() or True
            if isinstance(verify, str) and os.path.isdir(verify):
                ctx = ssl.create_default_context(capath=verify)
            elif isinstance(verify, str):
                ctx = ssl.create_default_context(cafile=verify)
            else:
                ctx = ssl.create_default_context()
            if verify is False:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if isinstance(cert, tuple):
                ctx.load_cert_chain(cert[0], cert[1])
            elif cert:
                ctx.load_cert_chain(cert)
            self._context = ctx
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        conn = self._conn
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._context)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._conn = conn
        else:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
        return conn

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                timeout: float | None = None, data: bytes | None = None) -> BaseHTTPResult:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        with self._lock:
            try:
                conn = self._connection(timeout)
                conn.request(method, target, body=data, headers=headers or {})
                response = conn.getresponse()
                body = response.read()
                if response.will_close or self._closed:
                    self._drop()
                return _Result(status_code=response.status, reason=response.reason, body=body,
                               response_headers=response.headers)
            except Exception as error:  # a broken or half-used connection is never reused
                self._drop()
                return _Result(error=error)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing a broken socket
                logger.debug("closing the OTLP connection failed", exc_info=True)

    def is_connection_error(self, exception: Exception | None) -> bool:
        # what the requests transport treats as connection errors: refused/reset/timeouts/TLS
        return isinstance(exception, (OSError, http.client.HTTPException))

    def close(self) -> None:
        """Close the idle connection; one in use (an export in flight, which shutdown does not
        wait for) is closed by its request when it completes."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                self._drop()
            finally:
                self._lock.release()


def _certifi() -> str | None:
    try:
        import certifi  # requests' own CA bundle (a dependency of requests)
    except ImportError:
        return None
    return str(certifi.where())


def _tls_settings(signal: str, certificate_file: str | None, client_key_file: str | None,
                  client_certificate_file: str | None) -> tuple[bool | str, str | tuple[str, str] | None]:
    """``verify`` and ``cert`` exactly as the SDK's ``_build_transport`` resolves them."""
    env = os.environ.get
    sig = signal.upper()
    verify: bool | str = (certificate_file or env(f"OTEL_EXPORTER_OTLP_{sig}_CERTIFICATE")
                          or env("OTEL_EXPORTER_OTLP_CERTIFICATE") or True)
    key = client_key_file or env(f"OTEL_EXPORTER_OTLP_{sig}_CLIENT_KEY") or env("OTEL_EXPORTER_OTLP_CLIENT_KEY")
    client_cert = (client_certificate_file or env(f"OTEL_EXPORTER_OTLP_{sig}_CLIENT_CERTIFICATE")
                   or env("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"))
    cert = (client_cert, key) if client_cert and key else client_cert
    return verify, cert


def _proxied(url: str) -> bool:
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (parts.scheme in proxies or "all" in proxies):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def adopt_lean_transport(exporter: Any, signal: str, *, session: Any = None, certificate_file: str | None = None,
                         client_key_file: str | None = None, client_certificate_file: str | None = None) -> bool:
    """Give an SDK OTLP/HTTP exporter (already built) a :class:`LeanHTTPTransport`.

    Keeps the SDK's ``requests`` transport (returns False) for a caller's session, a
    credential-provider session, an endpoint behind a proxy, or an SDK whose exporter does not
    have the expected shape.
    """
    if not HAS_HTTP_TRANSPORT:
        return False  # an SDK whose exporters post through requests themselves
    client = otlp_http_client(exporter)
    url = exporter_endpoint(exporter)
    old = client_transport(client)
    if session is not None or client is None or url is None or not isinstance(old, BaseHTTPTransport):
        return False
    if os.environ.get(_CREDENTIAL_ENV) or os.environ.get(
            f"OTEL_PYTHON_EXPORTER_OTLP_HTTP_{signal.upper()}_CREDENTIAL_PROVIDER") or _proxied(url):
        return False
    try:
        verify, cert = _tls_settings(signal, certificate_file, client_key_file, client_certificate_file)
        transport = LeanHTTPTransport(url, verify=verify, cert=cert)
    except Exception as exc:  # bad certificate paths etc.: the SDK transport reports them its own way
        logger.debug("infersight: lean OTLP transport unavailable for %s (%s)", url, exc)
        return False
    set_client_transport(client, transport)
    try:
        old.close()
    except Exception:  # pragma: no cover
        logger.debug("closing the replaced OTLP transport failed", exc_info=True)
    return True


__all__ = ["LeanHTTPTransport", "adopt_lean_transport"]
