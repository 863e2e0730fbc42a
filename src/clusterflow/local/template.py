"""CloudFormation YAML and intrinsic functions, resolved against local physical names.

`load_template(path)` reads a template keeping the short-form tags (`!Ref`, `!Sub`, `!GetAtt`, `!If`,
...) as their long forms (`{"Ref": ...}`, `{"Fn::Sub": ...}`). `Resolver` evaluates intrinsics with a
callback for resources (`ref` and `get_att`) so the deployment module decides what a physical name is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from clusterflow.errors import ClusterflowError


class TemplateError(ClusterflowError):
    """A template the local cloud cannot read or resolve; the message names the file and the place."""


NO_VALUE = object()  # AWS::NoValue: the key or list item disappears

_SHORT_TAGS = (
    "Ref",
    "Condition",
    "GetAtt",
    "Sub",
    "If",
    "Join",
    "Select",
    "Split",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "Base64",
    "GetAZs",
    "ImportValue",
    "Cidr",
    "ToJsonString",
    "Length",
    "Transform",
)


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form tags."""


def _make_constructor(tag: str) -> Callable[[yaml.Loader, yaml.Node], Any]:
    long_name = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"

    def construct(loader: yaml.Loader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {long_name: value}

    return construct


for _tag in _SHORT_TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _make_constructor(_tag))


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into plain dicts with long-form intrinsics."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read the template ({exc.strerror})") from exc
    try:
        document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise TemplateError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path}: a template needs a 'Resources' mapping")
    return document


RefFn = Callable[[str], Any]
GetAttFn = Callable[[str, str], Any]


class Resolver:
    """Evaluates CloudFormation intrinsic functions; `where` in errors is the template path."""

    def __init__(
        self,
        *,
        where: str,
        ref: RefFn,
        get_att: GetAttFn,
        conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
        region: str,
    ) -> None:
        self._where = where
        self._ref = ref
        self._get_att = get_att
        self._condition_defs = conditions
        self._condition_values: dict[str, bool] = {}
        self._mappings = mappings
        self._region = region

    def resolve(self, value: Any, path: str = "") -> Any:
        """Resolve every intrinsic inside `value`; `path` names the place for error messages."""
        if isinstance(value, list):
            items = [self.resolve(item, f"{path}[{i}]") for i, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, arg, path)
        resolved = {k: self.resolve(v, f"{path}.{k}" if path else k) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self._condition_defs:
                raise TemplateError(f"{self._where}: condition '{name}' is not defined under Conditions")
            self._condition_values[name] = bool(self._evaluate_condition(self._condition_defs[name], name))
        return self._condition_values[name]

    def _evaluate_condition(self, value: Any, path: str) -> Any:
        if isinstance(value, dict) and len(value) == 1 and "Condition" in value:
            return self.condition(value["Condition"])
        return self.resolve(value, f"Conditions.{path}")

    def _fail(self, path: str, message: str) -> TemplateError:
        return TemplateError(f"{self._where}: {path or 'template'}: {message}")

    def _intrinsic(self, key: str, arg: Any, path: str) -> Any:
        handler = getattr(self, "_fn_" + key.replace("Fn::", "").lower(), None)
        if handler is None:
            raise self._fail(path, f"{key} is not supported by the local cloud")
        return handler(arg, path)

    def _fn_ref(self, arg: Any, path: str) -> Any:
        return self._ref(str(arg))

    def _fn_getatt(self, arg: Any, path: str) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        logical_id, attribute = self.resolve(arg, path)
        return self._get_att(logical_id, attribute)

    def _fn_sub(self, arg: Any, path: str) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], self.resolve(arg[1], path)
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise self._fail(path, "Fn::Sub needs a string")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _fn_join(self, arg: Any, path: str) -> str:
        delimiter, items = arg[0], self.resolve(arg[1], path)
        return str(delimiter).join(str(item) for item in items)

    def _fn_select(self, arg: Any, path: str) -> Any:
        index, items = self.resolve(arg, path)
        return items[int(index)]

    def _fn_split(self, arg: Any, path: str) -> list[str]:
        delimiter, text = self.resolve(arg, path)
        return str(text).split(delimiter)

    def _fn_if(self, arg: Any, path: str) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false, path)

    def _fn_equals(self, arg: Any, path: str) -> bool:
        left, right = self.resolve(arg, path)
        return str(left) == str(right)

    def _fn_not(self, arg: Any, path: str) -> bool:
        return not self._evaluate_condition(arg[0], path)

    def _fn_and(self, arg: Any, path: str) -> bool:
        return all(self._evaluate_condition(item, path) for item in arg)

    def _fn_or(self, arg: Any, path: str) -> bool:
        return any(self._evaluate_condition(item, path) for item in arg)

    def _fn_findinmap(self, arg: Any, path: str) -> Any:
        map_name, top, second = self.resolve(arg[:3], path)
        try:
            return self._mappings[map_name][top][second]
        except (KeyError, TypeError):
            raise self._fail(path, f"Fn::FindInMap: no {map_name}.{top}.{second} under Mappings") from None

    def _fn_base64(self, arg: Any, path: str) -> str:
        import base64

        return base64.b64encode(str(self.resolve(arg, path)).encode()).decode()

    def _fn_getazs(self, arg: Any, path: str) -> list[str]:
        return [f"{self._region}{zone}" for zone in "abc"]

    def _fn_tojsonstring(self, arg: Any, path: str) -> str:
        return json.dumps(self.resolve(arg, path), separators=(",", ":"))

    def _fn_length(self, arg: Any, path: str) -> int:
        return len(self.resolve(arg, path))

    def _fn_importvalue(self, arg: Any, path: str) -> Any:
        raise self._fail(path, "Fn::ImportValue needs another stack; the local cloud deploys one stack only")
