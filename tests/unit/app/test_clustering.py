"""The clustering Lambda: request parsing (400 with the reason), artifact and endpoint modes giving the
same answers, endpoints created on first use with 503 + Retry-After."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image

from clusterflow.app import clustering
from clusterflow.app.names import run_names
from clusterflow.artifacts.model import KMeansModel, PCAModel, write_model_tar
from clusterflow.hosting import invoke_endpoint

from .conftest import Aws, load_event, role_arn

RUN_ID = "run-model"
RNG = np.random.default_rng(11)
PCA = PCAModel(
    s=np.sort(RNG.random(5)).astype(np.float32),
    v=np.linalg.qr(RNG.normal(size=(784, 5)))[0].astype(np.float32),
    mean=RNG.random((1, 784)).astype(np.float32) * 100,
)
KMEANS = KMeansModel(centroids=RNG.normal(size=(4, 5)).astype(np.float32) * 300)


class HostedRuntime:
    """sagemaker-runtime stand-in answering through clusterflow.hosting with the run's models."""

    def __init__(self, models: dict[str, Any]) -> None:
        self.models = models
        self.calls: list[str] = []

    def invoke_endpoint(
        self, EndpointName: str, Body: bytes, ContentType: str, Accept: str
    ) -> dict[str, Any]:
        self.calls.append(EndpointName)
        body, content_type = invoke_endpoint(self.models[EndpointName], Body, ContentType, Accept)
        return {"Body": io.BytesIO(body), "ContentType": content_type}


def publish_run(aws: Aws, policy: str) -> dict[str, Any]:
    artifacts = {}
    for algorithm, model in (("pca", PCA), ("kmeans", KMEANS)):
        buffer = io.BytesIO()
        write_model_tar(buffer, model)
        key = f"runs/{RUN_ID}/models/{algorithm}/output/model.tar.gz"
        aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=buffer.getvalue())
        artifacts[f"{algorithm}_model_uri"] = f"s3://{aws.bucket}/{key}"
    manifest = {"run_id": RUN_ID, "status": "SUCCEEDED", "artifacts": artifacts, "endpoint_policy": policy}
    aws.s3.put_object(Bucket=aws.bucket, Key=f"runs/{RUN_ID}/manifest.json", Body=json.dumps(manifest))
    aws.s3.put_object(Bucket=aws.bucket, Key="runs/latest.json", Body=json.dumps({"run_id": RUN_ID}))
    return manifest


