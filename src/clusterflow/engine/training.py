"""A local SageMaker training job for the built-in PCA and K-Means: channels in, model.tar.gz and logs out.

Channels: `train` (required) and `test` (optional), each a list of shard files read in sorted name
order as one stream, re-cut into mini-batches of exactly mini_batch_size rows (the last may be short),
so shard boundaries never change the result. Content types (REFERENCE section 1): recordio-protobuf
(`application/x-recordio-protobuf`, the default when none is given) and `text/csv` with
`label_size=0` (the default label_size). libsvm is refused: SageMaker's PCA and K-Means do not read it.

Seed: SageMaker's is undocumented; ours is the `seed` argument (default 0). The same seed, data and
hyperparameters give the same model bit for bit.

Logs follow SageMaker's: K-Means prints "shrinking K centers into k", then
`#quality_metric: host=algo-1, train msd <loss>=X` and, with a test channel, `test msd` / `test ssd`
per eval_metrics. K-Means reads the train channel once per epoch and then up to 10 times more for
its refinement passes (our addition, see `clusterflow.engine.kmeans`); the last of those passes
measures the train msd, so no separate scoring pass follows. The first pass spills the parsed
float32 rows to a scratch file (deleted after training) that later passes read back one mini-batch
at a time, so the channel is parsed once. Metrics are returned as SageMaker
names them (`train:msd`, `test:msd`, `test:ssd`).
PCA has no quality metric; it logs its progress and ignores a test channel apart from saying so.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from clusterflow.artifacts.model import KMeansModel, PCAModel, write_model_tar
from clusterflow.engine.hyperparameters import parse_kmeans_hyperparameters, parse_pca_hyperparameters
from clusterflow.engine.kmeans import fit_kmeans, squared_distance_totals
from clusterflow.engine.pca import fit_pca
from clusterflow.errors import ClusterflowError, DataFormatError

RECORDIO = "application/x-recordio-protobuf"
CSV = "text/csv"
_LIBSVM_TYPES = ("text/libsvm", "text/x-libsvm", "application/x-libsvm", "application/libsvm")
_CHANNELS = ("train", "test")
MODEL_FILE = "model.tar.gz"

Batches = Callable[[], Iterable[npt.NDArray[np.float32]]]


@dataclass(frozen=True)
class TrainingResult:
    model: PCAModel | KMeansModel
    metrics: dict[str, float]
    rows: int
    seconds: float


@dataclass(frozen=True)
class ChannelFormat:
    media_type: str
    label_size: int = 0


def parse_training_content_type(value: str | None) -> ChannelFormat:
    """recordio (default) or text/csv[;label_size=N]; anything else raises DataFormatError."""
    if value is None or not value.strip():
        return ChannelFormat(RECORDIO)
    media, *params = (part.strip() for part in value.split(";"))
    media = media.lower()
    if media in _LIBSVM_TYPES:
        raise DataFormatError(
            f"content type '{value}': SageMaker's PCA and K-Means do not read libsvm; "
            f"convert the channel to {RECORDIO} or text/csv;label_size=0"
        )
    if media == RECORDIO:
        return ChannelFormat(RECORDIO)
    if media != CSV:
        raise DataFormatError(
            f"content type '{value}' is not supported; use {RECORDIO} or text/csv;label_size=0"
        )
    label_size = 0
    for param in params:
        key, _, raw = param.partition("=")
        if key.strip().lower() != "label_size":
            continue
        if not raw.strip().isdigit():
            raise DataFormatError(f"content type '{value}': label_size must be a non-negative integer")
        label_size = int(raw)
    return ChannelFormat(CSV, label_size)


def _shard_batches(path: Path, fmt: ChannelFormat, feature_dim: int, batch_rows: int) -> Iterator[np.ndarray]:
    if fmt.media_type == RECORDIO:
        from clusterflow.formats.recordio import iter_recordio_batches

        for _, X in iter_recordio_batches(path, feature_dim, batch_rows=batch_rows, name=str(path)):
            yield X
    else:
        from clusterflow.formats.instances import iter_csv_batches

        for _, X in iter_csv_batches(
            path, feature_dim, label_size=fmt.label_size, batch_rows=batch_rows, name=str(path)
        ):
            yield X


def rebatch(arrays: Iterable[np.ndarray], batch_rows: int) -> Iterator[npt.NDArray[np.float32]]:
    """Re-cut a stream of row blocks into blocks of exactly `batch_rows` rows (the last may be short)."""
    pending: list[np.ndarray] = []
    pending_rows = 0
    for block in arrays:
        pending.append(block)
        pending_rows += block.shape[0]
        while pending_rows >= batch_rows:
            merged = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield np.asarray(merged[:batch_rows], dtype=np.float32)
            rest = merged[batch_rows:]
            pending, pending_rows = ([rest], rest.shape[0]) if rest.shape[0] else ([], 0)
    if pending_rows:
        yield np.asarray(np.concatenate(pending), dtype=np.float32)


def channel_batches(paths: Sequence[Path], fmt: ChannelFormat, feature_dim: int, batch_rows: int) -> Batches:
    """A re-iterable mini-batch stream over a channel's shards, in sorted order."""
    shards = sorted((Path(path) for path in paths), key=str)
    if not shards:
        raise DataFormatError("the channel has no files")
    for shard in shards:
        if not shard.is_file():
            raise DataFormatError("no such file", source=str(shard))

    def stream() -> Iterator[npt.NDArray[np.float32]]:
        blocks = (X for shard in shards for X in _shard_batches(shard, fmt, feature_dim, batch_rows))
        return rebatch(blocks, batch_rows)

    return stream


