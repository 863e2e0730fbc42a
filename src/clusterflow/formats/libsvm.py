"""libsvm text, read as strictly as Spark's `MLUtils.loadLibSVMFile` and written so Spark reads it back.

A data line is `label index:value index:value ...`, fields separated by spaces, indices 1-based and
strictly ascending. Blank lines and lines whose first non-space character is `#` are skipped (Spark trims each
line and drops those); a `#` after data is an error, as it is for Spark. Parsing is vectorised over blocks of
lines; any refusal re-reads the offending block line by line to name the first defect exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn

import numpy as np

from clusterflow.errors import DataFormatError
from clusterflow.formats._decimal import (
    NUMBER_RE,
    PAD_WIDTH,
    float32_texts,
    format_label,
    parse_tokens,
    refine_exact,
    to_float32,
)
from clusterflow.formats._streams import iter_line_blocks, open_binary, open_output, source_name

BLOCK_BYTES = 1 << 20
_MAX_LABELS = 1000
_WRITE_BLOCK_ROWS = 4096

# Byte classes: 0 refused, 1 separator (space; CR, which Spark's trim drops), 2 colon, 3 newline, 4 number.
_INVALID, _SPACE, _COLON, _NEWLINE, _NUMBER = 0, 1, 2, 3, 4
_CLASS = np.zeros(256, np.uint8)
_CLASS[[ord(" "), ord("\r")]] = _SPACE
_CLASS[ord(":")] = _COLON
_CLASS[ord("\n")] = _NEWLINE
_CLASS[[ord(c) for c in "0123456789.+-eE"]] = _NUMBER
_NONFINITE = {b"nan", b"inf", b"infinity"}
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_UNEXPECTED = re.compile(rb"[^0-9.+\-eE: \r]")


@dataclass
class _Block:
    """Rows of one block in CSR form: indices are 0-based."""

    labels: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class LibsvmSummary:
    rows: int
    max_index: int
    labels: list[float] | None
    bytes: int


# ---- the line-by-line checker: the reference for every refusal, run only once a block fails ----


def _number_defect(token: bytes) -> str | None:
    if NUMBER_RE.fullmatch(token):
        return None
    if token.lstrip(b"+-").lower() in _NONFINITE:
        return "NaN/inf"
    return "non-numeric"


def _pair_defect(pair: bytes, previous: int, num_features: int) -> tuple[str | None, int]:
    text = pair.decode()
    if pair.count(b":") != 1:
        if b":" not in pair:
            return f"truncated pair '{text}': expected index:value", previous
        return f"malformed pair '{text}': more than one ':'", previous
    raw_index, raw_value = pair.split(b":")
    if not raw_index or not raw_value:
        return f"truncated pair '{text}': expected index:value", previous
    if raw_index.startswith(b"-") and raw_index[1:].isdigit():
        return f"negative index {text.split(':')[0]} in '{text}'", previous
    if not raw_index.isdigit():
        return f"non-integer index in '{text}'", previous
    index = int(raw_index)
    if index == 0:
        return f"index 0 in '{text}': indices are 1-based (this looks like a zero-based file)", previous
    if index > num_features:
        return f"index {index} > num_features {num_features} in '{text}'", previous
    if index <= previous:
        kind = "duplicate index" if index == previous else "indices not strictly ascending:"
        return f"{kind} {index} after {previous} (indices must be strictly ascending)", previous
    value_defect = _number_defect(raw_value)
    if value_defect:
        return f"{value_defect} value '{raw_value.decode()}' for index {index}", index
    if abs(float(raw_value)) > _FLOAT32_MAX:
        return f"value '{raw_value.decode()}' for index {index} is outside the float32 range", index
    return None, index


def _char_defect(line: bytes) -> str | None:
    control = _CONTROL.search(line)
    if control:
        return f"binary data (control byte 0x{line[control.start()]:02x} at column {control.start() + 1})"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte 0x{line[exc.start]:02x} at column {exc.start + 1}): binary data?"
    if b"," in line:
        return "found ',': this looks like CSV, not libsvm ('label index:value index:value ...')"
    if b"#" in line:
        return "'#' after data: only whole-line comments are allowed"
    if b"\t" in line:
        return "tab character: libsvm fields must be separated by spaces"
    return None


def line_defect(line: bytes, num_features: int) -> str | None:
    """Why Spark would refuse this line (None if it is fine or skipped)."""
    stripped = line.strip(b" \r\n")
    if not stripped or stripped.startswith(b"#"):
        return None
    defect = _char_defect(stripped)
    if defect:
        return defect
    fields = stripped.replace(b"\r", b" ").split()
    if b":" in fields[0]:
        return f"missing label: the line starts with the pair '{fields[0].decode()}'"
    label_defect = _number_defect(fields[0])
    if label_defect:
        return f"{label_defect} label '{fields[0].decode()}'"
    previous = 0
    for pair in fields[1:]:
        pair_defect, previous = _pair_defect(pair, previous, num_features)
        if pair_defect:
            return pair_defect
    bad = _UNEXPECTED.search(stripped)
    if bad:
        return f"unexpected character '{chr(stripped[bad.start()])}'"
    return None


def _raise_first_defect(data: bytes, first_line: int, num_features: int, source: str) -> NoReturn:
    for offset, line in enumerate(data.split(b"\n")):
        defect = line_defect(line, num_features)
        if defect:
            raise DataFormatError(defect, source=source, line=first_line + offset)
    last = first_line + data.count(b"\n")
    raise DataFormatError(f"malformed libsvm data between lines {first_line} and {last}", source=source)


# ---- the vectorised block parser ----


def _blank_comment_lines(data: bytes) -> bytes:
    if b"#" not in data:
        return data
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if line.lstrip(b" \r").startswith(b"#"):
            lines[i] = b""
    return b"\n".join(lines)


def _token_bounds(is_number: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of runs of True; the buffer must begin and end with False."""
    edges = np.flatnonzero(is_number[1:] != is_number[:-1]) + 1
    return edges[0::2], edges[1::2]


