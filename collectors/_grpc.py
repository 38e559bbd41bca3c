"""OTLP/gRPC receiver (grpcio): TraceService, MetricsService, LogsService ``Export``.

Same semantics as HTTP: INVALID_ARGUMENT for undecodable data, UNAUTHENTICATED without the
bearer token, partial_success for rejected items, UNAVAILABLE with a google.rpc.RetryInfo
detail when the write queue or the in-flight byte budget is full (the OTLP exporters honour
it), RESOURCE_EXHAUSTED over the message size limit (grpcio enforces it).

The methods are registered with raw-bytes handlers: grpcio hands over the message undecoded,
so the token is checked *before* anything is parsed (an unauthenticated caller costs no parse),
the message's bytes are counted against the shared in-flight budget, and undecodable bytes are
INVALID_ARGUMENT from our own decoder instead of grpcio's INTERNAL "Exception deserializing".
The default message limit (4 MiB, as the OpenTelemetry Collector's) keeps what one message can
cost in memory small; an SDK exporter's batch of 512 spans is a few hundred KiB.
"""

from __future__ import annotations

import hmac
import logging
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ._budget import InflightBudget
from ._errors import DecodeError, OverloadedError, PortInUseError, StorageError
from ._selfmetrics import CollectorMetrics
from ._signals import PROTOBUF, SIGNALS, Signal
from ._writer import Writer

logger = logging.getLogger(__name__)
DEFAULT_MAX_MESSAGE = 4 << 20
_SERVICES = {"traces": trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
             "metrics": metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
             "logs": logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name}


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
                 budget: InflightBudget, metrics: CollectorMetrics) -> None:
        self.sig = sig
        self.writer = writer
        self.token = token
        self.timeout = timeout
        self.budget = budget
        self.metrics = metrics

    def _authorized(self, context: grpc.ServicerContext) -> bool:
        if not self.token:
            return True
        md = dict(context.invocation_metadata())
        auth = str(md.get("authorization", ""))
        scheme, _, value = auth.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode())

    def export(self, raw: bytes, context: grpc.ServicerContext) -> Any:
        if not self._authorized(context):  # before a single byte is parsed
            self.metrics.rejected(self.sig.name, "unauthorized")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        hold = self.budget.hold()
        try:
            try:
                hold.take(len(raw))
            except OverloadedError as exc:
                self.metrics.rejected(self.sig.name, "overloaded")
                _abort_retry(context, grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE, str(exc), exc.retry_after)
            return self._store(raw, context)
        finally:
            hold.release()

    def _store(self, raw: bytes, context: grpc.ServicerContext) -> Any:
        self.writer.incoming(1)
        try:
            conv = self.sig.convert(self.sig.decode(raw, PROTOBUF))
        except DecodeError as exc:
            self.writer.incoming(-1)
            self.metrics.rejected(self.sig.name, "bad_request")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except BaseException:
            self.writer.incoming(-1)
            raise
        del raw
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

    def generic_handler(self) -> grpc.GenericRpcHandler:
        method = grpc.unary_unary_rpc_method_handler(
            self.export, request_deserializer=None,  # raw bytes: we authenticate, then parse
            response_serializer=self.sig.response.SerializeToString)
        return grpc.method_handlers_generic_handler(_SERVICES[self.sig.name], {"Export": method})


def start_grpc_server(writer: Writer, host: str, port: int, *, token: str | None = None,
                      max_message: int = DEFAULT_MAX_MESSAGE, workers: int = 8,
                      tls: tuple[bytes, bytes] | None = None,
                      budget: InflightBudget | None = None,
                      metrics: CollectorMetrics | None = None) -> tuple[grpc.Server, int]:
    """Start the gRPC server; return it and the bound port. PortInUseError when taken.

    ``budget``: the in-flight byte budget shared with the HTTP receiver (a private one of
    ``workers * 4`` messages when None).
    """
    budget = budget if budget is not None else InflightBudget(workers * 4 * max_message)
    metrics = metrics if metrics is not None else CollectorMetrics()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="infersight-grpc"),
        handlers=[_Handler(SIGNALS[name], writer, token, 60.0, budget, metrics).generic_handler() for name in _SERVICES],
        options=[("grpc.max_receive_message_length", max_message), ("grpc.so_reuseport", 0)],
        maximum_concurrent_rpcs=workers * 4,
    )
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
