"""The one place Powertools is configured; handlers import `logger`, `tracer`, `metrics` from here.

Service name, log level and metrics namespace come from the `POWERTOOLS_*` variables set in the
template's Globals.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
tracer = Tracer()
metrics = Metrics()

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
