"""SageMaker PCA and K-Means models and their `model.tar.gz` (REFERENCE sections 1 and 2)."""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from clusterflow.artifacts.ndarray import dumps_ndarray_list, loads_ndarray_list
from clusterflow.errors import ModelArtifactError

MODEL_MEMBER = "model_algo-1"
PCA_NAMES = ("s", "v", "mean")
# Rows per block when assigning points, so the (rows, k) distance matrix stays small.
_ASSIGN_BLOCK_ROWS = 65536


@dataclass(frozen=True)
class PCAModel:
    """s (c,) ascending singular values; v (d, c) components as columns; mean (1, d) or None."""

    s: np.ndarray
    v: np.ndarray
    mean: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.v.ndim != 2:
            raise ModelArtifactError(f"PCA v must be 2-D (feature_dim, num_components), got {self.v.shape}")
        if self.s.shape != (self.v.shape[1],):
            raise ModelArtifactError(f"PCA s has shape {self.s.shape}, expected ({self.v.shape[1]},)")
        if self.mean is not None and self.mean.shape != (1, self.v.shape[0]):
            raise ModelArtifactError(
                f"PCA mean has shape {self.mean.shape}, expected (1, {self.v.shape[0]}) to match v"
            )

    @property
    def feature_dim(self) -> int:
        return int(self.v.shape[0])

    @property
    def num_components(self) -> int:
        return int(self.v.shape[1])

    def project(self, X: np.ndarray) -> np.ndarray:
        """(X - mean) @ v in float32, components in the artifact's ascending order, no whitening."""
        X32 = np.asarray(X, dtype=np.float32)
        if X32.ndim != 2 or X32.shape[1] != self.feature_dim:
            raise ValueError(f"expected (n, {self.feature_dim}) rows, got shape {X32.shape}")
        v = self.v.astype(np.float32, copy=False)
        if self.mean is None:
            return X32 @ v
        return (X32 - self.mean.astype(np.float32, copy=False)) @ v