def _counted(batches: Batches) -> tuple[Batches, list[int]]:
    """Wrap a batch source so the rows of its first full pass are recorded in the returned list."""
    rows: list[int] = []

    def stream() -> Iterator[npt.NDArray[np.float32]]:
        seen = 0
        for X in batches():
            seen += X.shape[0]
            yield X
        if not rows:
            rows.append(seen)

    return stream, rows


def _train_pca(
    channels: Mapping[str, Sequence[Path]],
    fmt: ChannelFormat,
    raw: Mapping[str, str],
    log: Callable[[str], None],
    seed: int,
) -> tuple[PCAModel, dict[str, float], int]:
    params = parse_pca_hyperparameters(raw)
    log(
        f"PCA {params.algorithm_mode} mode: feature_dim={params.feature_dim}, "
        f"num_components={params.num_components}, mini_batch_size={params.mini_batch_size}, "
        f"subtract_mean={params.subtract_mean}"
    )
    batches, rows = _counted(
        channel_batches(channels["train"], fmt, params.feature_dim, params.mini_batch_size)
    )
    result = fit_pca(batches, params, seed=seed)
    log(f"PCA: {rows[0]} rows read; largest singular value {float(result.s[-1]):.6g}")
    if "test" in channels:
        log("PCA: the test channel is not used for scoring")
    return PCAModel(s=result.s, v=result.v, mean=result.mean), {}, rows[0]


class SpilledBatches:
    """A batch source whose first full pass also writes the parsed float32 rows to `path`; later passes
    read them back one mini-batch at a time instead of parsing the channel again.

    K-Means reads its train channel several times (the refinement passes); parsing dominates those
    re-reads, while reading raw float32 back is a plain file read. Memory stays one mini-batch.
    """

    def __init__(self, source: Batches, path: Path) -> None:
        self.source = source
        self.path = path
        self.shapes: list[tuple[int, int]] | None = None

    def __call__(self) -> Iterator[npt.NDArray[np.float32]]:
        return self._replay() if self.shapes is not None else self._parse_and_spill()

    def _parse_and_spill(self) -> Iterator[npt.NDArray[np.float32]]:
        shapes: list[tuple[int, int]] = []
        with self.path.open("wb") as spill:
            for X in self.source():
                X32 = np.ascontiguousarray(X, dtype=np.float32)
                spill.write(X32.tobytes())
                shapes.append((X32.shape[0], X32.shape[1]))
                yield X32
        self.shapes = shapes

    def _replay(self) -> Iterator[npt.NDArray[np.float32]]:
        assert self.shapes is not None
        with self.path.open("rb") as spill:
            for rows, columns in self.shapes:
                yield np.fromfile(spill, dtype=np.float32, count=rows * columns).reshape(rows, columns)


