from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from clusterflow.artifacts.model import KMeansModel, PCAModel, load_kmeans_model, load_pca_model
from clusterflow.errors import RequestError
from clusterflow.formats.recordio import decode_label_records, write_recordio_dense
from clusterflow.hosting import invoke_endpoint, negotiate_accept

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def real_pca(sagemaker_fixtures: Path) -> PCAModel:
    return load_pca_model(sagemaker_fixtures / "pca-106x105-model.tar.gz")


@pytest.fixture(scope="module")
def real_kmeans(sagemaker_fixtures: Path) -> KMeansModel:
    return load_kmeans_model(sagemaker_fixtures / "kmeans-k10-d13-with-state-model.tar.gz")


def csv_body(X: np.ndarray) -> bytes:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in X).encode()


def bodies(X: np.ndarray) -> dict[str, bytes]:
    """The same rows in every request content type."""
    recordio = io.BytesIO()
    write_recordio_dense(recordio, X)
    rows = [[float(v) for v in row] for row in X]
    return {
        "text/csv": csv_body(X),
        "application/json": json.dumps({"instances": [{"features": row} for row in rows]}).encode(),
        "application/jsonlines": "".join(json.dumps({"features": row}) + "\n" for row in rows).encode(),
        "application/x-recordio-protobuf": recordio.getvalue(),
    }


def exact_projection(model: PCAModel, X: np.ndarray) -> np.ndarray:
    mean = model.mean.astype(np.float64) if model.mean is not None else 0.0
    return (X.astype(np.float64) - mean) @ model.v.astype(np.float64)


