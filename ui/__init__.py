"""infersight.ui: the web UI served by ``infersight collect`` at ``/ui`` (same port, same token).

Server-rendered HTML (Jinja2 templates and inline SVG charts shipped in the wheel; no
JavaScript, nothing fetched from elsewhere) over the collector's live database: services and
routes with RED over time, a trace search, trace waterfalls, and the findings of
``infersight.analysis.diagnose`` for a chosen time range. The CLI shell mounts it:
``Collector(db, mounts={"/ui": infersight.ui.mount})``. Traces work with the [collector] extra;
the findings page needs [analysis].
"""

from __future__ import annotations

from infersight.ui._app import UI, mount

__all__ = ["UI", "mount"]
