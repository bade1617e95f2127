"""HTTP/1.1 chunked transfer coding, removed from a body as its bytes arrive (RFC 9112 §7.1)."""

from __future__ import annotations

#: The longest chunk-size line accepted (size, extensions and CRLF).
MAX_SIZE_LINE = 4096
_HEX = b"0123456789abcdefABCDEF"


class ChunkedBody:
    """Feed a chunked body's bytes as they arrive; get back the data they complete.

    Works on whole reads: many chunks in one read cost one call, a chunk cut across reads is
    joined. Trailers after the last chunk are not read (``clean`` is then False: the
    connection is not used again).
    ``feed`` raises ``ValueError`` for a malformed body.
    """

    __slots__ = ("_crlf", "_left", "_pending", "clean", "done")

    def __init__(self) -> None:
        self._pending = b""  # bytes of a size line or chunk end not yet complete
        self._left = 0  # data bytes of the current chunk still to come
        self._crlf = False  # the CRLF ending the current chunk's data is next
        #: The last (zero-size) chunk arrived.
        self.done = False
        #: ... and with it the body's end, no trailers and nothing after it (the connection
        #: can carry another response).
        self.clean = False

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        buf = self._pending + data if self._pending else data
        end = len(buf)
        pos = 0
        out: list[bytes] = []
        while True:
            left = self._left
            if left:
                n = end - pos
                if n <= 0:
                    break
                if n >= left:
                    out.append(buf[pos : pos + left])
                    pos += left
                    self._left = 0
                    self._crlf = True
                else:
                    out.append(buf[pos:end])
                    self._left = left - n
                    pos = end
                    break
            if self._crlf:
                if end - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise ValueError("malformed chunked body: a chunk does not end in CRLF")
                pos += 2
                self._crlf = False
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                if end - pos > MAX_SIZE_LINE:
                    raise ValueError("malformed chunked body: chunk-size line too long")
                break
            size_field = buf[pos:line_end].split(b";", 1)[0].strip()
            if not size_field or size_field.strip(_HEX):  # int() would take "0x1f" or "1_0"
                raise ValueError(f"malformed chunked body: chunk size {size_field[:20]!r}")
            size = int(size_field, 16)
            pos = line_end + 2
            if size == 0:
                self.done = True
                self.clean = buf[line_end + 2 :] == b"\r\n"
                pos = end
                break
            self._left = size
        self._pending = buf[pos:] if pos < end else b""
        if not out:
            return b""
        return out[0] if len(out) == 1 else b"".join(out)
