"""The Function URL event the clustering Lambda receives, as its callers (local run, bench) build it.

A module of its own, free of side effects: importing it must not load the Lambda's observability setup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def function_url_event(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Function URL (payload format 2.0) POST event carrying a JSON body."""
    return {
        "version": "2.0",
        "rawPath": "/",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
