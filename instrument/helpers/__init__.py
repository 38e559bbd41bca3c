"""The helpers room: what users call in their own code: ``traced_cache``/``lru_cached``,
``traced_job``/``current_job``, ``traced_pool_acquire``, ``record_generation``. Private modules;
the public names are re-exported by :mod:`infersight.instrument`."""

__all__: list[str] = []
