"""catalog: an in-memory product index (item pages, and search that asks pricing for quotes)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from benchmarks.rca.workloads.chain._common import Service

svc = Service("catalog")
app = svc.app

_WORDS = ["lamp", "desk", "chair", "cable", "mug", "shelf", "plant", "rug", "fan", "clock", "pen", "bag"]
# ~100k items with a few tags each: a realistic heap, so a full GC walks a few hundred thousand objects
ITEMS: list[dict[str, Any]] = [
    {"id": i, "name": f"{_WORDS[i % 12]} {i}", "tags": [_WORDS[(i * 7) % 12], _WORDS[(i * 5) % 12]],
     "score": (i * 2654435761) % 1000}
    for i in range(100_000)
]
_BY_WORD: dict[str, list[int]] = {}
for _item in ITEMS:
    for _tag in _item["tags"]:
        _BY_WORD.setdefault(_tag, []).append(_item["id"])


@app.get("/catalog/items/{item_id}")
async def item(item_id: int) -> dict[str, Any]:
    await svc.slow_and_busy()
    if not 0 <= item_id < len(ITEMS):
        raise HTTPException(404, "unknown item")
    return ITEMS[item_id]


@app.get("/catalog/search")
async def search(q: str = "lamp", limit: int = 5) -> dict[str, object]:
    await svc.slow_and_busy()
    ids = _BY_WORD.get(q, [])[::40]  # one shard of the posting list
    ranked = sorted(ids, key=lambda i: -ITEMS[i]["score"])[:limit]
    svc.gc_storm(ranked[0] if ranked else 0)
    if not ranked:
        return {"q": q, "hits": []}
    quote = await svc.call("pricing", "POST", "/price/quote", json={"items": ranked})
    return {"q": q, "hits": [{**ITEMS[i], "price": line["cents"]} for i, line in zip(ranked, quote["lines"],
                                                                                  strict=True)]}