def exact_assignment(model: KMeansModel, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = X.astype(np.float64)[:, None, :] - model.centroids.astype(np.float64)[None, :, :]
    squared = (diff**2).sum(axis=2)
    closest = squared.argmin(axis=1)
    return closest, np.sqrt(squared[np.arange(len(X)), closest])


@pytest.mark.parametrize(
    "content_type",
    ["text/csv", "application/json", "application/jsonlines", "application/x-recordio-protobuf"],
)
def test_real_pca_artifact_every_request_type(real_pca: PCAModel, content_type: str) -> None:
    X = RNG.normal(size=(4, 106)).astype(np.float32)
    body, response_type = invoke_endpoint(real_pca, bodies(X)[content_type], content_type, "application/json")
    assert response_type == "application/json"
    projections = np.array([p["projection"] for p in json.loads(body)["projections"]])
    assert projections.shape == (4, 105)
    np.testing.assert_allclose(projections, exact_projection(real_pca, X), rtol=1e-4, atol=1e-4)


def test_pca_jsonlines_and_recordio_responses(real_pca: PCAModel) -> None:
    X = RNG.normal(size=(3, 106)).astype(np.float32)
    expected = exact_projection(real_pca, X)
    lines, kind = invoke_endpoint(real_pca, csv_body(X), "text/csv", "application/jsonlines")
    assert kind == "application/jsonlines" and lines.endswith(b"\n")
    rows = [json.loads(line)["projection"] for line in lines.decode().splitlines()]
    np.testing.assert_allclose(rows, expected, rtol=1e-4, atol=1e-4)
    body, kind = invoke_endpoint(real_pca, csv_body(X), "text/csv", "application/x-recordio-protobuf")
    assert kind == "application/x-recordio-protobuf"
    records = decode_label_records(body)
    assert len(records) == 3 and all(set(r) == {"projection"} for r in records)
    np.testing.assert_allclose([r["projection"] for r in records], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("accept", [None, "", "*/*", "application/json; charset=utf-8", "text/html, */*"])
def test_missing_or_wildcard_accept_answers_json(real_kmeans: KMeansModel, accept: str | None) -> None:
    X = RNG.normal(size=(2, 13)).astype(np.float32)
    body, kind = invoke_endpoint(real_kmeans, csv_body(X), "text/csv", accept)
    assert kind == "application/json"
    assert len(json.loads(body)["predictions"]) == 2


def test_pca_refuses_csv_responses_with_406(real_pca: PCAModel) -> None:
    with pytest.raises(RequestError) as caught:
        invoke_endpoint(real_pca, csv_body(np.zeros((1, 106))), "text/csv", "text/csv")
    assert caught.value.status == 406 and "text/csv" in str(caught.value)


@pytest.mark.parametrize(
    "content_type",
    ["text/csv", "application/json", "application/jsonlines", "application/x-recordio-protobuf"],
)
def test_real_kmeans_artifact_every_request_type(real_kmeans: KMeansModel, content_type: str) -> None:
    X = (real_kmeans.centroids[[3, 7, 0]] + RNG.normal(scale=0.01, size=(3, 13))).astype(np.float32)
    body, _ = invoke_endpoint(real_kmeans, bodies(X)[content_type], content_type, None)
    predictions = json.loads(body)["predictions"]
    closest, distance = exact_assignment(real_kmeans, X)
    assert [p["closest_cluster"] for p in predictions] == [3.0, 7.0, 0.0] == closest.astype(float).tolist()
    assert all(isinstance(p["closest_cluster"], float) for p in predictions)
    np.testing.assert_allclose([p["distance_to_cluster"] for p in predictions], distance, rtol=1e-4)


def test_kmeans_csv_jsonlines_recordio_responses() -> None:
    model = KMeansModel(centroids=np.array([[0.0, 0.0], [3.0, 4.0]], np.float32))
    X = np.array([[0.0, 1.0], [3.0, 0.0], [6.0, 8.0]], np.float32)
    body, kind = invoke_endpoint(model, csv_body(X), "text/csv", "text/csv")
    assert kind == "text/csv"
    # Euclidean, not squared: (0,1) is 1 from centre 0; (3,0) is 3 from centre 0; (6,8) is 5 from centre 1.
    assert body == b"0.0,1.0\n0.0,3.0\n1.0,5.0\n"
    body, kind = invoke_endpoint(model, csv_body(X), "text/csv", "application/jsonlines")
    assert kind == "application/jsonlines"
    assert body.decode().splitlines()[2] == '{"closest_cluster":1.0,"distance_to_cluster":5.0}'
    body, kind = invoke_endpoint(model, csv_body(X), "text/csv", "application/x-recordio-protobuf")
    records = decode_label_records(body)
    assert [float(r["closest_cluster"][0]) for r in records] == [0.0, 0.0, 1.0]
    assert [float(r["distance_to_cluster"][0]) for r in records] == [1.0, 3.0, 5.0]
    assert all(r["closest_cluster"].dtype == np.float32 for r in records)


def test_json_response_shape_is_exact() -> None:
    model = KMeansModel(centroids=np.array([[0.0], [10.0]], np.float32))
    body, _ = invoke_endpoint(model, b"9.75\n", "text/csv", "application/json")
    assert body == b'{"predictions":[{"closest_cluster":1.0,"distance_to_cluster":0.25}]}'
    pca = PCAModel(s=np.ones(1, np.float32), v=np.array([[1.0], [0.0]], np.float32), mean=None)
    body, _ = invoke_endpoint(
        pca, b'{"instances":[{"data":{"features":{"values":[2.5,7]}}}]}', "application/json", None
    )
    assert body == b'{"projections":[{"projection":[2.5]}]}'


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        (b"1,2,3\n", "text/csv", 400, "13"),  # wrong feature count for the 13-feature model
        (b"1,2,x,4,5,6,7,8,9,10,11,12,13\n", "text/csv", 400, ""),
        (b'{"instances": [', "application/json", 400, ""),
        (b'{"rows": []}', "application/json", 400, ""),
        (b'{"features": [1, 2]}\n', "application/jsonlines", 400, "13"),
        (b"\x0a\xd7\x23\xce garbage", "application/x-recordio-protobuf", 400, ""),
        (b"", "text/csv", 400, "empty"),
        (b"1\n", "text/plain", 415, "text/plain"),
        (b"1\n", None, 415, "ContentType"),
    ],
)
def test_bad_requests_are_client_errors(
    real_kmeans: KMeansModel, body: bytes, content_type: str | None, status: int, fragment: str
) -> None:
    with pytest.raises(RequestError) as caught:
        invoke_endpoint(real_kmeans, body, content_type, None)
    assert caught.value.status == status
    assert fragment in str(caught.value)


def test_unsupported_accept_is_406_for_kmeans() -> None:
    model = KMeansModel(centroids=np.zeros((2, 1), np.float32))
    with pytest.raises(RequestError) as caught:
        invoke_endpoint(model, b"1\n", "text/csv", "application/xml")
    assert caught.value.status == 406


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/jsonlines;q=0.9", "application/jsonlines"),
        ("image/png, text/csv", "text/csv"),
        ("*/*", "application/json"),
    ],
)
def test_negotiate_accept(accept: str, expected: str) -> None:
    assert negotiate_accept(accept, ("application/json", "application/jsonlines", "text/csv")) == expected
