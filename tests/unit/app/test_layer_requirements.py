"""The Lambda layer's requirements are all pinned, as in requirements-lock.txt except where Lambda's
python3.11 platform (glibc 2.26) needs an older wheel; those exceptions are listed and explained."""

from __future__ import annotations

import re

from .conftest import REPO_ROOT

PLATFORM_EXCEPTIONS = {"numpy", "pillow"}


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"unpinned requirement: {line}"
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def test_layer_requirements_match_the_lock() -> None:
    layer_text = (REPO_ROOT / "src" / "requirements.txt").read_text()
    layer = pins(layer_text)
    lock = pins((REPO_ROOT / "requirements-lock.txt").read_text())
    for name in ("aws-lambda-powertools", "aws-xray-sdk", "numpy", "protobuf", "pydantic", "pillow"):
        assert name in layer
    for name, version in layer.items():
        if name in PLATFORM_EXCEPTIONS:
            assert version != lock[name] and "glibc 2.26" in layer_text
        else:
            assert lock[name] == version, name
