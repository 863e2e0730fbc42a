"""Turn Spark's Java stack traces about bad input into one-line errors naming the file and line."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clusterflow.errors import ClusterflowError, DataFormatError
from clusterflow.spark.storage import StorageError, is_s3, local_path

_JAVA_CAUSE = re.compile(r"most recent failure:.*?: (?:[\w.$]+\.)?(\w+(?:Exception|Error)): ([^\n]*)", re.S)
_PYTHON_CAUSE = re.compile(r"^(?:[\w.]+\.)?(\w+Error): (.*)$", re.M)
_OUR_ERRORS = {cls.__name__ for cls in (DataFormatError, StorageError)}


def _defect_from_java(kind: str, message: str, num_features: int) -> str:
    message = message.removeprefix("requirement failed: ")
    if kind == "NumberFormatException":
        return f"not a number: {message.removeprefix('For input string: ')}"
    index = re.match(r"Index (\d+) out of bounds for vector of size (\d+)", message)
    if index:
        return f"feature index {int(index.group(1)) + 1} is larger than --num_features {num_features}"
    return message


def _open_text(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
        yield from lines


def _line_defect(line: str, num_features: int) -> str | None:
    """The first rule of Spark's libsvm parser that this line breaks, or None."""
    tokens = line.split()
    if not tokens or tokens[0].startswith("#"):
        return None
    try:
        float(tokens[0])
    except ValueError:
        return f"label is not a number: {tokens[0]!r}"
    previous = 0
    for token in tokens[1:]:
        index_text, sep, value_text = token.partition(":")
        try:
            index = int(index_text)
            float(value_text)
        except ValueError:
            return f"not an index:value pair: {token!r}"
        if not sep:
            return f"not an index:value pair: {token!r}"
        if index <= previous:
            return f"indices must be 1-based and ascending; {index} follows {previous}"
        if index > num_features:
            return f"feature index {index} is larger than --num_features {num_features}"
        previous = index
    return None


def locate_libsvm_defect(path: Path, num_features: int) -> tuple[int, str] | None:
    """(1-based line, defect) of the first line Spark would refuse, scanning a local file (`.gz` too)."""
    for number, line in enumerate(_open_text(path), start=1):
        defect = _line_defect(line, num_features)
        if defect:
            return number, defect
    return None


def _data_format_error(input_uri: str, num_features: int, fallback: str) -> DataFormatError:
    if not is_s3(input_uri):
        path = local_path(input_uri)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for candidate in files:
            found = locate_libsvm_defect(candidate, num_features)
            if found:
                return DataFormatError(found[1], source=str(candidate), line=found[0])
    return DataFormatError(fallback, source=input_uri)


def translate(exc: Exception, input_uri: str, num_features: int) -> ClusterflowError | None:
    """A ClusterflowError for a Spark failure the input caused, or None when the input is not to blame."""
    text = str(exc)
    if "PATH_NOT_FOUND" in text or "Path does not exist" in text:
        return StorageError(f"input not found: {input_uri}")
    java = _JAVA_CAUSE.search(text)
    if java and ("parseLibSVMRecord" in text or "LibSVM" in text or "linalg.SparseVector" in text):
        return _data_format_error(
            input_uri, num_features, _defect_from_java(java.group(1), java.group(2), num_features)
        )
    ours = [match for match in _PYTHON_CAUSE.finditer(text) if match.group(1) in _OUR_ERRORS]
    if ours:
        return ClusterflowError(ours[-1].group(2))
    return None


@contextmanager
def input_errors(input_uri: str, num_features: int) -> Iterator[None]:
    """Run Spark actions on `input_uri`; failures caused by its content become DataFormatError."""
    try:
        yield
    except ClusterflowError:
        raise
    except Exception as exc:
        clear = translate(exc, input_uri, num_features)
        if clear is None:
            raise
        raise clear from None
