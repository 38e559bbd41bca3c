"""The runtime room: GC pauses, event-loop lag and blocks, process CPU, runtime facts (resource
attributes) and the model's device. Private: see :mod:`infersight.instrument`."""

__all__: list[str] = []
