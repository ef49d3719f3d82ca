"""Streamed multipart uploads: the file part is handed on chunk by chunk as it arrives, so a size
limit is enforced while reading (Starlette's form parser would spool the whole body first)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import anyio.from_thread
from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from services.domain.errors import Invalid, TooLarge

MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries around the file


class StreamedFile:
    """The `field` part of a multipart request: its filename, then its bytes via `chunks()`.

    Call from a sync route (it runs in a worker thread and pulls the body from the event loop)."""

    def __init__(self, request: Request, *, field: str = "file", max_bytes: int) -> None:
        content_type, params = parse_options_header(request.headers.get("content-type", ""))
        boundary = params.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise Invalid("send the file as multipart/form-data with a 'file' field", code="invalid_upload")
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes + MULTIPART_OVERHEAD:
            raise TooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
        self.field = field
        self._body = request.stream().__aiter__()
        self._events: deque[tuple[str, object]] = deque()
        self._header_name = b""
        self._headers: dict[bytes, bytes] = {}
        self._in_field = False
        self._done = False
        self._parser = MultipartParser(boundary, callbacks={
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data, "on_part_end": self._part_end,
        })
        self.filename = self._find_field()

    # parser callbacks
    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name = data[start:end].lower()

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._headers[self._header_name] = self._headers.get(self._header_name, b"") + data[start:end]

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._in_field = name == self.field
        if self._in_field:
            self._events.append(("start", params.get(b"filename", b"").decode("utf-8", "replace")))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_field:
            self._events.append(("data", bytes(data[start:end])))

    def _part_end(self) -> None:
        if self._in_field:
            self._events.append(("end", None))
            self._in_field = False

    def _pull(self) -> bool:
        """Feed the next body chunk to the parser; False at the end of the body."""
        if self._done:
            return False
        try:
            chunk = anyio.from_thread.run(self._body.__anext__)
        except StopAsyncIteration:
            self._done = True
            return False
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:  # a malformed body is the client's error, not a 500
            raise Invalid(f"the upload is not valid multipart/form-data ({exc})", code="invalid_upload") from exc
        return True

    def _find_field(self) -> str:
        while True:
            while self._events:
                kind, value = self._events.popleft()
                if kind == "start":
                    return str(value)
            if not self._pull():
                raise Invalid(f"the upload has no '{self.field}' file", code="invalid_upload")

    def chunks(self) -> Iterator[bytes]:
        while True:
            while self._events:
                kind, value = self._events.popleft()
                if kind == "data":
                    yield value  # type: ignore[misc]
                elif kind == "end":
                    return
            if not self._pull():
                raise Invalid("the upload ended before the file did", code="invalid_upload")