def _parse_block(data: bytes, first_line: int, num_features: int, source: str) -> _Block:
    def refuse() -> NoReturn:
        _raise_first_defect(data, first_line, num_features, source)

    text = b" " * (PAD_WIDTH - 1) + b"\n" + _blank_comment_lines(data) + b"\n"
    buf = np.frombuffer(text, np.uint8)
    classes = np.take(_CLASS, buf)
    if not classes.all():
        refuse()
    starts, ends = _token_bounds(classes == _NUMBER)
    colons = np.flatnonzero(classes == _COLON)
    if not ((classes[colons - 1] == _NUMBER) & (classes[colons + 1] == _NUMBER)).all():
        refuse()
    is_index = buf[ends] == ord(":")
    is_value = buf[starts - 1] == ord(":")
    first_in_line = np.zeros(len(starts) + 1, bool)
    first_in_line[np.searchsorted(starts, np.flatnonzero(classes == _NEWLINE))] = True
    first_in_line = first_in_line[:-1]
    if (is_index & is_value).any() or not np.array_equal(~is_index & ~is_value, first_in_line):
        refuse()
    label_tokens = np.flatnonzero(first_in_line)
    index_tokens = np.flatnonzero(is_index)
    # Indices are parsed apart: they are short, and the values' longer columns would be wasted on them.
    index_parsed = parse_tokens(buf, starts[index_tokens], ends[index_tokens])
    if not (index_parsed.ok.all() and index_parsed.plain.all()):
        refuse()
    indices = index_parsed.values.astype(np.int64)
    pairs_per_row = (np.diff(label_tokens, append=len(starts)) - 1) // 2
    pair_rows = np.repeat(np.arange(len(label_tokens)), pairs_per_row)
    same_row = pair_rows[1:] == pair_rows[:-1]
    if len(indices) and (
        indices.min() < 1 or indices.max() > num_features or (same_row & (indices[1:] <= indices[:-1])).any()
    ):
        refuse()
    # Labels and values, in file order: each label is followed by its row's values.
    numbers = np.flatnonzero(~is_index)
    number_starts, number_ends = starts[numbers], ends[numbers]
    parsed = parse_tokens(buf, number_starts, number_ends)
    if not parsed.ok.all():
        refuse()
    is_label = first_in_line[numbers]
    label_at = np.flatnonzero(is_label)
    refine_exact(buf, number_starts, number_ends, parsed, label_at)
    labels = parsed.values[label_at]
    values = to_float32(buf, number_starts, number_ends, parsed, np.flatnonzero(~is_label))
    if not (np.isfinite(values).all() and np.isfinite(labels).all()):
        refuse()
    indptr = np.zeros(len(label_tokens) + 1, np.int64)
    np.cumsum(pairs_per_row, out=indptr[1:])
    return _Block(labels=labels, indptr=indptr, indices=indices - 1, values=values)


def _iter_blocks(
    source: str | Path | BinaryIO, num_features: int, name: str | None
) -> Iterator[tuple[_Block, int]]:
    """(block, text bytes it covered) for each block of whole lines; refuses an empty file."""
    if num_features <= 0:
        raise ValueError(f"num_features must be > 0, got {num_features}")
    label = source_name(source, name)
    rows = 0
    with open_binary(source, label) as stream:
        for data, line, consumed in iter_line_blocks(stream, BLOCK_BYTES, label):
            block = _parse_block(data, line, num_features, label)
            rows += block.rows
            yield block, consumed
    if rows == 0:
        raise DataFormatError("empty file: no data rows (only blank or comment lines)", source=label)


