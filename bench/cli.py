"""`python -m bench --out DIR [--scale N] [--quick]`: the whole benchmark of issue 6, in one run."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import datasets, lambda_bench, machine, parse_bench, report, targets
from bench.pipelines import Dataset, compare
from bench.scale import run_scale

FULL_REPEATS = 3
PARTS = ("pipelines", "lambda", "parsing", "scale")
DOCS_PNG = Path(__file__).resolve().parents[1] / "docs" / "bench.png"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--out", type=Path, required=True, help="directory for bench.json, bench.md, bench.png"
    )
    parser.add_argument("--scale", type=int, help="also run clusterflow on N generated MNIST-shaped rows")
    parser.add_argument("--quick", action="store_true", help="MNIST sample only, 1 repeat (development)")
    parser.add_argument(
        "--repeats", type=int, help=f"runs per contender (default {FULL_REPEATS}, 1 with --quick)"
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)} (default: all)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep other parts' results from an earlier bench.json"
    )
    parser.add_argument(
        "--pipeline-datasets",
        default="fashion-mnist,mnist-sample",
        help="comma-separated data sets for the pipeline part (default: fashion-mnist,mnist-sample)",
    )
    parser.add_argument("--lambda-models", type=Path, help="a clusterflow run's --out for the Lambda part")
    parser.add_argument("--copy-plot", action="store_true", help=f"also copy bench.png to {DOCS_PNG}")
    args = parser.parse_args(argv)
    if args.scale is not None and args.scale < 1000:
        parser.error("--scale must be at least 1000 rows")
    args.repeats = args.repeats or (1 if args.quick else FULL_REPEATS)
    args.pipeline_datasets = {name.strip() for name in args.pipeline_datasets.split(",") if name.strip()}
    args.parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if args.parts - set(PARTS):
        parser.error(f"--parts: unknown {sorted(args.parts - set(PARTS))}; choose from {','.join(PARTS)}")
    return args


def _prepare(
    results: dict[str, Any], name: str, factory: Callable[[Path], Dataset], root: Path
) -> Dataset | None:
    try:
        return factory(root)
    except datasets.DataUnavailable as exc:
        results["unavailable"][name] = str(exc)
        print(f"{name}: not available: {exc}", flush=True)
        return None


def _phase(results: dict[str, Any], out: Path, title: str) -> float:
    report.write_all(results, out)
    print(f"== {title}", flush=True)
    return time.perf_counter()


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine.describe(),
        "arguments": {"quick": args.quick, "scale": args.scale, "repeats": args.repeats},
        "datasets": {},
        "unavailable": {},
    }
    previous = out / "bench.json"
    if args.keep and previous.exists():
        kept = json.loads(previous.read_text())
        results.update({key: kept[key] for key in ("datasets", "lambda", "parsing", "scale") if key in kept})
        results["earlier_parts_started"] = kept.get("started")
    data_root = out / "data"
    sample = _prepare(results, "mnist-sample", datasets.mnist_sample, data_root)
    fashion = None if args.quick else _prepare(results, "fashion-mnist", datasets.fashion_mnist, data_root)
    if "pipelines" in args.parts:
        # The full-size set first: its figures carry the targets.
        for dataset in (d for d in (fashion, sample) if d is not None and d.name in args.pipeline_datasets):
            _phase(results, out, f"pipelines on {dataset.name}")

            def keep(block: dict[str, Any], name: str = dataset.name) -> None:
                results["datasets"][name] = block
                report.write_all(results, out)

            results["datasets"][dataset.name] = compare(
                dataset, args.repeats, out / "runs" / dataset.name, on_run=keep
            )
    if "lambda" in args.parts and sample is not None:
        _phase(results, out, "clustering Lambda")
        results["lambda"] = lambda_bench.measure(
            args.lambda_models or lambda_bench.find_models(out / "runs"), sample, out / "lambda"
        )
    parse_file = fashion.train if fashion else (sample.train if sample else None)
    if "parsing" in args.parts and parse_file is not None:
        _phase(results, out, "libsvm parsing")
        results["parsing"] = parse_bench.measure(parse_file, 3, out)
    if args.scale and "scale" in args.parts and sample is not None:
        _phase(results, out, f"scale to {args.scale:,} rows")
        digits, labels, value_scale = datasets.sample_digits(sample)
        results["scale"] = run_scale(args.scale, digits, labels, value_scale, sample.test, out / "scale")
    results["machine"]["load_average_at_end"] = machine.load_average()
    results["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["targets"] = targets.judge(results)
    report.write_all(results, out)
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    run(args)
    if args.copy_plot:
        DOCS_PNG.parent.mkdir(exist_ok=True)
        shutil.copyfile(args.out / "bench.png", DOCS_PNG)
    print((args.out / "bench.md").read_text())
    print(
        f"bench finished in {time.perf_counter() - started:.0f} s: {args.out}/bench.json, .md, .png",
        file=sys.stderr,
    )
