"""Turn Spark's Java stack traces about bad input into one-line errors naming the file and line."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clusterflow.errors import ClusterflowError, DataFormatError
from clusterflow.formats.libsvm import line_defect
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


def _open_lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as lines:
        yield from lines


def locate_libsvm_defect(path: Path, num_features: int) -> tuple[int, str] | None:
    """(1-based line, defect) of the first line Spark would refuse, scanning a local file (`.gz` too)."""
    for number, line in enumerate(_open_lines(path), start=1):
        defect = line_defect(line, num_features)
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
