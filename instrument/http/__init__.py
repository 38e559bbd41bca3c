"""The HTTP room: the pure-ASGI request middleware (SERVER spans, RED metrics, exemplars),
request arrival/queueing, health endpoints, ``/metrics`` exposition, request hooks, redaction.
Private: the public names are re-exported by :mod:`infersight.instrument`."""

__all__: list[str] = []