@dataclass(frozen=True)
class KMeansModel:
    """centroids (k, d)."""

    centroids: np.ndarray

    def __post_init__(self) -> None:
        if self.centroids.ndim != 2:
            raise ModelArtifactError(f"K-Means centroids must be (k, d), got {self.centroids.shape}")

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.centroids.shape[1])

    def assign(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(closest centre index int64 (n,), Euclidean distance float32 (n,)), ties to the lowest index."""
        X64 = np.asarray(X, dtype=np.float64)
        if X64.ndim != 2 or X64.shape[1] != self.feature_dim:
            raise ValueError(f"expected (n, {self.feature_dim}) rows, got shape {X64.shape}")
        centres = self.centroids.astype(np.float64)
        centre_sq = np.einsum("ij,ij->i", centres, centres)
        closest = np.empty(X64.shape[0], dtype=np.int64)
        distance = np.empty(X64.shape[0], dtype=np.float32)
        for start in range(0, X64.shape[0], _ASSIGN_BLOCK_ROWS):
            block = X64[start : start + _ASSIGN_BLOCK_ROWS]
            sq = np.einsum("ij,ij->i", block, block)[:, None] - 2.0 * (block @ centres.T) + centre_sq[None, :]
            best = np.argmin(sq, axis=1)
            closest[start : start + len(block)] = best
            distance[start : start + len(block)] = np.sqrt(np.maximum(sq[np.arange(len(block)), best], 0.0))
        return closest, distance


Model = PCAModel | KMeansModel


def model_member_bytes(model: Model) -> bytes:
    """The `model_algo-1` NDArray list SageMaker writes for this model."""
    if isinstance(model, PCAModel):
        arrays = [model.s, model.v] + ([] if model.mean is None else [model.mean])
        names = list(PCA_NAMES[: len(arrays)])
        return dumps_ndarray_list([np.asarray(a, dtype=np.float32) for a in arrays], names)
    return dumps_ndarray_list([np.asarray(model.centroids, dtype=np.float32)])


def write_model_tar(dest: str | Path | BinaryIO, model: Model) -> None:
    """Write `model.tar.gz` with the single member `model_algo-1`; same model, same bytes."""
    payload = model_member_bytes(model)
    info = tarfile.TarInfo(MODEL_MEMBER)
    info.size = len(payload)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(payload))
    compressed = gzip.compress(tar_buffer.getvalue(), compresslevel=6, mtime=0)
    if isinstance(dest, str | Path):
        Path(dest).write_bytes(compressed)
    else:
        dest.write(compressed)


def _source_name(src: str | Path | bytes | BinaryIO) -> str:
    if isinstance(src, str | Path):
        return str(src)
    return str(getattr(src, "name", "<model.tar.gz>"))


def _read_source(src: str | Path | bytes | BinaryIO) -> bytes:
    if isinstance(src, bytes | bytearray | memoryview):
        return bytes(src)
    if isinstance(src, str | Path):
        try:
            return Path(src).read_bytes()
        except OSError as exc:
            raise ModelArtifactError(f"{src}: cannot read model artifact: {exc.strerror}") from exc
    return src.read()


def read_model_member(src: str | Path | bytes | BinaryIO) -> bytes:
    """The bytes of member `model_algo-1`; other members (2020 K-Means `state_<uuid>`) are ignored."""
    name = _source_name(src)
    data = _read_source(src)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            member = next((m for m in tar.getmembers() if m.name.lstrip("./") == MODEL_MEMBER), None)
            if member is None:
                found = ", ".join(m.name for m in tar.getmembers()) or "no members"
                raise ModelArtifactError(f"{name}: no member '{MODEL_MEMBER}' in the archive ({found})")
            extracted = tar.extractfile(member) if member.isfile() else None
            if extracted is None:
                raise ModelArtifactError(f"{name}: member '{MODEL_MEMBER}' is not a regular file")
            return extracted.read()
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise ModelArtifactError(f"{name}: not a readable model.tar.gz ({exc})") from exc


def _pca_from_arrays(arrays: list[np.ndarray], names: list[str] | None, source: str) -> PCAModel:
    if names is None or tuple(names) not in (PCA_NAMES, PCA_NAMES[:2]):
        raise ModelArtifactError(
            f"{source}: not a PCA model: expected a named list 's', 'v'[, 'mean'], got "
            f"{'an unnamed list' if names is None else names}"
        )
    by_name = dict(zip(names, arrays, strict=True))
    return PCAModel(
        s=by_name["s"].astype(np.float32, copy=False),
        v=by_name["v"].astype(np.float32, copy=False),
        mean=by_name["mean"].astype(np.float32, copy=False) if "mean" in by_name else None,
    )


def _kmeans_from_arrays(arrays: list[np.ndarray], names: list[str] | None, source: str) -> KMeansModel:
    if names is not None or len(arrays) != 1 or arrays[0].ndim != 2:
        shapes = [a.shape for a in arrays]
        raise ModelArtifactError(
            f"{source}: not a K-Means model: expected an unnamed list of one (k, d) array, got "
            f"{'names ' + str(names) if names else 'shapes'} {shapes}"
        )
    return KMeansModel(centroids=arrays[0].astype(np.float32, copy=False))


def _detect_algorithm(arrays: list[np.ndarray], names: list[str] | None) -> str | None:
    if names is not None and tuple(names) in (PCA_NAMES, PCA_NAMES[:2]):
        return "pca"
    if names is None and len(arrays) == 1 and arrays[0].ndim == 2:
        return "kmeans"
    return None


def load_model(src: str | Path | bytes | BinaryIO, algorithm: str | None = None) -> Model:
    """Load a PCA or K-Means `model.tar.gz`; `algorithm` ("pca"/"kmeans") must match when given."""
    source = _source_name(src)
    arrays, names = loads_ndarray_list(read_model_member(src), source=f"{source}:{MODEL_MEMBER}")
    detected = _detect_algorithm(arrays, names)
    wanted = algorithm.lower() if algorithm else detected
    if wanted not in ("pca", "kmeans"):
        if algorithm:
            raise ModelArtifactError(f"unknown algorithm '{algorithm}': expected 'pca' or 'kmeans'")
        raise ModelArtifactError(
            f"{source}: '{MODEL_MEMBER}' is neither a PCA (named s, v, mean) nor a K-Means (one unnamed "
            f"2-D array) model: names {names}, shapes {[a.shape for a in arrays]}"
        )
    if detected is not None and detected != wanted:
        raise ModelArtifactError(f"{source}: expected a {wanted} model, the artifact holds {detected}")
    if wanted == "pca":
        return _pca_from_arrays(arrays, names, source)
    return _kmeans_from_arrays(arrays, names, source)


def load_pca_model(src: str | Path | bytes | BinaryIO) -> PCAModel:
    model = load_model(src, "pca")
    assert isinstance(model, PCAModel)
    return model


def load_kmeans_model(src: str | Path | bytes | BinaryIO) -> KMeansModel:
    model = load_model(src, "kmeans")
    assert isinstance(model, KMeansModel)
    return model
