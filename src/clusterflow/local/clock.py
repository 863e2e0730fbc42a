"""Seam 5: Retry backoff of the local Step Functions interpreter, optionally compressed.

moto 5.2.5's interpreter waits for a Retrier's interval with `time.sleep` in
`moto.stepfunctions.parser.asl.component.common.retry.retrier_decl`. The pipeline's retries back off
2 s x 2^n over six attempts (about two minutes): right on AWS, too slow for an offline fault walk over
every state. `RetryClock(scale).install()` makes that module's sleeps `scale` times as long; the ASL, the
attempt counts and the history are unchanged. scale=1.0 (the default) leaves moto untouched.
"""

from __future__ import annotations

import time
from types import ModuleType, SimpleNamespace

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl


class RetryClock:
    def __init__(self, scale: float = 1.0) -> None:
        if scale < 0:
            raise ValueError(f"retry time scale must be >= 0, not {scale}")
        self.scale = scale
        self.slept: list[float] = []  # the intervals the ASL asked for, in seconds, unscaled
        self._original: ModuleType | SimpleNamespace | None = None

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        time.sleep(seconds * self.scale)

    def install(self) -> None:
        if self._original is None:
            self._original = retrier_decl.time
            retrier_decl.time = SimpleNamespace(sleep=self._sleep)  # type: ignore[assignment]

    def uninstall(self) -> None:
        if self._original is not None:
            retrier_decl.time = self._original  # type: ignore[assignment]
            self._original = None
