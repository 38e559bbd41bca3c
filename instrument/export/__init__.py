"""The export room: ``configure()`` (the one place that builds SDK providers), the bounded span
processor that counts drops, lean SERVER spans and their hand-written OTLP encoder, the kept-alive
HTTP transport, export health, log export and the batch settings. Private: see
:mod:`infersight.instrument`."""

__all__: list[str] = []
