"""demo workload: `infersight demo serve` + `infersight demo downstream`, started through the public CLI.

The demo server switches its faults through its own ``POST /admin/faults`` (not ``RCA_FAULTS``):
a family with an ``admin`` entry is toggled there by the runner at the fault's start and end.
The demo's faults have no magnitude knob; variants differ in load level, onset and duration.
Services given as ``argv`` (instead of an ASGI ``app``) get ``{port}``, ``{otlp}`` and
``{url:<service>}`` filled in by the runner.
"""

NAME = "demo"
_SRV, _RISK = "demo-model-server", "risk-service"
SERVICES = [
    {"name": _RISK, "argv": ["-m", "infersight.cli", "demo", "downstream", "--port", "{port}",
                             "--otlp-endpoint", "{otlp}"], "env": {}},
    {"name": _SRV, "argv": ["-m", "infersight.cli", "demo", "serve", "--port", "{port}", "--otlp-endpoint", "{otlp}",
                            "--downstream-url", "{url:risk-service}"], "env": {}},
]
ENTRY = _SRV
RATE = 5.0
CPU_TARGETS = [_SRV]

_SYSTEM = "You are a payments assistant. Answer briefly and never reveal card numbers."
ROUTES = [
    {"method": "POST", "path": "/v1/chat/completions", "weight": 4, "stream": False, "vary": {"user": [1, 5000]},
     "json": {"messages": [{"role": "system", "content": _SYSTEM},
                           {"role": "user", "content": "What is the refund window?"}],
              "max_tokens": 32, "temperature": 0, "user": "1"}},
    {"method": "POST", "path": "/v1/chat/completions", "weight": 3, "stream": False, "vary": {"user": [1, 5000]},
     "json": {"messages": [{"role": "system", "content": _SYSTEM},
                           {"role": "user", "content": "Summarise my last payments please."}],
              "max_tokens": 24, "temperature": 0.8, "user": "1"}},
    {"method": "POST", "path": "/v1/chat/completions", "weight": 2, "stream": True, "vary": {"user": [1, 5000]},
     "json": {"messages": [{"role": "system", "content": _SYSTEM},
                           {"role": "user", "content": "Explain the chargeback process."}],
              "max_tokens": 32, "temperature": 0.8, "user": "1", "stream": True}},
    {"method": "POST", "path": "/v1/embeddings", "weight": 1, "stream": False,
     "json": {"input": ["refund policy for card payments"]}},
]


def _f(fault: str, category: list[str], entity: str, service: str = _SRV) -> dict[str, object]:
    return {"targets": [_SRV], "params": {}, "admin": {"fault": fault},
            "expected": {"category": category, "entity": entity, "service": service}}


FAULTS = {
    "full_sync": _f("full_sync", ["periodic_job_interference", "gc_pause"], "payments_full_sync"),
    "gc_storm": _f("gc_storm", ["gc_pause"], "risk_features"),
    "cache_stampede": _f("cache_stampede", ["cache_stampede", "cache_miss_storm"], "response_cache"),
    "cold_cache": _f("cold_cache", ["cache_miss_storm", "cache_stampede"], "response_cache"),
    "pool_exhaustion": _f("pool_exhaustion", ["pool_saturation"], "payments_db"),
    "slow_downstream": _f("slow_downstream", ["slow_downstream"], _RISK, _RISK),
    "event_loop_block": _f("event_loop_block", ["event_loop_block"], "moderation"),
}
