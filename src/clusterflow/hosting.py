"""What a SageMaker PCA or K-Means endpoint answers to InvokeEndpoint (REFERENCE section 4).

Request types: text/csv, application/json, application/jsonlines, application/x-recordio-protobuf.
Responses:
- PCA: application/json `{"projections":[{"projection":[...]}]}`, application/jsonlines one
  `{"projection":[...]}` per line, application/x-recordio-protobuf one Record per row (label
  `projection`). No CSV: Accept text/csv is a 406.
- K-Means: json `{"predictions":[{"closest_cluster":4.0,"distance_to_cluster":0.23}]}`, jsonlines one
  prediction per line, text/csv `cluster,distance` per line, recordio one Record per row (labels
  `closest_cluster`, `distance_to_cluster`). The cluster is sent as a float; the distance is Euclidean.
A missing Accept or `*/*` answers JSON. An Accept listing several types takes the first supported.
Our choices: numbers are written as the shortest decimal that reads back to the same float32, JSON
is compact, every JSON Lines/CSV line ends with a newline, and a missing ContentType is a 415.
"""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt

from clusterflow.artifacts.model import KMeansModel, PCAModel
from clusterflow.errors import ClusterflowError, RequestError

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
RECORDIO = "application/x-recordio-protobuf"
_PCA_ACCEPTS = (JSON, JSONLINES, RECORDIO)
_KMEANS_ACCEPTS = (JSON, JSONLINES, CSV, RECORDIO)
_ANY = ("*/*", "application/*")


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def negotiate_accept(accept: str | None, supported: tuple[str, ...]) -> str:
    """The response type for an Accept header: JSON when absent or `*/*`; 406 when none is supported."""
    if accept is None or not accept.strip():
        return JSON
    offered = [_media_type(part) for part in accept.split(",")]
    for media in offered:
        if media in supported:
            return media
        if media in _ANY:
            return JSON
    raise RequestError(f"Accept '{accept}' is not supported; this model answers {', '.join(supported)}", 406)


def _float32_values(values: npt.NDArray[np.floating]) -> list[float]:
    return [float(str(x)) for x in np.asarray(values, dtype=np.float32).ravel()]


def _dumps(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _parse_request(body: bytes, content_type: str | None, feature_dim: int) -> npt.NDArray[np.float32]:
    from clusterflow.formats.instances import parse_instances

    if content_type is None or not content_type.strip():
        raise RequestError("ContentType is required: text/csv, application/json, application/jsonlines or "
                           f"{RECORDIO}", 415)
    try:
        X = parse_instances(body, content_type, feature_dim)
    except RequestError:
        raise
    except (ClusterflowError, ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"cannot read the {_media_type(content_type)} request body: {exc}") from exc
    if X.shape[0] == 0:
        raise RequestError("the request holds no instances")
    return X


def _encode_labels(labels: dict[str, npt.NDArray[np.float32]]) -> bytes:
    from clusterflow.formats.recordio import encode_label_records

    return encode_label_records(labels)


def _pca_response(model: PCAModel, X: npt.NDArray[np.float32], accept: str) -> bytes:
    projections = model.project(X).astype(np.float32)
    if accept == RECORDIO:
        return _encode_labels({"projection": projections})
    rows = [{"projection": _float32_values(row)} for row in projections]
    if accept == JSONLINES:
        return b"".join(_dumps(row) + b"\n" for row in rows)
    return _dumps({"projections": rows})


def _kmeans_response(model: KMeansModel, X: npt.NDArray[np.float32], accept: str) -> bytes:
    closest, distance = model.assign(X)
    clusters = closest.astype(np.float32)
    distances = distance.astype(np.float32)
    if accept == RECORDIO:
        return _encode_labels({"closest_cluster": clusters, "distance_to_cluster": distances})
    pairs = zip(_float32_values(clusters), _float32_values(distances), strict=True)
    if accept == CSV:
        return b"".join(f"{cluster!r},{dist!r}\n".encode() for cluster, dist in pairs)
    rows = [{"closest_cluster": cluster, "distance_to_cluster": dist} for cluster, dist in pairs]
    if accept == JSONLINES:
        return b"".join(_dumps(row) + b"\n" for row in rows)
    return _dumps({"predictions": rows})


def invoke_endpoint(
    model: PCAModel | KMeansModel, body: bytes, content_type: str | None, accept: str | None
) -> tuple[bytes, str]:
    """(response body, response content type) as the SageMaker endpoint would answer; RequestError on 4xx."""
    if isinstance(model, PCAModel):
        response_type = negotiate_accept(accept, _PCA_ACCEPTS)
        X = _parse_request(body, content_type, model.feature_dim)
        return _pca_response(model, X, response_type), response_type
    response_type = negotiate_accept(accept, _KMEANS_ACCEPTS)
    X = _parse_request(body, content_type, model.feature_dim)
    return _kmeans_response(model, X, response_type), response_type
