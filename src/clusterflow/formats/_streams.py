"""Opening a path or binary stream for reading, with gzip detected by its magic bytes."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast

from clusterflow.errors import DataFormatError

GZIP_MAGIC = b"\x1f\x8b"


class _Prefixed:
    """A read-only stream that first returns bytes already read from `stream` (used to peek magic)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if size is None or size < 0:
            data, self._head = self._head + self._stream.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        if len(data) < size:
            data += self._stream.read(size - len(data))
        return data


def source_name(source: str | Path | BinaryIO, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, str | Path):
        return str(source)
    return str(getattr(source, "name", "<stream>"))


@contextmanager
def open_binary(source: str | Path | BinaryIO, name: str) -> Iterator[BinaryIO]:
    """Yield a readable stream of the (decompressed) content; `name` is used in error messages."""
    if isinstance(source, str | Path):
        try:
            handle: BinaryIO = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise DataFormatError(f"cannot open: {exc.strerror}", source=name) from exc
        try:
            yield _decompressing(handle, name)
        finally:
            handle.close()
    else:
        yield _decompressing(source, name)


def _decompressing(stream: BinaryIO, name: str) -> BinaryIO:
    head = stream.read(len(GZIP_MAGIC))
    prefixed = cast(BinaryIO, _Prefixed(head, stream))
    if head == GZIP_MAGIC:
        return cast(BinaryIO, gzip.GzipFile(fileobj=prefixed, mode="rb"))
    if name.endswith(".gz"):
        raise DataFormatError(
            "not a gzip file (the name ends in .gz but the data has no gzip header)", source=name
        )
    return prefixed


def read_chunks(stream: BinaryIO, size: int, name: str) -> Iterator[bytes]:
    """Read `stream` in chunks of up to `size` bytes, turning corrupt gzip data into DataFormatError."""
    while True:
        try:
            chunk = stream.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataFormatError(f"corrupt or truncated gzip data ({exc})", source=name) from exc
        if not chunk:
            return
        yield chunk


def iter_line_blocks(stream: BinaryIO, size: int, name: str) -> Iterator[tuple[bytes, int, int]]:
    """(text, 1-based number of its first line, bytes consumed) for each run of whole lines.

    `text` drops the block's final newline; an unterminated last line comes as a block of its own.
    """
    line = 1
    pending = b""
    for chunk in read_chunks(stream, size, name):
        pending += chunk
        cut = pending.rfind(b"\n") + 1
        if cut == 0:
            continue
        data, pending = pending[: cut - 1], pending[cut:]
        yield data, line, cut
        line += data.count(b"\n") + 1
    if pending:
        yield pending, line, len(pending)


@contextmanager
def open_output(dest: str | Path | BinaryIO) -> Iterator[BinaryIO]:
    """A binary stream to write to: a path is opened (and closed after); a stream is used as it is."""
    if isinstance(dest, str | Path):
        with open(dest, "wb") as handle:
            yield handle
    else:
        yield dest

