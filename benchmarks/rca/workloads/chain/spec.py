"""The chain workload for the RCA corpus: plain data read by the runner (CONTRACTS.md).

A gateway whose only route is a catch-all (``/{path:path}``) in front of four services, each with
its own ``service.name``: catalog (in-memory index), pricing (computation), inventory and orders
(each its own SQLite behind a pool of 4). Request paths through the gateway:
  light : /catalog/items/N (gateway -> catalog), /inventory/stock/N (-> inventory -> sqlite),
          /orders/recent (-> orders -> sqlite)
  medium: /catalog/search (-> catalog -> pricing)
  heavy : /orders/checkout (-> orders -> pricing + inventory -> sqlite, then orders' own sqlite)
``expected`` values "{target}" stand for the target the runner picked for the run.
"""

from __future__ import annotations

NAME = "chain"
ENTRY = "gateway"  # the service the load generator talks to
RATE = 10.0  # base requests/s of the open-loop load
CPU_TARGETS = ["catalog", "pricing", "orders"]  # where the runner's noisy neighbour may be pinned

_PKG = "benchmarks.rca.workloads.chain"
SERVICES = [  # the gateway first: it finds its peers per request, so order does not matter to it
    {"name": "gateway", "app": f"{_PKG}.gateway:app", "env": {"OTEL_SERVICE_NAME": "gateway"}},
    {"name": "catalog", "app": f"{_PKG}.catalog:app", "env": {"OTEL_SERVICE_NAME": "catalog"}},
    {"name": "pricing", "app": f"{_PKG}.pricing:app", "env": {"OTEL_SERVICE_NAME": "pricing"}},
    {"name": "inventory", "app": f"{_PKG}.inventory:app", "env": {"OTEL_SERVICE_NAME": "inventory"}},
    {"name": "orders", "app": f"{_PKG}.orders:app", "env": {"OTEL_SERVICE_NAME": "orders"}},
]

ROUTES = [
    {"method": "GET", "path": "/catalog/items/{item_id}", "weight": 0.25, "stream": False,
     "vary": {"item_id": [0, 99_999]}},
    {"method": "GET", "path": "/catalog/search?q=lamp", "weight": 0.2, "stream": False},
    {"method": "GET", "path": "/inventory/stock/{item_id}", "weight": 0.15, "stream": False,
     "vary": {"item_id": [0, 4999]}},
    {"method": "GET", "path": "/orders/recent", "weight": 0.2, "stream": False},
    {"method": "POST", "path": "/orders/checkout", "weight": 0.2, "stream": False,
     "json": {"items": [3, 17, 29, 4242], "user": "u7"}, "vary": {"user": [1, 500]}},
]


def _expected(*categories: str) -> dict[str, object]:
    return {"category": list(categories), "entity": "{target}", "service": "{target}"}


FAULTS = {
    # pricing/inventory/catalog answer later (waiting, not computing): the callers' CLIENT spans grow
    "slow_http": {"targets": ["pricing", "inventory", "catalog"],
                  "params": {"delay_ms": [40, 250]},
                  "expected": _expected("slow_downstream")},
    # another writer holds the service's SQLite write lock: its DB CLIENT spans grow
    "slow_db": {"targets": ["inventory", "orders"],
                "params": {"hold_ms": [40, 200], "duty": [0.4, 0.8]},
                "expected": _expected("slow_downstream")},
    # a bug on one route: exceptions -> 500 there, 500/502 on every caller up the chain
    "code_defect": {"targets": ["pricing", "inventory"],
                    "params": {"error_rate": [0.1, 0.5]},
                    "expected": _expected("code_defect")},
    # a route builds cyclic garbage that dies old: gen-2 collections on that service
    "gc_storm": {"targets": ["catalog", "orders"],
                 "params": {"nodes": [20_000, 80_000]},
                 "expected": _expected("gc_pause")},
    # a leaked connection per leak_prob of uses, reaped leak_s later: waits in pool.acquire
    "pool_starvation": {"targets": ["inventory", "orders"],
                        "params": {"leak_prob": [0.15, 0.4], "leak_s": [1.5, 4.0]},
                        "expected": _expected("pool_saturation")},
    # a code path that burns CPU on every request: the service's self time rises
    "cpu_heavy": {"targets": ["pricing", "catalog"],
                  "params": {"cpu_ms": [5, 30]},
                  "expected": _expected("cpu_contention")},
}
