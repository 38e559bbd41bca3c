"""payments workload: what the corpus runner needs to start, load and break it (CONTRACTS.md)."""

NAME = "payments"
_API = "payments-api"
_RISK = "payments-risk"

SERVICES = [
    {"name": _RISK, "app": "benchmarks.rca.workloads.payments.risk:app", "env": {}},
    {"name": _API, "app": "benchmarks.rca.workloads.payments.api:app",
     # the feature cache's TTL outlasts a run: a 45 s TTL expired every key cached at start-up together
     # ~45 s in, a mass expiry (the cold_cache family) inside every "healthy" run
     "env": {"PAYMENTS_POOL_SIZE": "4", "PAYMENTS_POOL_TIMEOUT_S": "2", "PAYMENTS_CACHE_TTL_S": "600",
             "PAYMENTS_TXNS": "150000"}},
]
ENTRY = _API  # the service the load generator calls
RATE = 9.0  # base requests/s of the open-loop load
CPU_TARGETS = [_API]  # where the runner's noisy neighbour is pinned (payments-risk does ~no CPU)

ROUTES = [
    {"method": "POST", "path": "/v1/score", "weight": 6, "json": {"account_id": 1, "amount": 42.5},
     "stream": False, "vary": {"account_id": [1, 3000]}},
    {"method": "GET", "path": "/v1/accounts/{account_id}", "weight": 3, "stream": False,
     "vary": {"account_id": [1, 3000]}},
    {"method": "POST", "path": "/v1/refunds", "weight": 1.5, "json": {"txn_id": 1, "amount": 12.0},
     "stream": False, "vary": {"txn_id": [1, 150000]}},
]


def _exp(category: list[str], entity: str, service: str = _API) -> dict[str, object]:
    return {"category": category, "entity": entity, "service": service}


FAULTS = {
    "gc_job": {"targets": [_API], "params": {"period_s": [4, 9], "rows": [150000, 400000]},
               "expected": _exp(["periodic_job_interference", "gc_pause"], "ledger_sync")},
    "loop_block_job": {"targets": [_API], "params": {"period_s": [5, 10], "block_ms": [300, 1200]},
                       "expected": _exp(["event_loop_block", "periodic_job_interference"], "report_flush")},
    "gc_storm": {"targets": [_API], "params": {"objects": [20000, 60000]},
                 "expected": _exp(["gc_pause"], "/v1/score")},
    "cache_stampede": {"targets": [_API], "params": {"period_s": [5, 10]},
                       "expected": _exp(["cache_stampede", "cache_miss_storm"], "features")},
    "cold_cache": {"targets": [_API], "params": {"ttl_s": [0.5, 2.0]},
                   "expected": _exp(["cache_miss_storm", "cache_stampede"], "features")},
    "pool_starvation": {"targets": [_API], "params": {"held": [4, 4], "hold_s": [0.4, 2.5]},
                        "expected": _exp(["pool_saturation"], "payments-db")},
    "slow_http": {"targets": [_RISK], "params": {"extra_ms": [40, 250]},
                  "expected": _exp(["slow_downstream"], _RISK, _RISK)},
    "slow_db": {"targets": [_API], "params": {},
                "expected": _exp(["slow_downstream", "pool_saturation"], "sqlite")},
    "code_defect": {"targets": [_API], "params": {"error_rate": [0.3, 0.9]},
                    "expected": _exp(["code_defect"], f"{_API} /v1/refunds")},
}
