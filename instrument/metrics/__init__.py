"""The metrics room: the metric catalog (:mod:`.catalog`, public) and the attribute catalog
(:mod:`.attributes`, public): every metric and attribute name infersight writes or reads is
declared there once; ``_families`` builds the Prometheus families and OTel instruments."""

__all__: list[str] = []
