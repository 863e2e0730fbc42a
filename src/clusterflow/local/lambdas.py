"""Seam 1: Lambda invocations run our handlers in-process instead of moto's canned answer.

moto 5.2.5 with `lambda.use_docker: False` answers every Invoke from `LambdaSimpleBackend.invoke`
(a canned string). `LambdaRuntime.install()` replaces that one method, so every path into Lambda
(the Step Functions interpreter, boto3 `invoke`, S3 notifications, our EventBridge delivery) reaches
the handler named in `template.yaml`.

API:
    runtime = LambdaRuntime(deployment, base_environment={...}, faults=FaultPlan(...))
    runtime.install() / runtime.uninstall()          # patch / restore moto
    runtime.invoke(function_name, event) -> InvokeResult(payload: bytes, function_error: str | None)
    runtime.invocations                                # list[Invocation], in order, for reports/tests

Handlers run one at a time: each call sets `os.environ` to the function's environment and restores the
keys the process already had after it, so calls are serialised with a lock (a handler must not
synchronously invoke another Lambda). Keys the process lacked stay set until `uninstall()`: removing
keys while other threads copy `os.environ` made them fail with KeyError. So a function may see a
variable only another function declares; none of ours branches on such a variable.
Every function gets its own module (`functions/<dir>/app.py` imported under a unique name), imported on
its first call with its environment set (a cold start). Because the shared `clusterflow` package lives
once in this process, cold-start caches in `clusterflow.app` (functools caches) are cleared whenever a
different function runs than the last one, as a separate container would have them.

Faults (`FaultPlan`): `fail_at` state names fail on every attempt; `fail_error` names the error. Errors
named `Lambda.<Code>` are raised as Lambda service errors (HTTP 5xx/429 from Invoke, which Step Functions
reports as `Lambda.<Code>`); any other name is returned as a function error with that `errorType`.
`transient` maps a state name to a number of first attempts (per run) that fail with
`Lambda.TooManyRequestsException` before the handler runs normally. `service` lists `ServiceFault`s:
the first N calls of an AWS operation (e.g. SageMaker CreateTrainingJob) answer a throttling error.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TextIO

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError

from clusterflow.local.deployment import Deployment, FunctionSpec
from clusterflow.local.service_faults import ServiceFault
from clusterflow.local.streams import OutputRouter

SERVICE_FAULT = "Lambda.ServiceException"
THROTTLE_FAULT = "Lambda.TooManyRequestsException"
_STATUS_FOR_CODE = {"TooManyRequestsException": 429, "ServiceException": 500, "EC2ThrottledException": 502}


class LambdaServiceError(JsonRESTError):
    """An error of the Lambda service itself (not the function): Step Functions sees `Lambda.<code>`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = _STATUS_FOR_CODE.get(code, 500)


@dataclass
class FaultPlan:
    fail_at: frozenset[str] = frozenset()
    fail_error: str = SERVICE_FAULT
    transient: Mapping[str, int] = field(default_factory=dict)
    transient_error: str = THROTTLE_FAULT
    service: tuple[ServiceFault, ...] = ()  # AWS API errors, see clusterflow.local.service_faults


@dataclass(frozen=True)
class InvokeResult:
    payload: bytes
    function_error: str | None


@dataclass(frozen=True)
class Invocation:
    function: str
    state_name: str | None
    run_id: str | None
    error: str | None
    seconds: float


class LambdaContext:
    """The fields of the AWS Lambda context object that handlers and Powertools read."""

    def __init__(self, spec: FunctionSpec, region: str) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_size
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + spec.timeout
        self.region = region

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The payload Lambda's Python runtime returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


