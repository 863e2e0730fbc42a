"""EventBridge pattern matching as the trigger rule needs it (moto's own matcher has no wildcard)."""

from __future__ import annotations

import pytest

from clusterflow.local.events import matches

TRIGGER = {
    "source": ["aws.s3"],
    "detail-type": ["Object Created"],
    "detail": {
        "bucket": {"name": ["data"]},
        "object": {"key": [{"wildcard": "incoming/*.libsvm"}, {"wildcard": "incoming/*.libsvm.gz"}]},
    },
}


def _event(key: str, bucket: str = "data", detail_type: str = "Object Created") -> dict:
    return {
        "source": "aws.s3",
        "detail-type": detail_type,
        "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 3}},
    }


@pytest.mark.parametrize(
    "key",
    ["incoming/a.libsvm", "incoming/sub/dir/a.libsvm", "incoming/x.libsvm.gz", "incoming/[odd]?.libsvm"],
)
def test_wildcard_keys_that_start_a_run(key: str) -> None:
    assert matches(TRIGGER, _event(key))


@pytest.mark.parametrize(
    "key",
    [
        "incoming/a.csv",
        "rejected/a.libsvm",
        "incoming/a.libsvm.reason.txt",
        "runs/r/incoming/a.libsvm",
        "incoming/a.libsvmx",
    ],
)
def test_keys_that_do_not(key: str) -> None:
    assert not matches(TRIGGER, _event(key))


def test_other_fields_must_match_too() -> None:
    assert not matches(TRIGGER, _event("incoming/a.libsvm", bucket="other"))
    assert not matches(TRIGGER, _event("incoming/a.libsvm", detail_type="Object Deleted"))
    assert not matches(TRIGGER, {"source": "aws.s3", "detail-type": "Object Created"})


def test_prefix_suffix_anything_but_exists_numeric_and_or() -> None:
    event = _event("incoming/a.libsvm")
    assert matches({"detail": {"object": {"key": [{"prefix": "incoming/"}]}}}, event)
    assert matches({"detail": {"object": {"key": [{"suffix": ".libsvm"}]}}}, event)
    assert not matches({"detail": {"object": {"key": [{"suffix": ".gz"}]}}}, event)
    assert matches({"detail": {"object": {"key": [{"anything-but": {"prefix": "rejected/"}}]}}}, event)
    assert not matches({"detail": {"object": {"key": [{"anything-but": ["incoming/a.libsvm"]}]}}}, event)
    assert matches({"detail": {"object": {"version-id": [{"exists": False}]}}}, event)
    assert matches({"detail": {"object": {"size": [{"numeric": [">", 0, "<=", 3]}]}}}, event)
    assert not matches({"detail": {"object": {"size": [{"numeric": [">", 3]}]}}}, event)
    assert matches({"$or": [{"source": ["aws.events"]}, {"detail-type": ["Object Created"]}]}, event)
    assert matches({"source": [{"equals-ignore-case": "AWS.S3"}]}, event)
