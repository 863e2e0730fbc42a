"""Hosts the clustering Lambda's world for `bench.lambda_probe`: the local cloud, one trained run.

`python -m bench.lambda_host --models DIR --test FILE --work DIR` starts `LocalCloud` (moto on
127.0.0.1 with the SageMaker seam, so endpoints answer through clusterflow.hosting), stores the two
model.tar.gz of a finished `local run` as the latest successful run, and runs fresh probe processes
with the ClusterFunction's environment, in artifact mode and in endpoint mode. Writes DIR/lambda.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.chunks import iter_dense_blocks
from bench.stats import median, percentile

REPO_ROOT = Path(__file__).resolve().parents[1]
HANDLER = REPO_ROOT / "functions" / "cluster" / "app.py"
RUN_ID = "bench-lambda-run"
PROBES_PER_MODE = 3
PROBE_IMAGES = 200


def _seed_run(cloud: Any, models: Path) -> None:
    """The two artifacts as the latest successful run, where the pipeline would have left them."""
    from clusterflow.app.names import LATEST_KEY, manifest_key, models_prefix, run_names

    s3, bucket, names = cloud.client("s3"), cloud.data_bucket, run_names(RUN_ID)
    uris = {}
    for algorithm, job in (("pca", names.pca_training_job), ("kmeans", names.kmeans_training_job)):
        key = f"{models_prefix(RUN_ID)}{job}/output/model.tar.gz"
        s3.upload_file(str(models / algorithm / "model.tar.gz"), bucket, key)
        uris[f"{algorithm}_model_uri"] = f"s3://{bucket}/{key}"
    manifest = {
        "run_id": RUN_ID,
        "status": "SUCCEEDED",
        "artifacts": uris,
        "endpoint_policy": "CREATE_ON_TRANSFORM",
        "parameters": {},
    }
    s3.put_object(Bucket=bucket, Key=manifest_key(RUN_ID), Body=json.dumps(manifest).encode())
    s3.put_object(Bucket=bucket, Key=LATEST_KEY, Body=json.dumps({"run_id": RUN_ID}).encode())


def _function_environment(cloud: Any, mode: str) -> dict[str, str]:
    spec = next(f for f in cloud.deployment.functions.values() if Path(f.handler_file).resolve() == HANDLER)
    region = cloud.region
    return {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "clusterflow-bench",
        **spec.environment,
        "CLUSTERING_MODE": mode,
    }


def _probe(env: dict[str, str], images: Path, work: Path, name: str) -> dict[str, Any]:
    result_path = work / f"{name}.json"
    command = [sys.executable, "-m", "bench.lambda_probe", "--handler", str(HANDLER), "--images", str(images)]
    with open(work / f"{name}.log", "wb") as log:
        done = subprocess.run(
            [*command, "--result", str(result_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
            timeout=600,
        )
    if done.returncode != 0 or not result_path.exists():
        return {
            "error": f"probe exit {done.returncode}: {_last_error(work / f'{name}.log')}"
            + _server_cause(work / "cloud" / "local-cloud.log")
        }
    loaded: dict[str, Any] = json.loads(result_path.read_text())
    return loaded


def _last_error(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors or lines or ["(no output)"])[-1].strip()[:400]


def _server_cause(cloud_log: Path) -> str:
    """The local cloud's own last exception, when a call failed on its side (HTTP 500)."""
    if not cloud_log.exists():
        return ""
    causes = [
        line
        for line in cloud_log.read_text(errors="replace").splitlines()
        if line[:1].isalpha() and ("Error: " in line or "Exception: " in line) and " ERROR " not in line
    ]
    return f" (local cloud: {causes[-1].strip()[:300]})" if causes else ""


def summarise_mode(probes: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [p for p in probes if "error" not in p]
    if not ok:
        return {"unavailable": probes[-1].get("error", "no probe succeeded") if probes else "no probes"}
    singles = [s * 1000 for p in ok for s in p["single_seconds"]]
    batches = [s * 1000 for p in ok for s in p["batch_seconds"]]
    summary: dict[str, Any] = {
        "probes": len(ok),
        "cold_init_s": median([p["cold_init_s"] for p in ok]),
        "import_s": median([p["import_s"] for p in ok]),
        "first_request_s": median([p["first_request_s"] for p in ok]),
        "single_requests": len(singles),
        "single_p50_ms": percentile(singles, 50),
        "single_p99_ms": percentile(singles, 99),
    }
    if batches:
        summary.update(
            batch_requests=len(batches),
            batch_p50_ms=percentile(batches, 50),
            batch_p99_ms=percentile(batches, 99),
            batch_p50_ms_per_image=percentile(batches, 50) / 100,
        )
    errors = [p["error"] for p in probes if "error" in p]
    if errors:
        summary["errors"] = errors
    return summary


def _write_images(test: Path, path: Path) -> Path:
    features, _ = next(iter_dense_blocks(test, rows=PROBE_IMAGES))
    path.write_text(
        json.dumps([[int(round(v)) if float(v).is_integer() else float(v) for v in row] for row in features])
    )
    return path


def host(models: Path, test: Path, work: Path) -> dict[str, Any]:
    from clusterflow.local.cloud import LocalCloud

    work.mkdir(parents=True, exist_ok=True)
    images = _write_images(test, work / "images.json")
    results: dict[str, Any] = {"handler": str(HANDLER.relative_to(REPO_ROOT))}
    with LocalCloud(
        REPO_ROOT / "template.yaml", engines=True, endpoint_delay_seconds=0.5, work_dir=work / "cloud"
    ) as cloud:
        _seed_run(cloud, models)
        for mode in ("artifact", "endpoint"):
            env = _function_environment(cloud, mode)
            if mode == "endpoint":
                # The first request creates the endpoints; later cold starts find them InService.
                warmup = _probe(env, images, work, "endpoint-warmup")
                results["endpoint_creation"] = {
                    k: warmup.get(k) for k in ("cold_init_s", "retries_before_200")
                }
            probes = [_probe(env, images, work, f"{mode}-{i}") for i in range(PROBES_PER_MODE)]
            results[mode] = summarise_mode(probes)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    results = host(args.models, args.test, args.work)
    (args.work / "lambda.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
