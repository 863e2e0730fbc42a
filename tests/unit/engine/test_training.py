from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clusterflow.artifacts.model import KMeansModel, PCAModel, load_model
from clusterflow.engine.training import SpilledBatches, parse_training_content_type, rebatch, run_training_job
from clusterflow.errors import ClusterflowError, DataFormatError, HyperparameterError
from clusterflow.formats.instances import write_csv
from clusterflow.formats.recordio import write_recordio_dense


def shards(directory: Path, X: np.ndarray, parts: int, kind: str = "recordio") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, block in enumerate(np.array_split(X, parts)):
        path = directory / f"matrix_{i}.{'pbr' if kind == 'recordio' else 'csv'}"
        (write_recordio_dense if kind == "recordio" else write_csv)(path, block)
        paths.append(path)
    return paths


def test_kmeans_job_on_recordio_with_test_channel(tmp_path: Path, projections50: np.ndarray) -> None:
    lines: list[str] = []
    train = shards(tmp_path / "train", projections50[:4000], 3)
    test = shards(tmp_path / "test", projections50[4000:], 1)
    result = run_training_job(
        "kmeans",
        {"train": train, "test": test},
        None,
        {"feature_dim": "50", "k": "10", "eval_metrics": '["msd", "ssd"]', "force_dense": "True"},
        tmp_path / "out" / "model.tar.gz",
        log=lines.append,
    )
    assert result.rows == 4000 and isinstance(result.model, KMeansModel)
    assert "shrinking 100 centers into 10" in lines
    metric_lines = [line for line in lines if line.startswith("#quality_metric")]
    assert metric_lines == [
        f"#quality_metric: host=algo-1, train msd <loss>={result.metrics['train:msd']!r}",
        f"#quality_metric: host=algo-1, test msd <loss>={result.metrics['test:msd']!r}",
        f"#quality_metric: host=algo-1, test ssd <loss>={result.metrics['test:ssd']!r}",
    ]
    centroids = result.model.centroids.astype(np.float64)
    held_out = projections50[4000:].astype(np.float64)
    ssd = ((held_out[:, None, :] - centroids[None]) ** 2).sum(axis=2).min(axis=1).sum()
    assert result.metrics["test:ssd"] == pytest.approx(ssd, rel=1e-4)
    assert result.metrics["test:msd"] == pytest.approx(ssd / 1000, rel=1e-4)
    trained_on = projections50[:4000].astype(np.float64)
    train_ssd = ((trained_on[:, None, :] - centroids[None]) ** 2).sum(axis=2).min(axis=1).sum()
    assert result.metrics["train:msd"] == pytest.approx(train_ssd / 4000, rel=1e-4)
    loaded = load_model(tmp_path / "out" / "model.tar.gz", "kmeans")
    assert isinstance(loaded, KMeansModel) and np.array_equal(loaded.centroids, result.model.centroids)


def test_shard_layout_does_not_change_the_model(tmp_path: Path, projections50: np.ndarray) -> None:
    X = projections50[:1500]
    hyper = {"feature_dim": "50", "k": "4", "mini_batch_size": "400", "local_lloyd_num_trials": "2"}
    one = run_training_job(
        "kmeans", {"train": shards(tmp_path / "a", X, 1)}, None, hyper, tmp_path, log=print
    )
    many = run_training_job(
        "kmeans", {"train": shards(tmp_path / "b", X, 7)}, None, hyper, tmp_path, log=print
    )
    assert isinstance(one.model, KMeansModel) and isinstance(many.model, KMeansModel)
    assert np.array_equal(one.model.centroids, many.model.centroids)
    assert (tmp_path / "model.tar.gz").is_file(), "a directory output gets model.tar.gz inside it"


