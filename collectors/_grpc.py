"""OTLP/gRPC receiver (grpcio): TraceService, MetricsService, LogsService ``Export``.

Same semantics as HTTP: INVALID_ARGUMENT for undecodable data, UNAUTHENTICATED without the
bearer token, partial_success for rejected items, UNAVAILABLE with a google.rpc.RetryInfo
detail when the write queue is full (the OTLP exporters honour it), RESOURCE_EXHAUSTED over
the message size limit (grpcio enforces it).
"""

from __future__ import annotations

import hmac
import logging
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from ._errors import OverloadedError, PortInUseError, StorageError
from ._selfmetrics import CollectorMetrics
from ._signals import SIGNALS, Signal
from ._writer import Writer

logger = logging.getLogger(__name__)


def _abort_retry(context: grpc.ServicerContext, code: grpc.StatusCode, rpc_code: int, message: str,
                 retry_after: float) -> None:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(
        seconds=int(retry_after), nanos=int((retry_after % 1) * 1e9))))
    st = status_pb2.Status(code=rpc_code, message=message, details=[detail])
    context.set_trailing_metadata((("grpc-status-details-bin", st.SerializeToString()),))
    context.abort(code, message)


class _Handler:
    def __init__(self, sig: Signal, writer: Writer, token: str | None, timeout: float,
                 metrics: CollectorMetrics) -> None:
        self.sig = sig
        self.writer = writer
        self.token = token
        self.timeout = timeout
        self.metrics = metrics

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - gRPC name
        if self.token:
            md = dict(context.invocation_metadata())
            auth = str(md.get("authorization", ""))
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token.encode()):
                self.metrics.rejected(self.sig.name, "unauthorized")
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        self.writer.incoming(1)
        try:
            conv = self.sig.convert(request)
        except BaseException:
            self.writer.incoming(-1)
            raise
        if not conv.tables:
            self.writer.incoming(-1)
        else:
            try:
                fut = self.writer.submit(conv.tables, announced=True)
            except OverloadedError as exc:
                self.metrics.rejected(self.sig.name, "overloaded")
                _abort_retry(context, grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE, str(exc), exc.retry_after)
                raise AssertionError("unreachable") from None
            conv.tables = {}
            try:
                fut.result(timeout=self.timeout)
            except (StorageError, futures.TimeoutError) as exc:
                logger.error("write failed: %s", exc)
                self.metrics.rejected(self.sig.name, "storage_error")
                _abort_retry(context, grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE,
                             "storage write failed; retry later", 5.0)
        self.metrics.accepted(self.sig.name, conv.accepted, conv.rejected)
        resp = self.sig.response()
        if conv.rejected:
            ps = resp.partial_success  # type: ignore[attr-defined]
            setattr(ps, self.sig.rejected_field, conv.rejected)
            ps.error_message = f"{conv.rejected} {self.sig.name} item(s) rejected: {conv.reason}"
        return resp


def start_grpc_server(writer: Writer, host: str, port: int, *, token: str | None = None,
                      max_body: int = 64 << 20, workers: int = 8,
                      tls: tuple[bytes, bytes] | None = None,
                      metrics: CollectorMetrics | None = None) -> tuple[grpc.Server, int]:
    """Start the gRPC server; return it and the bound port. PortInUseError when taken."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="infersight-grpc"),
        options=[("grpc.max_receive_message_length", max_body), ("grpc.so_reuseport", 0)],
        maximum_concurrent_rpcs=workers * 4,
    )
    metrics = metrics if metrics is not None else CollectorMetrics()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
        _Handler(SIGNALS["traces"], writer, token, 60.0, metrics), server)  # type: ignore[arg-type]
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
        _Handler(SIGNALS["metrics"], writer, token, 60.0, metrics), server)  # type: ignore[arg-type]
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(
        _Handler(SIGNALS["logs"], writer, token, 60.0, metrics), server)  # type: ignore[arg-type]
    address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    try:
        if tls is not None:
            creds = grpc.ssl_server_credentials([(tls[1], tls[0])])
            bound = server.add_secure_port(address, creds)
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise PortInUseError(f"cannot listen on {address} (gRPC): {exc}") from None
    if bound == 0:
        raise PortInUseError(f"cannot listen on {address} (gRPC): port in use or not allowed")
    server.start()
    return server, bound
