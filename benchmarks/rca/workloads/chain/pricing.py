"""pricing: quotes for a list of items (pure computation; the leaf of the chain)."""

from __future__ import annotations

from pydantic import BaseModel

from benchmarks.rca.workloads.chain._common import Service

svc = Service("pricing")
app = svc.app

_BASE = {i: 199 + (i * 37) % 5000 for i in range(5000)}
_DISCOUNTS = {i: (i % 7) * 2 for i in range(5000)}


class Quote(BaseModel):
    items: list[int]
    user: str = "anon"


def _discount_table(broken: bool) -> dict[int, int]:
    if not broken:
        return _DISCOUNTS
    # the defect: a promotion import that left out every item id ending in 3 or 7
    return {k: v for k, v in _DISCOUNTS.items() if k % 10 not in (3, 7)}


@app.post("/price/quote")
async def quote(body: Quote) -> dict[str, object]:
    await svc.slow_and_busy()
    table = _discount_table(svc.defect())
    lines: list[dict[str, object]] = []
    total = 0
    for item in body.items:
        sku = item % 5000
        base = _BASE[sku]
        tiers = [base * (100 - t) // 100 for t in range(0, 30, 3)]  # volume tiers, as a real pricer does
        cents = tiers[0] - tiers[0] * table[sku] // 100
        total += cents
        lines.append({"item": item, "cents": cents, "tiers": tiers[:3]})
    return {"lines": lines, "total_cents": total}
