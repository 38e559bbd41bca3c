"""gateway: one catch-all route that forwards by the first path segment, as API gateways do.

Its SERVER spans are all named ``GET /{path:path}`` / ``POST /{path:path}``: the request type is
visible only in ``url.path`` and in the services behind it.
"""

from __future__ import annotations

from fastapi import Request, Response

from benchmarks.rca.workloads._faultenv import peer_url
from benchmarks.rca.workloads.chain._common import Service

svc = Service("gateway")
app = svc.app

UPSTREAMS = {"catalog": "catalog", "orders": "orders", "inventory": "inventory"}


@app.api_route("/{path:path}", methods=["GET", "POST"])
async def forward(path: str, request: Request) -> Response:
    upstream = UPSTREAMS.get(path.split("/", 1)[0])
    if upstream is None:
        return Response(b'{"detail":"no route"}', status_code=404, media_type="application/json")
    upstream_response = await svc.client.request(
        request.method, f"{peer_url(upstream)}/{path}", params=request.query_params,
        content=await request.body(), headers={"content-type": request.headers.get("content-type", "")})
    status = 502 if upstream_response.status_code >= 500 else upstream_response.status_code
    return Response(upstream_response.content, status_code=status,
                    media_type=upstream_response.headers.get("content-type"))
