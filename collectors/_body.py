"""Reading a request body with hard limits on its decompressed size, as it streams.

Two limits apply to every byte the collector holds *after decompression*, counted as it is
produced (so neither a chunked upload without Content-Length nor a small gzip body that inflates
to many megabytes is buffered before it is counted):

* ``limit``: one body's size (-> PayloadTooLargeError, HTTP 413);
* ``take(n)``: a shared in-flight byte budget over every connection (raises OverloadedError,
  HTTP 503 + Retry-After, when the bytes all requests hold would pass it).

Content encodings: identity, ``gzip`` (every member of a multi-member body is decoded, as Go's
and Python's gzip readers do; zero padding between/after members is skipped; anything else after
a member is a DecodeError) and ``deflate`` (zlib-wrapped per RFC 9110, raw deflate accepted;
trailing bytes after the stream are a DecodeError). A body is never acknowledged partly stored.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable

from ._errors import DecodeError, PayloadTooLargeError

ENCODINGS = ("", "identity", "gzip", "deflate")
_STEP = 256 << 10
Take = Callable[[int], None]


def _no_budget(n: int) -> None:
    return None


class _Inflater:
    def __init__(self, encoding: str, limit: int, take: Take = _no_budget) -> None:
        self.limit = limit
        self.take = take
        self.parts: list[bytes] = []
        self.size = 0
        self.members = 0  # gzip members / deflate streams decoded to their end
        self._encoding = encoding
        self._d: zlib._Decompress | None = None

    def _append(self, data: bytes) -> None:
        if not data:
            return
        if self.size + len(data) > self.limit:
            raise PayloadTooLargeError(f"body larger than {self.limit} bytes after decompression")
        self.take(len(data))  # may raise OverloadedError: nothing of it is kept then
        self.size += len(data)
        self.parts.append(data)

    def _decoder(self, data: bytes) -> zlib._Decompress:
        if self._d is None:
            if self._encoding == "gzip":
                if self.members and data[:2] != b"\x1f\x8b":
                    raise DecodeError("invalid gzip data: trailing garbage after the last member")
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                if self.members:
                    raise DecodeError("invalid deflate data: trailing bytes after the end of the stream")
                # RFC 9110 "deflate" is zlib-wrapped; accept raw deflate too (auto-detect by header)
                wbits = zlib.MAX_WBITS if (data[0] & 0x0F) == 8 else -zlib.MAX_WBITS
                self._d = zlib.decompressobj(wbits)
        return self._d

    def feed(self, chunk: bytes) -> None:
        if self._encoding in ("", "identity"):
            self._append(chunk)
            return
        data = chunk
        try:
            while data:
                if self._d is None and self._encoding == "gzip" and self.members:
                    data = data.lstrip(b"\0")  # zero padding after a member (gzip(1) accepts it)
                    if not data:
                        return
                d = self._decoder(data)
                # at most _STEP bytes of output per call: a small chunk can inflate ~1000x, and
                # what the budget refuses should not have been allocated in one big piece first
                out = d.decompress(data, min(_STEP, self.limit - self.size + 1))
                self._append(out)
                if d.eof:
                    self.members += 1
                    self._d = None
                    data = d.unused_data
                else:
                    data = d.unconsumed_tail
        except zlib.error as exc:
            raise DecodeError(f"invalid {self._encoding} data: {exc}") from None

    def finish(self) -> bytes:
        if self._encoding not in ("", "identity"):
            if self._d is not None:
                try:
                    while not self._d.eof:  # output held back by the size cap, then the end
                        out = self._d.decompress(self._d.unconsumed_tail, min(_STEP, self.limit - self.size + 1))
                        if not out:
                            break
                        self._append(out)
                    self._append(self._d.flush())
                except zlib.error as exc:
                    raise DecodeError(f"invalid {self._encoding} data: {exc}") from None
                if not self._d.eof:
                    raise DecodeError(f"truncated {self._encoding} data")
            elif not self.members:
                raise DecodeError(f"truncated {self._encoding} data (empty body)")
        body = b"".join(self.parts)
        self.parts.clear()
        return body


async def read_body(chunks: AsyncIterator[bytes], encoding: str, limit: int, take: Take = _no_budget) -> bytes:
    """Collect ``chunks`` (decompressing ``encoding``); PayloadTooLargeError past ``limit`` bytes,
    ``take(n)`` called for every ``n`` decompressed bytes before they are kept."""
    inflater = _Inflater(encoding, limit, take)
    wire = 0
    async for chunk in chunks:
        if chunk:
            wire += len(chunk)
            if wire > limit + (1 << 20):  # compressed data never legitimately outgrows its content
                raise PayloadTooLargeError(f"body larger than {limit} bytes")
            inflater.feed(chunk)
    return inflater.finish()