def _train_kmeans(
    channels: Mapping[str, Sequence[Path]],
    fmt: ChannelFormat,
    raw: Mapping[str, str],
    log: Callable[[str], None],
    seed: int,
) -> tuple[KMeansModel, dict[str, float], int]:
    params = parse_kmeans_hyperparameters(raw)
    train = channel_batches(channels["train"], fmt, params.feature_dim, params.mini_batch_size)
    test = None
    if "test" in channels:
        test = channel_batches(channels["test"], fmt, params.feature_dim, params.mini_batch_size)
    with tempfile.TemporaryDirectory(prefix="clusterflow-kmeans-") as scratch:
        fit = fit_kmeans(SpilledBatches(train, Path(scratch) / "train.f32"), params, seed=seed, log=log)
    metrics: dict[str, float] = {}
    train_rows = fit.train_rows
    metrics["train:msd"] = fit.train_ssd / train_rows
    log(f"#quality_metric: host=algo-1, train msd <loss>={metrics['train:msd']!r}")
    if test is not None:
        test_ssd, test_rows = squared_distance_totals(test(), fit.centroids)
        if test_rows == 0:
            raise DataFormatError("the test channel holds no rows")
        values = {"msd": test_ssd / test_rows, "ssd": test_ssd}
        for metric in params.eval_metrics:
            metrics[f"test:{metric}"] = values[metric]
            log(f"#quality_metric: host=algo-1, test {metric} <loss>={values[metric]!r}")
    return KMeansModel(centroids=fit.centroids), metrics, train_rows


def _check_channels(channels: Mapping[str, Sequence[Path]]) -> None:
    unknown = sorted(set(channels) - set(_CHANNELS))
    if unknown:
        raise DataFormatError(f"unknown channel '{unknown[0]}': PCA and K-Means take 'train' and 'test'")
    if "train" not in channels:
        raise DataFormatError("the 'train' channel is required")


def run_training_job(
    algorithm: str,
    channels: Mapping[str, Sequence[Path]],
    content_type: str | None,
    hyperparameters: Mapping[str, str],
    output_path: Path,
    *,
    log: Callable[[str], None] = print,
    seed: int = 0,
) -> TrainingResult:
    """Train and write `model.tar.gz` to output_path (a file, or a directory to put it in)."""
    started = time.perf_counter()
    if algorithm not in ("pca", "kmeans"):
        raise ClusterflowError(f"unknown algorithm '{algorithm}': expected 'pca' or 'kmeans'")
    _check_channels(channels)
    fmt = parse_training_content_type(content_type)
    model: PCAModel | KMeansModel
    if algorithm == "pca":
        model, metrics, rows = _train_pca(channels, fmt, hyperparameters, log, seed)
    else:
        model, metrics, rows = _train_kmeans(channels, fmt, hyperparameters, log, seed)
    destination = Path(output_path)
    if destination.is_dir():
        destination = destination / MODEL_FILE
    destination.parent.mkdir(parents=True, exist_ok=True)
    write_model_tar(destination, model)
    seconds = time.perf_counter() - started
    log(f"wrote {destination} ({rows} training rows, {seconds:.2f} s)")
    return TrainingResult(model=model, metrics=metrics, rows=rows, seconds=seconds)