def test_pca_job_on_csv(tmp_path: Path, mnist: tuple[np.ndarray, np.ndarray]) -> None:
    lines: list[str] = []
    X = mnist[0][:1200]
    train = shards(tmp_path / "train", X, 2, kind="csv")
    result = run_training_job(
        "pca",
        {"train": train},
        "text/csv;label_size=0",
        {"feature_dim": "784", "mini_batch_size": "500", "num_components": "10"},
        tmp_path / "model.tar.gz",
        log=lines.append,
    )
    assert isinstance(result.model, PCAModel) and result.rows == 1200 and result.metrics == {}
    centred = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    np.testing.assert_allclose(
        result.model.s, np.sqrt(np.linalg.eigvalsh(centred.T @ centred)[-10:]), rtol=1e-4
    )
    loaded = load_model(tmp_path / "model.tar.gz", "pca")
    assert isinstance(loaded, PCAModel)
    assert np.array_equal(loaded.v, result.model.v) and np.array_equal(loaded.mean, result.model.mean)
    assert any("PCA regular mode" in line for line in lines)


@pytest.mark.parametrize(
    ("value", "media", "label_size"),
    [
        (None, "application/x-recordio-protobuf", 0),
        ("application/x-recordio-protobuf", "application/x-recordio-protobuf", 0),
        ("text/csv", "text/csv", 0),
        ("text/csv; label_size=0", "text/csv", 0),
        ("text/csv;label_size=1", "text/csv", 1),
    ],
)
def test_training_content_types(value: str | None, media: str, label_size: int) -> None:
    fmt = parse_training_content_type(value)
    assert (fmt.media_type, fmt.label_size) == (media, label_size)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("text/libsvm", "do not read libsvm"),
        ("application/x-libsvm", "do not read libsvm"),
        ("application/json", "not supported"),
        ("text/csv;label_size=x", "label_size"),
    ],
)
def test_refused_content_types(value: str, fragment: str) -> None:
    with pytest.raises(DataFormatError, match=fragment):
        parse_training_content_type(value)


def test_job_errors_are_user_errors(tmp_path: Path) -> None:
    data = shards(tmp_path / "d", np.ones((20, 3), np.float32), 1)
    out = tmp_path / "model.tar.gz"
    with pytest.raises(HyperparameterError, match="'k': is required"):
        run_training_job("kmeans", {"train": data}, None, {"feature_dim": "3"}, out)
    with pytest.raises(DataFormatError, match="feature"):
        run_training_job("kmeans", {"train": data}, None, {"feature_dim": "4", "k": "2"}, out)
    with pytest.raises(DataFormatError, match="'train' channel is required"):
        run_training_job("kmeans", {"test": data}, None, {"feature_dim": "3", "k": "2"}, out)
    with pytest.raises(DataFormatError, match="unknown channel 'validation'"):
        run_training_job(
            "kmeans", {"train": data, "validation": data}, None, {"feature_dim": "3", "k": "2"}, out
        )
    with pytest.raises(DataFormatError, match="no such file"):
        run_training_job("kmeans", {"train": [tmp_path / "nope"]}, None, {"feature_dim": "3", "k": "2"}, out)
    with pytest.raises(ClusterflowError, match="unknown algorithm 'lda'"):
        run_training_job("lda", {"train": data}, None, {}, out)
    assert not out.exists()


def test_rebatch_cuts_exact_blocks() -> None:
    blocks = [np.full((n, 1), i, np.float32) for i, n in enumerate([3, 5, 1, 4])]
    cut = list(rebatch(blocks, 4))
    assert [b.shape[0] for b in cut] == [4, 4, 4, 1]
    assert np.concatenate(cut)[:, 0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3]


def test_spilled_batches_parse_once_and_replay_the_same_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    blocks = [rng.normal(size=(rows, 3)).astype(np.float32) for rows in (4, 4, 2)]
    parses = 0

    def source():  # type: ignore[no-untyped-def]
        nonlocal parses
        parses += 1
        yield from blocks

    spilled = SpilledBatches(source, tmp_path / "train.f32")
    partial = spilled()
    next(partial)
    partial.close()  # an abandoned first pass leaves nothing to replay
    first = list(spilled())
    again = list(spilled())
    assert parses == 2 and len(again) == 3
    for original, parsed, replayed in zip(blocks, first, again, strict=True):
        assert np.array_equal(parsed, original) and np.array_equal(replayed, original)
        assert replayed.dtype == np.float32 and replayed.flags.writeable
