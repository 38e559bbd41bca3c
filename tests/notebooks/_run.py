"""Execute a notebook top to bottom with nbclient, papermill-style parameters injected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

CELL_TIMEOUT_S = 120


def parameters_cell(nb: NotebookNode) -> int:
    """Index of the one code cell tagged ``parameters``."""
    found = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(found) == 1, f"expected exactly one cell tagged 'parameters', found {len(found)}"
    return found[0]


def inject(nb: NotebookNode, params: dict[str, Any]) -> None:
    """Insert an ``injected-parameters`` cell after the parameters cell (what papermill does)."""
    if not params:
        return
    src = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(src)
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(parameters_cell(nb) + 1, cell)


def execute(path: Path, kernel: str, **params: Any) -> NotebookNode:
    """Run every cell; raises ``nbclient.exceptions.CellExecutionError`` on the first error."""
    nb = nbformat.read(path, as_version=4)
    inject(nb, params)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=kernel,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


def outputs(nb: NotebookNode) -> list[NotebookNode]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def images(nb: NotebookNode) -> int:
    return sum(1 for o in outputs(nb) if "image/png" in o.get("data", {}))


def text(nb: NotebookNode) -> str:
    parts = []
    for o in outputs(nb):
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        parts.append(o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)
