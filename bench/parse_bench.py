"""libsvm parsing throughput (MB/s): clusterflow's parser, scikit-learn's load_svmlight_file, Spark's reader.

Each reader runs in its own process (`python -m bench.parse_bench --reader R --file F`), timed after
its imports (and, for Spark, after the session started and one warm-up read), median of the repeats.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.stats import median

FEATURES = 784
READERS = ("clusterflow", "sklearn", "spark")


def _sklearn_reader() -> Callable[[Path], object]:
    from sklearn.datasets import load_svmlight_file

    return lambda path: load_svmlight_file(str(path), n_features=FEATURES)


def _clusterflow_reader() -> Callable[[Path], object]:
    from clusterflow.formats.libsvm import iter_libsvm

    def read(path: Path) -> int:
        # Streamed, as the engine and the pipeline read it: dense float32 batches, validated.
        return sum(len(labels) for labels, _ in iter_libsvm(path, FEATURES))

    return read


def _spark_reader() -> Callable[[Path], object]:
    from bench.contenders.spark_pipeline import start_spark

    spark = start_spark()

    def read(path: Path) -> None:
        frame = spark.read.format("libsvm").option("numFeatures", str(FEATURES)).load(str(path))
        # The noop sink materialises every column of every row and keeps nothing.
        frame.write.format("noop").mode("overwrite").save()

    return read


_FACTORIES: dict[str, Callable[[], Callable[[Path], object]]] = {
    "clusterflow": _clusterflow_reader,
    "sklearn": _sklearn_reader,
    "spark": _spark_reader,
}
NOTES = {
    "clusterflow": "clusterflow.formats.libsvm.iter_libsvm to dense float32 batches, strict (Spark's rules)",
    "sklearn": "sklearn.datasets.load_svmlight_file (Cython) to CSR",
    "spark": "spark.read.format('libsvm') on local[2], materialised with the noop sink, warm JVM",
}


def time_reader(reader: str, path: Path, repeats: int) -> list[float]:
    read = _FACTORIES[reader]()
    if reader == "spark":
        read(path)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        read(path)
        seconds.append(time.perf_counter() - started)
    return seconds


def measure(path: Path, repeats: int, log_dir: Path) -> dict[str, Any]:
    """Every reader on `path` in its own process; MB/s from the median seconds."""
    size_mb = path.stat().st_size / 2**20
    block: dict[str, Any] = {"file": str(path), "file_mb": size_mb, "repeats": repeats, "readers": {}}
    for reader in READERS:
        command = [sys.executable, "-m", "bench.parse_bench", "--reader", reader, "--file", str(path)]
        result = subprocess.run([*command, "--repeats", str(repeats)], capture_output=True, text=True)
        (log_dir / f"parse-{reader}.log").write_text(result.stdout + result.stderr)
        row: dict[str, Any] = {"note": NOTES[reader]}
        if result.returncode != 0:
            row["error"] = (result.stderr or result.stdout)[-600:]
            row["note"] += (
                f"; FAILED: {row['error'].strip().splitlines()[-1] if row['error'].strip() else ''}"
            )
        else:
            seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
            row.update(seconds=seconds, mb_per_s=size_mb / (median(seconds) or float("nan")))
        block["readers"][reader] = row
    ours, theirs = (block["readers"][r].get("mb_per_s") for r in ("clusterflow", "sklearn"))
    block["ratio_vs_sklearn"] = ours / theirs if ours and theirs else None
    block["ratio_vs_spark"] = (
        ours / block["readers"]["spark"]["mb_per_s"]
        if ours and block["readers"]["spark"].get("mb_per_s")
        else None
    )
    if "error" in block["readers"]["clusterflow"]:
        block["unavailable"] = block["readers"]["clusterflow"]["error"].strip().splitlines()[-1]
    return block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reader", choices=READERS, required=True)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps({"seconds": time_reader(args.reader, args.file, args.repeats)}))


if __name__ == "__main__":
    main()
