"""The `clusterflow` package as a zip for Glue's `--extra-py-files` and EMR Serverless' `--py-files`,
published with the Spark entry point beside it in the stack's data bucket."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from clusterflow.app.faults import call_aws

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_KEY = "artifacts/clusterflow.zip"
SCRIPT_KEY = "artifacts/project.py"
# The Spark job needs the readers, artifacts and transforms, never the CLI, the local cloud or the app.
EXCLUDED = ("cli", "local", "app", "data")
SUFFIXES = (".py", ".proto", ".typed")
# A fixed timestamp makes the zip byte-for-byte reproducible.
FIXED_DATE = (2020, 1, 1, 0, 0, 0)


def package_files(root: Path = PACKAGE_ROOT) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix in SUFFIXES
        and "__pycache__" not in path.parts
        and path.relative_to(root).parts[0] not in EXCLUDED
    )


def build_package_zip(root: Path = PACKAGE_ROOT) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in package_files(root):
            info = zipfile.ZipInfo(f"clusterflow/{path.relative_to(root).as_posix()}", date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def publish(s3: Any, bucket: str, script: Path) -> dict[str, str]:
    """Upload the package zip and the Spark entry point; returns their S3 URIs."""
    if not script.is_file():
        raise FileNotFoundError(f"{script}: the Spark entry point is missing")
    body = build_package_zip()
    call_aws("s3", lambda: s3.put_object(Bucket=bucket, Key=PACKAGE_KEY, Body=body))
    code = script.read_bytes()
    call_aws("s3", lambda: s3.put_object(Bucket=bucket, Key=SCRIPT_KEY, Body=code))
    return {"package": f"s3://{bucket}/{PACKAGE_KEY}", "script": f"s3://{bucket}/{SCRIPT_KEY}"}