def _densify(
    labels: np.ndarray, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    X = np.zeros((len(labels), width), np.float32)
    rows = np.repeat(np.arange(len(labels)), np.diff(indptr))
    X[rows, indices] = values
    return labels, X


def _take_rows(blocks: list[_Block], count: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove the first `count` rows from `blocks` (in place) and return them dense."""
    labels, indices, values, lengths = [], [], [], []
    taken = 0
    while taken < count and blocks:
        block = blocks[0]
        n = min(count - taken, block.rows)
        end = int(block.indptr[n])
        labels.append(block.labels[:n])
        lengths.append(np.diff(block.indptr[: n + 1]))
        indices.append(block.indices[:end])
        values.append(block.values[:end])
        if n == block.rows:
            blocks.pop(0)
        else:
            blocks[0] = _Block(
                block.labels[n:], block.indptr[n:] - end, block.indices[end:], block.values[end:]
            )
        taken += n
    indptr = np.zeros(taken + 1, np.int64)
    np.cumsum(np.concatenate(lengths), out=indptr[1:])
    return _densify(np.concatenate(labels), indptr, np.concatenate(indices), np.concatenate(values), width)


def iter_libsvm(
    source: str | Path | BinaryIO, num_features: int, *, batch_rows: int = 8192, name: str | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream `(labels float64 (b,), X float32 (b, num_features))` batches of `batch_rows` rows."""
    if batch_rows <= 0:
        raise ValueError(f"batch_rows must be > 0, got {batch_rows}")
    pending: list[_Block] = []
    buffered = 0
    for block, _size in _iter_blocks(source, num_features, name):
        pending.append(block)
        buffered += block.rows
        while buffered >= batch_rows:
            yield _take_rows(pending, batch_rows, num_features)
            buffered -= batch_rows
    if buffered:
        yield _take_rows(pending, buffered, num_features)


def read_libsvm(
    source: str | Path | BinaryIO, num_features: int, *, name: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The whole file as `(labels, X)`; for small data."""
    batches = list(iter_libsvm(source, num_features, batch_rows=1 << 30, name=name))
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def inspect_libsvm(
    source: str | Path | BinaryIO, num_features: int, *, name: str | None = None
) -> LibsvmSummary:
    """Validate the whole file (streaming) and summarise it; raises the reader's DataFormatErrors."""
    rows = 0
    max_index = 0
    size = 0
    labels: set[float] | None = set()
    for block, block_bytes in _iter_blocks(source, num_features, name):
        rows += block.rows
        size += block_bytes
        if len(block.indices):
            max_index = max(max_index, int(block.indices.max()) + 1)
        if labels is not None:
            labels.update(np.unique(block.labels).tolist())
            if len(labels) > _MAX_LABELS:
                labels = None
    return LibsvmSummary(
        rows=rows, max_index=max_index, labels=sorted(labels) if labels is not None else None, bytes=size
    )


# ---- writing ----


def _libsvm_lines(labels: np.ndarray, X: np.ndarray, index_texts: np.ndarray) -> bytes:
    rows, cols = np.nonzero(X)
    values = np.ascontiguousarray(X[rows, cols], dtype=np.float32)
    if not np.isfinite(values).all():
        raise DataFormatError("cannot write NaN/inf values to libsvm")
    pairs = index_texts[cols] + float32_texts(values)
    bounds = np.searchsorted(rows, np.arange(len(labels) + 1))
    lines = [
        b" ".join([format_label(label), *pairs[bounds[i] : bounds[i + 1]]])
        for i, label in enumerate(labels.tolist())
    ]
    return b"\n".join(lines) + b"\n"


def write_libsvm(dest: str | Path | BinaryIO, labels: np.ndarray, X: np.ndarray) -> None:
    """Write rows as libsvm: 1-based ascending indices, zeros omitted, values exact as float32."""
    X = np.asarray(X)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or len(labels) != X.shape[0]:
        raise ValueError(f"labels {labels.shape} and X {X.shape} must be (n,) and (n, d)")
    if not np.isfinite(labels).all():
        raise DataFormatError("cannot write NaN/inf labels to libsvm")
    index_texts = np.array([f"{i}:".encode() for i in range(1, X.shape[1] + 1)], dtype=object)
    with open_output(dest) as handle:
        _write_blocks(handle, labels, X, index_texts)


def _write_blocks(handle: BinaryIO, labels: np.ndarray, X: np.ndarray, index_texts: np.ndarray) -> None:
    for start in range(0, len(labels), _WRITE_BLOCK_ROWS):
        stop = start + _WRITE_BLOCK_ROWS
        handle.write(_libsvm_lines(labels[start:stop], X[start:stop], index_texts))
