"""Hosting request bodies (REFERENCE section 4) and `text/csv;label_size=N` training channels."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import numpy as np

from clusterflow.errors import DataFormatError, RequestError
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
from clusterflow.formats.recordio import iter_recordio_batches

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
RECORDIO = "application/x-recordio-protobuf"
SUPPORTED_CONTENT_TYPES = (CSV, JSON, JSONLINES, RECORDIO)
_JSONLINES_ALIASES = {"application/jsonl", "application/x-jsonlines", "application/json-lines"}
_BLOCK_BYTES = 1 << 20
_WRITE_ROWS = 4096
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT64_MAX = float(np.finfo(np.float64).max)

_INVALID, _SPACE, _COMMA, _NEWLINE, _NUMBER = 0, 1, 2, 3, 4
_CLASS = np.zeros(256, np.uint8)
_CLASS[[ord(" "), ord("\r")]] = _SPACE
_CLASS[ord(",")] = _COMMA
_CLASS[ord("\n")] = _NEWLINE
_CLASS[[ord(c) for c in "0123456789.+-eE"]] = _NUMBER


def parse_content_type(value: str | None, default: str = "") -> tuple[str, dict[str, str]]:
    """('type/subtype' lower-cased, {param: value}); None or blank gives (default, {})."""
    if value is None or not value.strip():
        return default, {}
    media, *params = value.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        key, _, val = param.partition("=")
        if key.strip():
            parsed[key.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), parsed


# ---- CSV: vectorised block parser with a line-by-line checker for the messages ----


def _field_defect(field: bytes, column: int, is_label: bool) -> str | None:
    text = field.strip(b" \r")
    if not text:
        return f"empty field in column {column}"
    if not NUMBER_RE.fullmatch(text):
        shown = text.decode("utf-8", "replace")
        if shown.lstrip("+-").lower() in ("nan", "inf", "infinity"):
            return f"NaN/inf value '{shown}' in column {column}"
        hint = " (a header line? CSV input has no header)" if shown[:1].isalpha() else ""
        return f"non-numeric value '{shown}' in column {column}{hint}"
    limit, kind = (_FLOAT64_MAX, "float64") if is_label else (_FLOAT32_MAX, "float32")
    if abs(float(text)) > limit:
        return f"value '{text.decode()}' in column {column} is outside the {kind} range"
    return None


def csv_line_defect(line: bytes, width: int, label_size: int = 0) -> str | None:
    """Why this CSV line of `width` columns (the first `label_size` are labels) is refused; None if fine."""
    if not line.strip(b" \r"):
        return None
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text (binary data?)"
    fields = line.split(b",")
    for column, field in enumerate(fields, start=1):
        defect = _field_defect(field, column, column <= label_size)
        if defect:
            return defect
    if len(fields) != width:
        return f"{len(fields)} values, expected {width}"
    return None


def _raise_csv_defect(data: bytes, first_line: int, width: int, label_size: int, source: str) -> NoReturn:
    for offset, line in enumerate(data.split(b"\n")):
        defect = csv_line_defect(line, width, label_size)
        if defect:
            raise DataFormatError(defect, source=source, line=first_line + offset)
    last = first_line + data.count(b"\n")
    raise DataFormatError(f"malformed CSV between lines {first_line} and {last}", source=source)


def _parse_csv_block(
    data: bytes, first_line: int, label_size: int, feature_dim: int, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """(labels float64 (rows, label_size), X float32 (rows, feature_dim)) of the non-blank lines."""
    width = label_size + feature_dim

    def refuse() -> NoReturn:
        _raise_csv_defect(data, first_line, width, label_size, source)

    text = b" " * (PAD_WIDTH - 1) + b"\n" + data + b"\n"
    buf = np.frombuffer(text, np.uint8)
    classes = np.take(_CLASS, buf)
    if not classes.all():
        refuse()
    is_number = classes == _NUMBER
    edges = np.flatnonzero(is_number[1:] != is_number[:-1]) + 1
    starts, ends = edges[0::2], edges[1::2]
    first_in_line = np.zeros(len(starts) + 1, bool)
    first_in_line[np.searchsorted(starts, np.flatnonzero(classes == _NEWLINE))] = True
    first_in_line = first_in_line[:-1]
    line_starts = np.flatnonzero(first_in_line)
    commas = np.flatnonzero(classes == _COMMA)
    gaps = np.searchsorted(commas, starts[1:]) - np.searchsorted(commas, ends[:-1])
    if (
        (np.diff(line_starts, append=len(starts)) != width).any()
        or (gaps != ~first_in_line[1:]).any()
        or len(commas) != len(starts) - len(line_starts)
    ):
        refuse()
    parsed = parse_tokens(buf, starts, ends)
    if not parsed.ok.all():
        refuse()
    grid = np.arange(len(starts)).reshape(-1, width)
    label_tokens = grid[:, :label_size].reshape(-1)
    refine_exact(buf, starts, ends, parsed, label_tokens)
    labels = parsed.values[label_tokens].reshape(len(grid), label_size)
    X = to_float32(buf, starts, ends, parsed, grid[:, label_size:].reshape(-1)).reshape(
        len(grid), feature_dim
    )
    if not (np.isfinite(X).all() and np.isfinite(labels).all()):
        refuse()
    return labels, X


def _iter_csv_blocks(
    source: str | Path | BinaryIO, label_size: int, feature_dim: int, name: str
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    with open_binary(source, name) as stream:
        for data, line, _ in iter_line_blocks(stream, _BLOCK_BYTES, name):
            yield _parse_csv_block(data, line, label_size, feature_dim, name)


def iter_csv_batches(
    source: str | Path | BinaryIO,
    feature_dim: int,
    *,
    label_size: int = 0,
    batch_rows: int = 8192,
    name: str | None = None,
) -> Iterator[tuple[np.ndarray | None, np.ndarray]]:
    """`(labels or None, X float32 (b, feature_dim))` from CSV rows; the first `label_size` columns: labels.

    Labels are float64, shape (b,) for label_size 1 and (b, label_size) above; None for label_size 0.
    """
    if feature_dim <= 0 or batch_rows <= 0 or label_size < 0:
        raise ValueError(
            f"need feature_dim, batch_rows > 0 and label_size >= 0: {feature_dim}, {batch_rows}, {label_size}"
        )
    label = source_name(source, name)
    pending_labels: list[np.ndarray] = []
    pending_X: list[np.ndarray] = []
    buffered = 0
    for labels, X in _iter_csv_blocks(source, label_size, feature_dim, label):
        pending_labels.append(labels)
        pending_X.append(X)
        buffered += len(X)
        if buffered < batch_rows:
            continue
        all_labels, all_X = np.concatenate(pending_labels), np.concatenate(pending_X)
        full = buffered - buffered % batch_rows
        for start in range(0, full, batch_rows):
            stop = start + batch_rows
            yield _shape_labels(all_labels[start:stop], label_size), all_X[start:stop]
        pending_labels, pending_X = [all_labels[full:]], [all_X[full:]]
        buffered -= full
    if buffered:
        yield _shape_labels(np.concatenate(pending_labels), label_size), np.concatenate(pending_X)


def _shape_labels(labels: np.ndarray, label_size: int) -> np.ndarray | None:
    if label_size == 0:
        return None
    return labels[:, 0].copy() if label_size == 1 else labels


def write_csv(dest: str | Path | BinaryIO, X: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Rows `label,x1,...,xd` (no label column when labels is None), values exact as float32."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    label_rows = None if labels is None else np.asarray(labels, dtype=np.float64).reshape(len(X), -1)
    with open_output(dest) as handle:
        _write_csv_rows(handle, X, label_rows)


def _write_csv_rows(handle: BinaryIO, X: np.ndarray, labels: np.ndarray | None) -> None:
    for start in range(0, len(X), _WRITE_ROWS):
        block = X[start : start + _WRITE_ROWS]
        texts = float32_texts(block)
        lines = []
        for i, row in enumerate(texts.tolist()):
            prefix = [] if labels is None else [format_label(v) for v in labels[start + i]]
            lines.append(b",".join(prefix + row))
        handle.write(b"\n".join(lines) + b"\n")


# ---- request bodies ----


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{where}: expected a number, got {json.dumps(value)[:40]}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > _FLOAT32_MAX:
        raise RequestError(f"{where}: {value} is not a finite float32 number")
    return number


def _dense_values(values: Any, feature_dim: int, where: str) -> np.ndarray:
    if not isinstance(values, list):
        raise RequestError(f"{where}: features must be a list of numbers")
    if len(values) != feature_dim:
        raise RequestError(f"{where}: {len(values)} features, expected feature_dim {feature_dim}")
    return np.array([_number(v, where) for v in values], dtype=np.float32)


def _sparse_values(tensor: dict[str, Any], feature_dim: int, where: str) -> np.ndarray:
    keys, values = tensor.get("keys"), tensor.get("values")
    if not isinstance(keys, list) or not isinstance(values, list) or len(keys) != len(values):
        raise RequestError(f"{where}: sparse features need 'keys' and 'values' lists of the same length")
    shape = tensor.get("shape")
    if shape is not None and shape != [feature_dim]:
        raise RequestError(f"{where}: sparse shape {shape}, expected [{feature_dim}]")
    row = np.zeros(feature_dim, np.float32)
    for key, value in zip(keys, values, strict=True):
        if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key < feature_dim:
            raise RequestError(f"{where}: sparse key {key!r} is not an integer in [0, {feature_dim})")
        row[key] = _number(value, where)
    return row


def _instance_row(instance: Any, feature_dim: int, where: str) -> np.ndarray:
    if not isinstance(instance, dict):
        raise RequestError(f"{where}: expected an object with 'features' or 'data'")
    if "features" in instance:
        return _dense_values(instance["features"], feature_dim, where)
    data = instance.get("data")
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, dict):
        raise RequestError(
            f"{where}: expected {{'features': [...]}} or {{'data': {{'features': {{'values': [...]}}}}}}"
        )
    if "keys" in features:
        return _sparse_values(features, feature_dim, where)
    return _dense_values(features.get("values"), feature_dim, where)


def _stack(rows: list[np.ndarray], feature_dim: int) -> np.ndarray:
    if not rows:
        raise RequestError("no instances in the request body")
    return np.vstack(rows).astype(np.float32).reshape(-1, feature_dim)


def _json_rows(body: bytes, feature_dim: int) -> np.ndarray:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise RequestError(f"invalid JSON body: {exc}") from exc
    instances = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(instances, list):
        raise RequestError('JSON body must be {"instances": [...]}')
    return _stack(
        [_instance_row(x, feature_dim, f"instance {i}") for i, x in enumerate(instances)], feature_dim
    )


def _jsonlines_rows(body: bytes, feature_dim: int) -> np.ndarray:
    rows = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            instance = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise RequestError(f"line {number}: invalid JSON: {exc}") from exc
        rows.append(_instance_row(instance, feature_dim, f"line {number}"))
    return _stack(rows, feature_dim)


def _csv_rows(body: bytes, feature_dim: int) -> np.ndarray:
    try:
        _labels, X = _parse_csv_block(body.rstrip(b"\n"), 1, 0, feature_dim, "text/csv body")
    except DataFormatError as exc:
        raise RequestError(str(exc)) from exc
    if not len(X):
        raise RequestError("no instances in the request body")
    return X


def _recordio_rows(body: bytes, feature_dim: int) -> np.ndarray:
    try:
        batches = [
            X for _labels, X in iter_recordio_batches(io.BytesIO(body), feature_dim, name="recordio body")
        ]
    except DataFormatError as exc:
        raise RequestError(str(exc)) from exc
    return _stack(batches, feature_dim)


_PARSERS = {CSV: _csv_rows, JSON: _json_rows, JSONLINES: _jsonlines_rows, RECORDIO: _recordio_rows}


def parse_instances(body: bytes, content_type: str, feature_dim: int) -> np.ndarray:
    """The request's instances as float32 (n, feature_dim); RequestError (400, or 415) for anything else."""
    media, _params = parse_content_type(content_type)
    media = JSONLINES if media in _JSONLINES_ALIASES else media
    parser = _PARSERS.get(media)
    if parser is None:
        raise RequestError(
            f"unsupported content type '{content_type}': use one of {', '.join(SUPPORTED_CONTENT_TYPES)}",
            status=415,
        )
    if not body or not body.strip():
        raise RequestError("empty request body")
    return parser(bytes(body), feature_dim)
