"""Reading a request body with a hard limit on its decompressed size (no zip bomb is buffered)."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from ._errors import DecodeError, PayloadTooLargeError

ENCODINGS = ("", "identity", "gzip", "deflate")


class _Inflater:
    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        if encoding == "gzip":
            self._d: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            # RFC 9110 "deflate" is zlib-wrapped; accept raw deflate too (auto-detect by header).
            self._d = None
            self._pending_deflate = True
        else:
            self._d = None
            self._pending_deflate = False
        self._encoding = encoding

    def _append(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLargeError(f"body larger than {self.limit} bytes after decompression")
        self.parts.append(data)

    def feed(self, chunk: bytes) -> None:
        if self._encoding in ("", "identity"):
            self._append(chunk)
            return
        if self._d is None:  # deflate: pick zlib or raw on the first byte
            wbits = zlib.MAX_WBITS if chunk[:1] and (chunk[0] & 0x0F) == 8 else -zlib.MAX_WBITS
            self._d = zlib.decompressobj(wbits)
        try:
            data = chunk
            while data:
                out = self._d.decompress(data, self.limit - self.size + 1)
                self._append(out)
                data = self._d.unconsumed_tail
        except zlib.error as exc:
            raise DecodeError(f"invalid {self._encoding} data: {exc}") from None

    def finish(self) -> bytes:
        if self._d is not None:
            try:
                self._append(self._d.flush())
            except zlib.error as exc:
                raise DecodeError(f"invalid {self._encoding} data: {exc}") from None
            if not self._d.eof:
                raise DecodeError(f"truncated {self._encoding} data")
        return b"".join(self.parts)


async def read_body(chunks: AsyncIterator[bytes], encoding: str, limit: int) -> bytes:
    """Collect ``chunks`` (decompressing ``encoding``); PayloadTooLargeError past ``limit`` bytes."""
    inflater = _Inflater(encoding, limit)
    wire = 0
    async for chunk in chunks:
        if chunk:
            wire += len(chunk)
            if wire > limit + (1 << 20):  # compressed data never legitimately outgrows its content
                raise PayloadTooLargeError(f"body larger than {limit} bytes")
            inflater.feed(chunk)
    return inflater.finish()


def inflate(data: bytes, encoding: str, limit: int) -> bytes:
    """Synchronous variant for files and gRPC."""
    inflater = _Inflater(encoding, limit)
    if data:
        inflater.feed(data)
    return inflater.finish()
