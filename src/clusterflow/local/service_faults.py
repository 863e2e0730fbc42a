"""Seam 6: transient errors injected into AWS API calls (SageMaker throttling, not-yet-visible configs).

Every moto response handler goes through `BaseResponse.call_action`; `ServiceFaultInjector` wraps it so
the first `times` calls of one operation (`service` as moto names it, `action` as the API names it, for
example `sagemaker` / `CreateTrainingJob`) answer a JSON error instead: `ThrottlingException` by
default, or any code, message and HTTP status (`ValidationException`, "Could not find endpoint
configuration ..." for an endpoint config that is not visible yet). JSON-protocol services only.
The plan is read at each call from `plan()`, so a test may swap it on a running cloud.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from moto.core.responses import BaseResponse


@dataclass(frozen=True)
class ServiceFault:
    service: str
    action: str
    times: int
    code: str = "ThrottlingException"
    message: str = "Rate exceeded (simulated by the local cloud)"
    status: int = 400


class ServiceFaultInjector:
    def __init__(self, plan: Callable[[], Sequence[ServiceFault]]) -> None:
        self._plan = plan
        self._counts: dict[ServiceFault, int] = {}
        self._lock = threading.Lock()
        self.injected: list[ServiceFault] = []
        self._original: Callable[..., Any] | None = None

    def take(self, service: str, action: str) -> ServiceFault | None:
        for fault in self._plan():
            if (fault.service, fault.action) != (service, action):
                continue
            with self._lock:
                done = self._counts.get(fault, 0)
                if done < fault.times:
                    self._counts[fault] = done + 1
                    self.injected.append(fault)
                    return fault
        return None

    def install(self) -> None:
        if self._original is not None:
            return
        original = BaseResponse.call_action
        injector = self

        def call_action(response: BaseResponse) -> Any:
            fault = injector.take(str(response.service_name), response._get_action())
            if fault is None:
                return original(response)
            body = json.dumps({"__type": fault.code, "message": fault.message})
            headers = {
                "status": str(fault.status),
                "Content-Type": "application/x-amz-json-1.1",
                "x-amzn-ErrorType": fault.code,
            }
            return fault.status, headers, body

        self._original = original
        BaseResponse.call_action = call_action  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self._original is not None:
            BaseResponse.call_action = self._original  # type: ignore[method-assign]
            self._original = None
