"""Seam 2: EventBridge rules deliver to Lambda functions and state machines.

moto 5.2.5 sends S3's EventBridge notifications to every rule through `Rule.send_to_targets`, whose
targets cover only logs, SQS, event buses and API destinations, and whose matcher has no `wildcard`.
`EventDelivery.install()` wraps that method: a rule's Lambda and Step Functions targets get the event
when `matches(pattern, event)` says so, delivered asynchronously (as EventBridge does) on one worker
thread, Lambda targets through moto's Lambda backend (so through the Lambda seam); other targets go on
to moto's own code.

API:
    matches(pattern: Mapping, event: Mapping) -> bool       # EventBridge pattern semantics
    delivery = EventDelivery(account, region); delivery.install(); ...; delivery.uninstall()
    delivery.deliver(targets, event)   # what a schedule does when `fire` is asked for it
    delivery.wait_idle(timeout)        # every queued event delivered
    delivery.failures                  # (target arn, error) of deliveries that raised
"""

from __future__ import annotations

import copy
import fnmatch
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from moto.events.models import Rule

LOG = logging.getLogger(__name__)
_UNDEFINED = object()


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether `event` matches the EventBridge event pattern (exact, prefix, suffix, wildcard, ...)."""
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(branch, event) for branch in expected):
                return False
            continue
        value = event.get(key, _UNDEFINED) if isinstance(event, Mapping) else _UNDEFINED
        if isinstance(expected, Mapping):
            if not isinstance(value, Mapping) or not matches(expected, value):
                return False
        elif not _value_matches(value, expected):
            return False
    return True


def _value_matches(value: Any, filters: Sequence[Any]) -> bool:
    values = value if isinstance(value, list) else [value]
    for item_filter in filters:
        if isinstance(item_filter, Mapping):
            if _named_filter(value, item_filter):
                return True
        elif any(v is not _UNDEFINED and v == item_filter for v in values):
            return True
    return False


def _named_filter(value: Any, item_filter: Mapping[str, Any]) -> bool:
    ((name, argument),) = item_filter.items()
    if name == "exists":
        return (value is not _UNDEFINED) == bool(argument)
    if value is _UNDEFINED:
        return False
    values = value if isinstance(value, list) else [value]
    return any(_one_filter(name, argument, v) for v in values)


def _one_filter(name: str, argument: Any, value: Any) -> bool:
    text = value if isinstance(value, str) else None
    if name == "prefix":
        if isinstance(argument, Mapping):
            return text is not None and text.lower().startswith(str(argument["equals-ignore-case"]).lower())
        return text is not None and text.startswith(argument)
    if name == "suffix":
        if isinstance(argument, Mapping):
            return text is not None and text.lower().endswith(str(argument["equals-ignore-case"]).lower())
        return text is not None and text.endswith(argument)
    if name == "wildcard":
        # EventBridge's only wildcard is `*` (any run of characters, `/` included); `[` is literal.
        escaped = str(argument).replace("[", "[[]").replace("?", "[?]")
        return text is not None and fnmatch.fnmatchcase(text, escaped)
    if name == "equals-ignore-case":
        return text is not None and text.lower() == str(argument).lower()
    if name == "anything-but":
        if isinstance(argument, Mapping):
            return not _named_filter(value, argument)
        excluded = argument if isinstance(argument, list) else [argument]
        return value not in excluded
    if name == "numeric":
        return isinstance(value, int | float) and _numeric(value, argument)
    raise ValueError(f"event pattern filter '{name}' is not supported by the local cloud")


def _numeric(value: float, conditions: Sequence[Any]) -> bool:
    checks: dict[str, Callable[[float, float], bool]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        "=": lambda a, b: a == b,
        ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b,
    }
    pairs = zip(conditions[::2], conditions[1::2], strict=True)
    return all(checks[op](value, float(bound)) for op, bound in pairs)


def _as_eventbridge_sends(event: Mapping[str, Any]) -> dict[str, Any]:
    """moto stamps S3 events with a unix time; EventBridge sends an ISO 8601 string."""
    sent = copy.deepcopy(dict(event))
    if isinstance(sent.get("time"), int | float):
        sent["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent["time"]))
    return sent


def _is_ours(arn: str) -> bool:
    return arn.startswith("arn:") and arn.split(":")[2] in ("lambda", "states")


class EventDelivery:
    """Asynchronous delivery of matched events to Lambda and Step Functions targets."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region
        self.failures: list[tuple[str, str]] = []
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        self._queue: queue.Queue[tuple[list[dict[str, Any]], dict[str, Any]] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._original: Callable[..., Any] | None = None

    def install(self) -> None:
        if self._original is not None:
            return
        original = Rule.send_to_targets
        delivery = self

        def send_to_targets(rule: Rule, original_event: Any, transform_input: bool = True) -> None:
            ours = [t for t in rule.targets if _is_ours(str(t.get("Arn", "")))]
            others = [t for t in rule.targets if not _is_ours(str(t.get("Arn", "")))]
            pattern = rule.event_pattern.get_pattern()
            # A rule without a pattern is a schedule: events never match it.
            if ours and pattern and rule.state == "ENABLED" and matches(pattern, original_event):
                delivery.deliver(ours, _as_eventbridge_sends(original_event))
            if others:
                shallow = copy.copy(rule)
                shallow.targets = others
                original(shallow, original_event, transform_input)

        self._original = original
        Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]
        self._worker = threading.Thread(target=self._run, name="clusterflow-event-delivery", daemon=True)
        self._worker.start()

    def uninstall(self) -> None:
        if self._original is not None:
            Rule.send_to_targets = self._original  # type: ignore[method-assign]
            self._original = None
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=30)
            self._worker = None

    def deliver(self, targets: Sequence[Mapping[str, Any]], event: dict[str, Any]) -> None:
        self._queue.put(([dict(t) for t in targets], event))

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every queued event has been delivered (or raise TimeoutError)."""
        done = threading.Event()
        self._queue.put(([{"Arn": "__marker__", "_done": done}], {}))
        if not done.wait(timeout):
            raise TimeoutError(f"events not delivered within {timeout} s")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            targets, event = item
            for target in targets:
                if target.get("Arn") == "__marker__":
                    target["_done"].set()
                    continue
                self._deliver_one(target, event)

    def _deliver_one(self, target: Mapping[str, Any], event: dict[str, Any]) -> None:
        arn = str(target["Arn"])
        payload = json.loads(target["Input"]) if target.get("Input") else event
        try:
            if arn.split(":")[2] == "lambda":
                _invoke_lambda(self.account, arn, payload)
            else:
                _start_execution(self.account, arn, payload)
            self.delivered.append((arn, payload))
        except Exception as exc:  # noqa: BLE001 - EventBridge delivery never fails the sender
            LOG.warning("delivery of %s to %s failed: %s", event.get("detail-type"), arn, exc)
            self.failures.append((arn, f"{type(exc).__name__}: {exc}"))


def _invoke_lambda(account: str, arn: str, event: Mapping[str, Any]) -> None:
    from moto.awslambda.utils import get_backend

    region = arn.split(":")[3]
    response_headers: dict[str, str] = {}
    get_backend(account, region).invoke(
        function_name=arn,
        qualifier=None,
        body=json.dumps(event),
        headers={"X-Amz-Invocation-Type": "Event"},
        response_headers=response_headers,
    )
    if response_headers.get("x-amz-function-error"):
        raise RuntimeError(f"function error ({response_headers['x-amz-function-error']})")


def _start_execution(account: str, arn: str, event: Mapping[str, Any]) -> None:
    from moto.stepfunctions.responses import get_backend

    get_backend(account, arn.split(":")[3]).start_execution(
        state_machine_arn=arn, name=str(uuid.uuid4()), execution_input=json.dumps(event)
    )