class LambdaRuntime:
    """Runs the deployment's handlers in-process; installable as moto's Lambda invoke."""

    def __init__(
        self,
        deployment: Deployment,
        *,
        base_environment: Mapping[str, str],
        faults: FaultPlan | None = None,
        cache_packages: tuple[str, ...] = ("clusterflow.app",),
        output: OutputRouter | None = None,
        function_log: TextIO | None = None,
    ) -> None:
        self.deployment = deployment
        self.base_environment = dict(base_environment)
        self.faults = faults or FaultPlan()
        self.invocations: list[Invocation] = []
        self._cache_packages = cache_packages
        self._output = output
        self._function_log = function_log
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str | None, str], int] = {}
        self._last_function: str | None = None
        self._original: Callable[..., Any] | None = None
        # What each environment key held before the first call set it; restored at uninstall.
        self._environment_before: dict[str, str | None] = {}

    # --- moto seam ------------------------------------------------------------------------------
    def install(self) -> None:
        if self._original is not None:
            return
        original = LambdaSimpleBackend.invoke
        runtime = self

        def invoke(
            backend: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> str | bytes | None:
            spec = runtime.deployment.function_by_name(function_name)
            if spec is None:
                return original(backend, function_name, qualifier, body, headers, response_headers)
            event = json.loads(body) if body else {}
            result = runtime.invoke(spec.name, event)
            if result.function_error:
                response_headers["x-amz-function-error"] = result.function_error
            return result.payload

        self._original = original
        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self._original is not None:
            LambdaSimpleBackend.invoke = self._original  # type: ignore[method-assign]
            self._original = None
        with self._lock:  # no handler is mid-call while the process environment is put back
            for key, value in self._environment_before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._environment_before.clear()

    # --- invocation -----------------------------------------------------------------------------
    def invoke(self, function_name: str, event: Any) -> InvokeResult:
        """Run one invocation; raises LambdaServiceError for injected service faults."""
        spec = self.deployment.function_by_name(function_name)
        if spec is None:
            raise LambdaServiceError("ResourceNotFoundException", f"Function not found: {function_name}")
        state_name, run_id = _event_field(event, "state_name"), _event_field(event, "run_id")
        started = time.monotonic()
        error: str | None = None
        try:
            injected = self._injected_fault(state_name, run_id)
            if injected is not None:
                error = injected
                return self._raise_or_return_fault(injected, spec, state_name)
            payload, error = self._run_handler(spec, event)
            return InvokeResult(payload, "Unhandled" if error else None)
        finally:
            self.invocations.append(
                Invocation(spec.logical_id, state_name, run_id, error, time.monotonic() - started)
            )

    def _injected_fault(self, state_name: str | None, run_id: str | None) -> str | None:
        if state_name is None:
            return None
        if state_name in self.faults.fail_at:
            return self.faults.fail_error
        budget = self.faults.transient.get(state_name, 0)
        if budget:
            with self._lock:
                attempts = self._attempts.get((run_id, state_name), 0)
                self._attempts[(run_id, state_name)] = attempts + 1
            if attempts < budget:
                return self.faults.transient_error
        return None

    def _raise_or_return_fault(self, error: str, spec: FunctionSpec, state_name: str | None) -> InvokeResult:
        message = f"simulated fault injected at state {state_name} ({spec.logical_id})"
        if error.startswith("Lambda."):
            raise LambdaServiceError(error.removeprefix("Lambda."), message)
        payload = {"errorType": error, "errorMessage": message}
        return InvokeResult(json.dumps(payload).encode(), "Unhandled")

    def _run_handler(self, spec: FunctionSpec, event: Any) -> tuple[bytes, str | None]:
        routed = (
            self._output.route(self._function_log)
            if self._output is not None and self._function_log is not None
            else contextlib.nullcontext()
        )
        with self._lock, self._environment(spec), routed:
            if self._last_function != spec.logical_id:
                self._clear_cold_start_caches()
                self._last_function = spec.logical_id
            context = LambdaContext(spec, self.deployment.region)
            try:
                handler = self._handler(spec)
                result = handler(event, context)
                return json.dumps(result, default=str).encode(), None
            except Exception as exc:  # noqa: BLE001 - every handler failure becomes Lambda's error payload
                payload = error_payload(exc)
                return json.dumps(payload).encode(), str(payload["errorType"])

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, LambdaContext], Any]:
        module = self._modules.get(spec.logical_id)
        if module is None:
            module = _import_handler_module(spec)
            self._modules[spec.logical_id] = module
        handler = getattr(module, spec.handler_name, None)
        if not callable(handler):
            raise AttributeError(
                f"{spec.handler_file}: no function '{spec.handler_name}' (Handler {spec.handler})"
            )
        return handler  # type: ignore[no-any-return]

    def _clear_cold_start_caches(self) -> None:
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith(self._cache_packages):
                continue
            for value in list(vars(module).values()):
                clear = getattr(value, "cache_clear", None)
                if callable(clear) and getattr(value, "__module__", None) == name:
                    clear()

    def _environment(self, spec: FunctionSpec) -> _EnvironmentSwap:
        values = dict(self.base_environment)
        values.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "AWS_REGION": self.deployment.region,
                "AWS_DEFAULT_REGION": self.deployment.region,
                "_HANDLER": spec.handler,
            }
        )
        values.update(spec.environment)
        return _EnvironmentSwap(values, self._environment_before)


class _EnvironmentSwap:
    """Sets environment variables for a block and restores, after it, the keys that existed before.

    A key the process did not have stays set until the runtime is uninstalled: popping it would race
    with other threads (the interpreter's, Spark's) that copy `os.environ` key by key and then fail
    with a KeyError. `first_seen` records each key's value before any call touched it.
    """

    def __init__(self, values: Mapping[str, str], first_seen: dict[str, str | None]) -> None:
        self._values = values
        self._first_seen = first_seen
        self._saved: dict[str, str] = {}

    def __enter__(self) -> None:
        for key in self._values:
            self._first_seen.setdefault(key, os.environ.get(key))
        self._saved = {key: os.environ[key] for key in self._values if key in os.environ}
        os.environ.update(self._values)

    def __exit__(self, *exc: object) -> None:
        os.environ.update(self._saved)


def _event_field(event: Any, name: str) -> str | None:
    if isinstance(event, dict) and isinstance(event.get(name), str):
        return str(event[name])
    return None


def _import_handler_module(spec: FunctionSpec) -> ModuleType:
    """Import `functions/<dir>/app.py` as its own module, so two functions' `app.py` never collide."""
    module_name = f"clusterflow_local_function_{spec.logical_id}"
    loader_spec = importlib.util.spec_from_file_location(module_name, spec.handler_file)
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError(f"cannot import handler file {spec.handler_file}")
    module = importlib.util.module_from_spec(loader_spec)
    code_dir = str(spec.code_dir)
    sys.path.insert(0, code_dir)
    try:
        loader_spec.loader.exec_module(module)
    finally:
        sys.path.remove(code_dir)
    sys.modules[module_name] = module
    return module
