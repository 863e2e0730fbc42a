"""Issue 5 bad input: every malformed upload is refused by the first state before anything starts:
exit 2, one message naming the defect (and line), nothing trained, nothing left, the object moved to
rejected/ beside its reason. Engines off: nothing past the first state may run anyway.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from clusterflow.local.run import RunOptions, run_local

from .conftest import read_metrics

GOOD = b"3 1:12 200:255 784:7\n5 10:1.5 11:3\n"
# kind -> (file suffix, content, fragments the message must contain)
BAD_INPUTS: dict[str, tuple[str, bytes, tuple[str, ...]]] = {
    "zero-based index": (".libsvm", GOOD + b"1 0:4 5:1\n", ("line 3",)),
    "negative index": (".libsvm", GOOD + b"1 -2:4\n", ("line 3",)),
    "unsorted indices": (".libsvm", GOOD + b"1 9:1 4:1\n", ("line 3",)),
    "duplicate index": (".libsvm", GOOD + b"1 4:1 4:2\n", ("line 3",)),
    "index above 784": (".libsvm", GOOD + b"1 4:1 785:2\n", ("line 3",)),
    "NaN value": (".libsvm", GOOD + b"1 4:nan\n", ("line 3",)),
    "infinite value": (".libsvm", GOOD + b"1 4:inf\n", ("line 3",)),
    "non-numeric value": (".libsvm", GOOD + b"1 4:dark\n", ("line 3",)),
    "non-numeric label": (".libsvm", GOOD + b"seven 4:1\n", ("line 3",)),
    "truncated pair": (".libsvm", GOOD + b"1 4:1 9:\n", ("line 3",)),
    "pair without colon": (".libsvm", GOOD + b"1 4:1 9\n", ("line 3",)),
    "empty file": (".libsvm", b"", ()),
    "binary garbage": (".libsvm", bytes(range(256)) * 4, ()),
    "CSV instead of libsvm": (".libsvm", b"label,p1,p2\n3,0,255\n", ("line 1",)),
    "gzip that is not one": (".libsvm.gz", GOOD, ()),
    "bad line inside a real gzip": (".libsvm.gz", gzip.compress(GOOD + b"1 0:4\n"), ("line 3",)),
    "785 features on a row": (
        ".libsvm",
        GOOD + b"1 " + b" ".join(f"{i}:1".encode() for i in range(1, 786)) + b"\n",
        ("line 3",),
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_is_refused_in_the_first_state(
    kind: str, control_cloud: Any, tmp_path: Path, reliability_log: list[dict[str, Any]]
) -> None:
    suffix, content, fragments = BAD_INPUTS[kind]
    name = kind.replace(" ", "-") + suffix
    upload = tmp_path / name
    upload.write_bytes(content)
    outcome = run_local(
        RunOptions(
            train=upload, out_dir=tmp_path / "out", poll_seconds=0, engines=False, final_cleanup=False
        ),
        cloud=control_cloud,
    )
    metrics = read_metrics(tmp_path / "out")
    reliability_log.append(
        {
            "kind": "bad input",
            "case": kind,
            "exit_code": outcome.exit_code,
            "status": metrics["execution_status"],
            "error": metrics.get("error"),
            "training_jobs_started": metrics["training_jobs_started"],
            "rejected": f"rejected/{name}.reason.txt" in outcome.bucket_keys,
            "leaked": metrics["leaked_resources"],
        }
    )
    assert outcome.exit_code == 2, (kind, outcome.message)
    assert metrics["training_jobs_started"] == 0
    assert metrics["leaked_resources"] == [] and outcome.pipeline_leftovers == []
    assert all(fragment in metrics["error"] for fragment in fragments), metrics["error"]
    assert "\n" not in metrics["error"].strip()
    visited = [row["name"] for row in metrics["states"]]
    assert "Start the prepare job" not in visited
    assert f"rejected/{name}" in outcome.bucket_keys
    assert f"rejected/{name}.reason.txt" in outcome.bucket_keys
    assert f"incoming/{name}" not in outcome.bucket_keys
