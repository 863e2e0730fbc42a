"""boto3 clients for the local cloud: its endpoint, fake credentials, parameter validation on."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def local_client(service: str, endpoint_url: str, region: str, **config: Any) -> Any:
    """A client for `service` at the local cloud's endpoint (retries kept short: nothing is remote)."""
    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=region,
    )
    retries = config.pop("retries", {"total_max_attempts": 2, "mode": "standard"})
    return session.client(service, endpoint_url=endpoint_url, config=Config(retries=retries, **config))  # type: ignore[call-overload]