def request(body: Any) -> dict[str, Any]:
    event = load_event("cluster")
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def png(pixels: np.ndarray, mode: str = "L") -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).convert(mode).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def answer(response: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(response["body"])
    return loaded


IMAGES = RNG.integers(0, 256, size=(3, 784)).astype(np.float32)


def expected() -> list[dict[str, Any]]:
    closest, distance = KMEANS.assign(PCA.project(IMAGES))
    return [
        {"closest_cluster": int(c), "distance_to_cluster": float(d)}
        for c, d in zip(closest, distance, strict=True)
    ]


def test_artifact_mode_answers_from_the_models(aws: Aws, make_settings: Any) -> None:
    publish_run(aws, "DO_NOT_CREATE")
    clients = clustering.Clients(s3=aws.s3, sagemaker=aws.sagemaker, runtime=None)
    body = {
        "instances": [{"pixels": row.tolist()} for row in IMAGES[:2]]
        + [{"image_base64": png(IMAGES[2].reshape(28, 28))}]
    }
    response = clustering.handle_request(clients, request(body), make_settings())
    assert response["statusCode"] == 200
    document = answer(response)
    assert document["run_id"] == RUN_ID and document["mode"] == "artifact"
    got, want = document["predictions"], expected()
    assert [p["closest_cluster"] for p in got] == [p["closest_cluster"] for p in want]
    np.testing.assert_allclose(
        [p["distance_to_cluster"] for p in got], [p["distance_to_cluster"] for p in want], rtol=1e-5
    )
    assert list(clients.models) == [RUN_ID]


def test_endpoint_mode_creates_endpoints_on_first_use_then_gives_the_same_answers(
    aws: Aws, make_settings: Any
) -> None:
    publish_run(aws, "CREATE_ON_TRANSFORM")
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    names = run_names(RUN_ID, "cft")
    runtime = HostedRuntime({names.pca_endpoint: PCA, names.kmeans_endpoint: KMEANS})
    clients = clustering.Clients(s3=aws.s3, sagemaker=aws.sagemaker, runtime=runtime)
    body = {"instances": [{"pixels": row.tolist()} for row in IMAGES]}

    first = clustering.handle_request(clients, request(body), settings)
    assert first["statusCode"] == 503 and first["headers"]["retry-after"] == "60"
    assert "Creating" in answer(first)["error"]
    assert {e["EndpointName"] for e in aws.sagemaker.list_endpoints()["Endpoints"]} == {
        names.pca_endpoint,
        names.kmeans_endpoint,
    }

    second = clustering.handle_request(clients, request(body), settings)
    assert second["statusCode"] == 200
    document = answer(second)
    assert document["mode"] == "endpoint"
    got, want = document["predictions"], expected()
    assert [p["closest_cluster"] for p in got] == [p["closest_cluster"] for p in want]
    np.testing.assert_allclose(
        [p["distance_to_cluster"] for p in got], [p["distance_to_cluster"] for p in want], rtol=1e-4
    )
    assert runtime.calls == [names.pca_endpoint, names.kmeans_endpoint]
    arn = aws.sagemaker.describe_endpoint(EndpointName=names.kmeans_endpoint)["EndpointArn"]
    tags = {t["Key"]: t["Value"] for t in aws.sagemaker.list_tags(ResourceArn=arn)["Tags"]}
    assert "clusterflow:last-invoked" in tags


BAD_REQUESTS = {
    "not JSON": ("{pixels", "not JSON"),
    "a list": ([1, 2], "JSON object"),
    "no image": ({"foo": 1}, 'exactly one of "pixels" or "image_base64"'),
    "both forms": ({"pixels": [0] * 784, "image_base64": "x"}, "exactly one"),
    "short pixels": ({"pixels": [0] * 10}, "784 numbers, got 10"),
    "NaN pixel": ('{"pixels": [' + ",".join(["0"] * 783) + ", NaN]}", '"pixels"[783]'),
    "text pixel": ({"pixels": ["a"] * 784}, '"pixels"[0]'),
    "bad base64": ({"image_base64": "!!!"}, "not valid base64"),
    "not a PNG": ({"image_base64": base64.b64encode(b"GIF89a....").decode()}, "not a PNG"),
    "wrong size PNG": ({"image_base64": png(np.zeros((10, 10)))}, "10x10, expected 28x28"),
    "colour PNG": ({"image_base64": png(np.zeros((28, 28)), "RGB")}, "mode RGB"),
    "empty instances": ({"instances": []}, "non-empty list"),
    "too many instances": ({"instances": [{"pixels": [0] * 784}] * 101}, "at most 100"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_malformed_requests_get_400_with_the_reason(aws: Aws, make_settings: Any, case: str) -> None:
    publish_run(aws, "DO_NOT_CREATE")
    body, reason = BAD_REQUESTS[case]
    clients = clustering.Clients(s3=aws.s3, sagemaker=aws.sagemaker, runtime=None)
    response = clustering.handle_request(clients, request(body), make_settings())
    assert response["statusCode"] == 400
    assert reason in answer(response)["error"]


def test_oversized_body_wrong_method_and_no_model(aws: Aws, make_settings: Any) -> None:
    clients = clustering.Clients(s3=aws.s3, sagemaker=aws.sagemaker, runtime=None)
    settings = make_settings()
    assert clustering.handle_request(clients, request("x" * 2_000_000), settings)["statusCode"] == 413
    get = request({"pixels": [0] * 784})
    get["requestContext"]["http"]["method"] = "GET"
    assert clustering.handle_request(clients, get, settings)["statusCode"] == 405
    missing = clustering.handle_request(clients, request({"pixels": [0] * 784}), settings)
    assert missing["statusCode"] == 404 and "no trained model" in answer(missing)["error"]


def test_newest_run_is_read_once_per_ttl(
    aws: Aws, make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_run(aws, "DO_NOT_CREATE")
    clients = clustering.Clients(s3=aws.s3, sagemaker=aws.sagemaker, runtime=None)
    reads: list[str] = []
    real_current_model = clustering.current_model

    def counting(s3: Any, settings: Any) -> tuple[str, dict[str, Any]]:
        reads.append("read")
        return real_current_model(s3, settings)

    monkeypatch.setattr(clustering, "current_model", counting)
    body = {"instances": [{"pixels": IMAGES[0].tolist()}]}
    for _ in range(3):
        assert clustering.handle_request(clients, request(body), make_settings())["statusCode"] == 200
    assert reads == ["read"]
    monkeypatch.setattr(clustering, "LATEST_RUN_TTL_SECONDS", 0.0)  # the TTL has passed
    assert clustering.handle_request(clients, request(body), make_settings())["statusCode"] == 200
    assert reads == ["read", "read"]
