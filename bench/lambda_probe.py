"""One fresh clustering-Lambda container: cold initialisation, then warm latencies.

Run by `bench.lambda_host` as `python -m bench.lambda_probe --handler FILE --images FILE.json` with the
function's environment. Imports only the standard library before the clock starts, so the cold figure
holds the handler's imports (boto3, Powertools, numpy, clusterflow) and its first request (model load).
Writes one JSON object to --result (stdout carries the handler's own logs and metrics).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

SINGLE_REQUESTS = 300
BATCH_REQUESTS = 40
BATCH_SIZE = 100


class Context:
    """The Lambda context fields Powertools reads."""

    def __init__(self) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "cluster")
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def event(body: dict[str, Any]) -> dict[str, Any]:
    # Imported on the first request, after the timed handler import, so the cold start is not shifted.
    from clusterflow.app.function_url import function_url_event

    return function_url_event(body)


def import_handler(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("cluster_function_app", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    spec.loader.exec_module(module)
    return module.lambda_handler


def call(handler: Any, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    answer = handler(event(body), Context())
    return time.perf_counter() - started, answer


def first_success(handler: Any, body: dict[str, Any], patience_s: float) -> tuple[dict[str, Any], int]:
    """Ask until a 200 (endpoints may answer 503 while the local ones are Creating)."""
    deadline = time.monotonic() + patience_s
    retries = 0
    while True:
        _, answer = call(handler, body)
        if answer.get("statusCode") == 200 or time.monotonic() > deadline:
            return answer, retries
        retries += 1
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--handler", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True, help="JSON list of pixel lists")
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--patience", type=float, default=60.0)
    args = parser.parse_args()
    images = json.loads(args.images.read_text())
    single = {"pixels": images[0]}

    started = time.perf_counter()
    handler = import_handler(args.handler)
    imported = time.perf_counter()
    answer, retries = first_success(handler, single, args.patience)
    first_done = time.perf_counter()
    result: dict[str, Any] = {
        "import_s": imported - started,
        "first_request_s": first_done - imported,
        "cold_init_s": first_done - started,
        "first_status": answer.get("statusCode"),
        "retries_before_200": retries,
    }
    if answer.get("statusCode") != 200:
        result["error"] = str(answer.get("body"))[:500]
        args.result.write_text(json.dumps(result))
        return
    result["mode"] = json.loads(answer["body"]).get("mode")
    singles = [call(handler, {"pixels": images[i % len(images)]})[0] for i in range(SINGLE_REQUESTS)]
    batches = []
    for i in range(BATCH_REQUESTS):
        chunk = [images[(i * BATCH_SIZE + j) % len(images)] for j in range(BATCH_SIZE)]
        seconds, answer = call(handler, {"instances": [{"pixels": p} for p in chunk]})
        if answer.get("statusCode") != 200:
            result["error"] = f"batch answered {answer.get('statusCode')}: {str(answer.get('body'))[:300]}"
            break
        batches.append(seconds)
    result["single_seconds"] = singles
    result["batch_seconds"] = batches
    args.result.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
