"""The local deployment, read from `template.yaml`: nothing about the wiring is written twice.

API (for the local cloud and anyone who needs the offline wiring):

    load_deployment(template_path: Path, *, stack_name: str, region: str = "us-east-1",
                    account: str = "123456789012", parameter_overrides: Mapping[str, str] | None = None,
                    physical_ids: Mapping[str, str] | None = None) -> Deployment

`Deployment` holds, all resolved (intrinsics evaluated against local physical names):
- `functions: dict[logical_id, FunctionSpec]`: every `AWS::Serverless::Function` (SAM `Globals.Function`
  merged) and `AWS::Lambda::Function`; `FunctionSpec.name`, `.arn`, `.handler_file`
  (`functions/<dir>/app.py`), `.handler_name` (`lambda_handler`), `.environment`, `.timeout`, `.memory_size`,
  `.runtime`, `.role_arn`, `.url_auth_type` (Function URL AuthType or None).
- `state_machines: dict[logical_id, StateMachineSpec]`: `.name`, `.arn`, `.role_arn`, `.definition` (the
  ASL as a dict, `DefinitionSubstitutions` applied).
- `rules: dict[logical_id, RuleSpec]`: EventBridge rules (`AWS::Events::Rule`, SAM `EventBridgeRule` /
  `CloudWatchEvent` / `Schedule` / `ScheduleV2` events, `AWS::Scheduler::Schedule`): `.event_pattern`
  (dict or None), `.schedule` (expression or None), `.targets` (`TargetSpec(id, arn, input)`), `.enabled`.
- `buckets`, `roles`, `glue_jobs`, `emr_applications`, `outputs`, `parameters`.
- `data_bucket` (the bucket named by the `DATA_BUCKET` variable, else the only bucket), `state_machine`
  (the only state machine), `function(logical_id)`, `function_by_name(name)`.

Physical names: a name property in the template wins; otherwise `<stack>-<LogicalId>` (buckets lower-cased),
deterministic so that tests and `local up` can name things. `physical_ids` overrides a resource's physical
id (the local cloud uses it for ids that a service assigns, like an EMR Serverless application id).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterflow.local.template import NO_VALUE, Resolver, TemplateError, load_template

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
_NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Glue::Job": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
}


_FUNCTION_KEYS = (
    "Handler",
    "CodeUri",
    "Runtime",
    "Timeout",
    "MemorySize",
    "Environment",
    "Role",
    "FunctionUrlConfig",
    "FunctionName",
)
_STATE_MACHINE_KEYS = (
    "Definition",
    "DefinitionString",
    "DefinitionUri",
    "DefinitionSubstitutions",
    "Role",
    "RoleArn",
    "Name",
    "StateMachineName",
)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    handler_file: Path
    handler_name: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    role_arn: str
    url_auth_type: str | None


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    arn: str
    role_arn: str
    definition: dict[str, Any]


@dataclass(frozen=True)
class TargetSpec:
    id: str
    arn: str
    input: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    logical_id: str
    name: str
    event_pattern: dict[str, Any] | None
    schedule: str | None
    targets: tuple[TargetSpec, ...]
    enabled: bool = True
    event_bus: str = "default"


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    versioned: bool
    eventbridge: bool


@dataclass(frozen=True)
class RoleSpec:
    logical_id: str
    name: str
    arn: str
    assume_role_policy: dict[str, Any]


@dataclass(frozen=True)
class GlueJobSpec:
    logical_id: str
    name: str
    role_arn: str
    script_location: str
    default_arguments: dict[str, str]
    glue_version: str | None
    max_concurrent_runs: int = 1


@dataclass(frozen=True)
class EmrApplicationSpec:
    logical_id: str
    name: str
    id: str
    arn: str
    release_label: str
    type: str


@dataclass
class Deployment:
    template_path: Path
    stack_name: str
    region: str
    account: str
    parameters: dict[str, Any]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    state_machines: dict[str, StateMachineSpec] = field(default_factory=dict)
    rules: dict[str, RuleSpec] = field(default_factory=dict)
    buckets: dict[str, BucketSpec] = field(default_factory=dict)
    roles: dict[str, RoleSpec] = field(default_factory=dict)
    glue_jobs: dict[str, GlueJobSpec] = field(default_factory=dict)
    emr_applications: dict[str, EmrApplicationSpec] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.template_path.parent

    @property
    def data_bucket(self) -> BucketSpec:
        named = {fn.environment.get("DATA_BUCKET") for fn in self.functions.values()} - {None}
        candidates = [b for b in self.buckets.values() if b.name in named] or list(self.buckets.values())
        if len(candidates) != 1:
            raise TemplateError(
                f"{self.template_path}: cannot tell the data bucket: {len(candidates)} candidates "
                "(set DATA_BUCKET in Globals.Function.Environment)"
            )
        return candidates[0]

    @property
    def state_machine(self) -> StateMachineSpec:
        if len(self.state_machines) != 1:
            raise TemplateError(
                f"{self.template_path}: expected one state machine, found {len(self.state_machines)}"
            )
        return next(iter(self.state_machines.values()))

    def function(self, logical_id: str) -> FunctionSpec:
        try:
            return self.functions[logical_id]
        except KeyError:
            raise TemplateError(f"{self.template_path}: no function '{logical_id}' in Resources") from None

    def function_by_name(self, name: str) -> FunctionSpec | None:
        """The function with this physical name, ARN (qualified or not) or logical id."""
        bare = name.split(":")[6] if name.startswith("arn:") and name.count(":") >= 6 else name
        for spec in self.functions.values():
            if bare in (spec.name, spec.logical_id):
                return spec
        return None


class _Loader:
    """Resolves one template into a Deployment; physical names are computed lazily and memoised."""

    def __init__(
        self,
        template_path: Path,
        document: dict[str, Any],
        *,
        stack_name: str,
        region: str,
        account: str,
        parameter_overrides: Mapping[str, str],
        physical_ids: Mapping[str, str],
    ) -> None:
        self.path = template_path
        self.stack_name = stack_name
        self.region = region
        self.account = account
        self.resources: dict[str, dict[str, Any]] = dict(document["Resources"])
        self.globals = document.get("Globals") or {}
        self.document = document
        self.physical_ids = dict(physical_ids)
        self.parameters = self._parameters(document.get("Parameters") or {}, parameter_overrides)
        self._names: dict[str, str] = {}
        self._resolving: set[str] = set()
        self._add_implicit_resources()
        self.resolver = Resolver(
            where=str(template_path),
            ref=self.ref,
            get_att=self.get_att,
            conditions=document.get("Conditions") or {},
            mappings=document.get("Mappings") or {},
            region=region,
        )

    def _parameters(self, declared: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"{self.path}: parameter override for undeclared {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in overrides:
                value: Any = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise TemplateError(f"{self.path}: parameter '{name}' has no Default and no override")
            if str(spec.get("Type", "")).startswith(("CommaDelimitedList", "List<")) and isinstance(
                value, str
            ):
                value = [item.strip() for item in value.split(",")] if value else []
            values[name] = value
        return values

    def _add_implicit_resources(self) -> None:
        """The roles and URLs SAM generates, so `!GetAtt FooFunctionRole.Arn` and `FooFunctionUrl` resolve."""
        for logical_id, resource in list(self.resources.items()):
            rtype = resource.get("Type")
            props = resource.get("Properties") or {}
            if (
                rtype in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine")
                and "Role" not in props
            ):
                principal = "lambda.amazonaws.com" if rtype.endswith("Function") else "states.amazonaws.com"
                self.resources.setdefault(
                    f"{logical_id}Role",
                    {
                        "Type": "AWS::IAM::Role",
                        "Properties": {"AssumeRolePolicyDocument": _assume_role(principal)},
                    },
                )
            if rtype == "AWS::Serverless::Function" and self._function_props(logical_id).get(
                "FunctionUrlConfig"
            ):
                self.resources.setdefault(
                    f"{logical_id}Url",
                    {
                        "Type": "AWS::Lambda::Url",
                        "Properties": {"TargetFunctionArn": {"Ref": logical_id}},
                    },
                )

    def _function_props(self, logical_id: str) -> dict[str, Any]:
        props = dict(self.resources[logical_id].get("Properties") or {})
        if self.resources[logical_id].get("Type") != "AWS::Serverless::Function":
            return props
        merged = dict(self.globals.get("Function") or {})
        for key, value in props.items():
            if key == "Environment":
                variables = dict((merged.get("Environment") or {}).get("Variables") or {})
                variables.update((value or {}).get("Variables") or {})
                merged["Environment"] = {"Variables": variables}
            elif key == "Layers":
                merged["Layers"] = list(merged.get("Layers") or []) + list(value or [])
            else:
                merged[key] = value
        return merged

    def active(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.resolver.condition(condition)

    # --- physical names -------------------------------------------------------------------------
    def name(self, logical_id: str) -> str:
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._resolving:
            raise TemplateError(f"{self.path}: Resources.{logical_id}: its name depends on itself")
        self._resolving.add(logical_id)
        try:
            self._names[logical_id] = self._compute_name(logical_id)
        finally:
            self._resolving.discard(logical_id)
        return self._names[logical_id]

    def _compute_name(self, logical_id: str) -> str:
        if logical_id in self.physical_ids:
            return self.physical_ids[logical_id]
        resource = self.resources[logical_id]
        rtype = resource.get("Type", "")
        prop = _NAME_PROPERTY.get(rtype)
        props = (
            self._function_props(logical_id) if rtype in _FUNCTION_TYPES else resource.get("Properties") or {}
        )
        if prop and props.get(prop) is not None:
            return str(self.resolver.resolve(props[prop], f"Resources.{logical_id}.Properties.{prop}"))
        if rtype == "AWS::EMRServerless::Application":
            return "00" + hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()[:14]
        generated = f"{self.stack_name}-{logical_id}"
        if rtype == "AWS::S3::Bucket":
            return generated.lower()[:63]
        return generated[:64]

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}"
            f":stack/{self.stack_name}/local",
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.resources:
            raise TemplateError(f"{self.path}: Ref to '{name}', which is neither a parameter nor a resource")
        rtype = self.resources[name].get("Type", "")
        if rtype in _STATE_MACHINE_TYPES or rtype in (
            "AWS::SNS::Topic",
            "AWS::Serverless::LayerVersion",
            "AWS::Lambda::LayerVersion",
        ):
            return self.get_att(name, "Arn")
        if rtype == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.name(name)}"
        return self.name(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.resources:
            raise TemplateError(f"{self.path}: GetAtt {logical_id}.{attribute}: no such resource")
        rtype = self.resources[logical_id].get("Type", "")
        name = self.name(logical_id)
        region, account = self.region, self.account
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::Serverless::StateMachine": f"arn:aws:states:{region}:{account}:stateMachine:{name}",
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{region}:{account}:stateMachine:{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{region}:{account}:rule/{name}",
            "AWS::Scheduler::Schedule": f"arn:aws:scheduler:{region}:{account}:schedule/default/{name}",
            "AWS::EMRServerless::Application": f"arn:aws:emr-serverless:{region}:{account}"
            f":/applications/{name}",
            "AWS::Glue::Job": f"arn:aws:glue:{region}:{account}:job/{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{region}:{account}:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{name}:*",
            "AWS::Serverless::LayerVersion": f"arn:aws:lambda:{region}:{account}:layer:{name}:1",
            "AWS::Lambda::LayerVersion": f"arn:aws:lambda:{region}:{account}:layer:{name}:1",
        }
        if attribute == "Arn" and rtype in arns:
            return arns[rtype]
        if attribute == "Arn" and rtype.startswith("AWS::") and rtype.count("::") == 2:
            service, kind = rtype.split("::")[1:]
            return f"arn:aws:{service.lower()}:{region}:{account}:{kind.lower()}/{name}"
        special = {
            ("AWS::S3::Bucket", "DomainName"): f"{name}.s3.amazonaws.com",
            ("AWS::S3::Bucket", "RegionalDomainName"): f"{name}.s3.{region}.amazonaws.com",
            ("AWS::Serverless::StateMachine", "Name"): name,
            ("AWS::StepFunctions::StateMachine", "Name"): name,
            ("AWS::IAM::Role", "RoleId"): "AROA" + hashlib.sha256(name.encode()).hexdigest()[:17].upper(),
            ("AWS::EMRServerless::Application", "ApplicationId"): name,
            ("AWS::Lambda::Url", "FunctionUrl"): f"https://{hashlib.sha256(name.encode()).hexdigest()[:32]}"
            f".lambda-url.{region}.on.aws/",
        }
        if (rtype, attribute) in special:
            return special[(rtype, attribute)]
        raise TemplateError(f"{self.path}: GetAtt {logical_id}.{attribute} is not supported for {rtype}")

    # --- resources ------------------------------------------------------------------------------
    def props(self, logical_id: str, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Resolved properties; only `keys` when given (policies and the like are never needed offline)."""
        rtype = self.resources[logical_id].get("Type")
        raw = (
            self._function_props(logical_id)
            if rtype in _FUNCTION_TYPES
            else (self.resources[logical_id].get("Properties") or {})
        )
        if keys is not None:
            raw = {key: value for key, value in raw.items() if key in keys}
        return dict(self.resolver.resolve(raw, f"Resources.{logical_id}.Properties"))

    def logical_ids(self, *types: str) -> list[str]:
        return [lid for lid, res in self.resources.items() if res.get("Type") in types and self.active(lid)]

    def role_arn(self, logical_id: str, props: Mapping[str, Any]) -> str:
        role = props.get("Role")
        if role is None:
            return str(self.get_att(f"{logical_id}Role", "Arn"))
        if str(role).startswith("arn:"):
            return str(role)
        return f"arn:aws:iam::{self.account}:role/{role}"

    def function(self, logical_id: str) -> FunctionSpec:
        props = self.props(logical_id, _FUNCTION_KEYS)
        where = f"{self.path}: Resources.{logical_id}"
        handler = props.get("Handler")
        code_uri = props.get("CodeUri")
        if not handler or not isinstance(code_uri, str):
            raise TemplateError(f"{where}: the local cloud needs a Handler and a local CodeUri directory")
        code_dir = (self.path.parent / code_uri).resolve()
        module_path, _, handler_name = str(handler).rpartition(".")
        handler_file = code_dir / (module_path.replace(".", "/") + ".py")
        if not handler_file.is_file():
            raise TemplateError(f"{where}: handler file {handler_file} does not exist")
        variables = (props.get("Environment") or {}).get("Variables") or {}
        url_config = props.get("FunctionUrlConfig") or {}
        return FunctionSpec(
            logical_id=logical_id,
            name=self.name(logical_id),
            arn=str(self.get_att(logical_id, "Arn")),
            code_dir=code_dir,
            handler=str(handler),
            handler_file=handler_file,
            handler_name=handler_name,
            runtime=str(props.get("Runtime", "python3.11")),
            timeout=int(props.get("Timeout", 3)),
            memory_size=int(props.get("MemorySize", 128)),
            environment={str(k): _env_string(v) for k, v in variables.items()},
            role_arn=self.role_arn(logical_id, props),
            url_auth_type=url_config.get("AuthType"),
        )

    def state_machine(self, logical_id: str) -> StateMachineSpec:
        props = self.props(logical_id, _STATE_MACHINE_KEYS)
        where = f"{self.path}: Resources.{logical_id}"
        definition = self._definition(props, where)
        substitutions = {str(k): str(v) for k, v in (props.get("DefinitionSubstitutions") or {}).items()}
        definition = _substitute(definition, substitutions, where)
        return StateMachineSpec(
            logical_id=logical_id,
            name=self.name(logical_id),
            arn=str(self.get_att(logical_id, "Arn")),
            role_arn=self.role_arn(
                logical_id,
                {"Role": props.get("Role", props.get("RoleArn"))}
                if props.get("Role", props.get("RoleArn"))
                else {},
            ),
            definition=definition,
        )

    def _definition(self, props: Mapping[str, Any], where: str) -> dict[str, Any]:
        if isinstance(props.get("Definition"), dict):
            return dict(props["Definition"])
        if isinstance(props.get("DefinitionString"), str):
            return dict(json.loads(props["DefinitionString"]))
        uri = props.get("DefinitionUri")
        if not isinstance(uri, str):
            raise TemplateError(f"{where}: needs Definition, DefinitionString or a local DefinitionUri")
        path = (self.path.parent / uri).resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateError(f"{where}: cannot read DefinitionUri {path} ({exc.strerror})") from exc
        try:
            if path.suffix in (".yaml", ".yml"):
                import yaml

                return dict(yaml.safe_load(text))
            return dict(json.loads(text))
        except ValueError as exc:
            raise TemplateError(f"{path}: not a valid state machine definition ({exc})") from exc


def _assume_role(principal: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}],
    }


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _substitute(definition: Any, substitutions: Mapping[str, str], where: str) -> Any:
    """Apply DefinitionSubstitutions (`${Name}`) inside every string of the ASL, as SAM does."""
    if isinstance(definition, dict):
        return {
            _substitute(k, substitutions, where): _substitute(v, substitutions, where)
            for k, v in definition.items()
        }
    if isinstance(definition, list):
        return [_substitute(item, substitutions, where) for item in definition]
    if isinstance(definition, str) and "${" in definition:
        for key, value in substitutions.items():
            definition = definition.replace("${" + key + "}", value)
        return definition
    return definition


def _rules_from_function_events(loader: _Loader, logical_id: str, target_arn: str) -> list[RuleSpec]:
    """SAM event sources that become EventBridge rules (EventBridgeRule, CloudWatchEvent, Schedule)."""
    resource_type = loader.resources[logical_id].get("Type")
    raw_props = (
        loader._function_props(logical_id)
        if resource_type in _FUNCTION_TYPES
        else (loader.resources[logical_id].get("Properties") or {})
    )
    events = loader.resolver.resolve(
        raw_props.get("Events") or {}, f"Resources.{logical_id}.Properties.Events"
    )
    rules = []
    for event_id, event in events.items():
        props = event.get("Properties") or {}
        kind = event.get("Type")
        pattern = props.get("Pattern") if kind in ("EventBridgeRule", "CloudWatchEvent") else None
        schedule = props.get("Schedule") if kind in ("Schedule", "ScheduleV2") else None
        if pattern is None and schedule is None:
            continue
        input_text = props.get("Input")
        enabled = props.get("Enabled", True) is not False and props.get("State", "ENABLED") == "ENABLED"
        rules.append(
            RuleSpec(
                logical_id=f"{logical_id}{event_id}",
                name=str(
                    props.get("RuleName")
                    or props.get("Name")
                    or f"{loader.stack_name}-{logical_id}{event_id}"
                )[:64],
                event_pattern=pattern,
                schedule=schedule,
                targets=(
                    TargetSpec(
                        id=f"{logical_id}Target",
                        arn=target_arn,
                        input=input_text if isinstance(input_text, str) else None,
                    ),
                ),
                enabled=enabled,
                event_bus=str(props.get("EventBusName", "default")),
            )
        )
    return rules


def _rule_resource(loader: _Loader, logical_id: str) -> RuleSpec:
    props = loader.props(logical_id)
    targets = tuple(
        TargetSpec(id=str(t.get("Id", f"Target{i}")), arn=str(t["Arn"]), input=t.get("Input"))
        for i, t in enumerate(props.get("Targets") or [])
    )
    pattern = props.get("EventPattern")
    if isinstance(pattern, str):
        pattern = json.loads(pattern)
    return RuleSpec(
        logical_id=logical_id,
        name=loader.name(logical_id),
        event_pattern=pattern,
        schedule=props.get("ScheduleExpression"),
        targets=targets,
        enabled=props.get("State", "ENABLED") == "ENABLED",
        event_bus=str(props.get("EventBusName", "default")),
    )


def _schedule_resource(loader: _Loader, logical_id: str) -> RuleSpec:
    props = loader.props(logical_id)
    target = props.get("Target") or {}
    return RuleSpec(
        logical_id=logical_id,
        name=loader.name(logical_id),
        event_pattern=None,
        schedule=props.get("ScheduleExpression"),
        targets=(TargetSpec(id="Target0", arn=str(target.get("Arn", "")), input=target.get("Input")),),
        enabled=props.get("State", "ENABLED") == "ENABLED",
    )


def load_deployment(
    template_path: Path,
    *,
    stack_name: str,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    parameter_overrides: Mapping[str, str] | None = None,
    physical_ids: Mapping[str, str] | None = None,
) -> Deployment:
    """Read `template_path` (SAM/CloudFormation) and resolve everything the local cloud deploys."""
    template_path = Path(template_path).resolve()
    loader = _Loader(
        template_path,
        load_template(template_path),
        stack_name=stack_name,
        region=region,
        account=account,
        parameter_overrides=parameter_overrides or {},
        physical_ids=physical_ids or {},
    )
    deployment = Deployment(template_path, stack_name, region, account, dict(loader.parameters))
    for lid in loader.logical_ids(*_FUNCTION_TYPES):
        spec = loader.function(lid)
        deployment.functions[lid] = spec
        for rule in _rules_from_function_events(loader, lid, spec.arn):
            deployment.rules[rule.logical_id] = rule
    for lid in loader.logical_ids(*_STATE_MACHINE_TYPES):
        machine = loader.state_machine(lid)
        deployment.state_machines[lid] = machine
        for rule in _rules_from_function_events(loader, lid, machine.arn):
            deployment.rules[rule.logical_id] = rule
    for lid in loader.logical_ids("AWS::Events::Rule"):
        deployment.rules[lid] = _rule_resource(loader, lid)
    for lid in loader.logical_ids("AWS::Scheduler::Schedule"):
        deployment.rules[lid] = _schedule_resource(loader, lid)
    for lid in loader.logical_ids("AWS::S3::Bucket"):
        props = loader.props(lid, ("VersioningConfiguration", "NotificationConfiguration", "BucketName"))
        notifications = props.get("NotificationConfiguration") or {}
        deployment.buckets[lid] = BucketSpec(
            logical_id=lid,
            name=loader.name(lid),
            versioned=(props.get("VersioningConfiguration") or {}).get("Status") == "Enabled",
            eventbridge=bool((notifications.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled")),
        )
    for lid in loader.logical_ids("AWS::IAM::Role"):
        props = loader.props(lid, ("AssumeRolePolicyDocument", "RoleName"))
        deployment.roles[lid] = RoleSpec(
            logical_id=lid,
            name=loader.name(lid),
            arn=str(loader.get_att(lid, "Arn")),
            assume_role_policy=dict(
                props.get("AssumeRolePolicyDocument") or _assume_role("lambda.amazonaws.com")
            ),
        )
    for lid in loader.logical_ids("AWS::Glue::Job"):
        props = loader.props(
            lid, ("Name", "Role", "Command", "DefaultArguments", "GlueVersion", "ExecutionProperty")
        )
        command = props.get("Command") or {}
        deployment.glue_jobs[lid] = GlueJobSpec(
            logical_id=lid,
            name=loader.name(lid),
            role_arn=loader.role_arn(lid, props),
            script_location=str(command.get("ScriptLocation", "")),
            default_arguments={
                str(k): _env_string(v) for k, v in (props.get("DefaultArguments") or {}).items()
            },
            glue_version=props.get("GlueVersion"),
            max_concurrent_runs=int((props.get("ExecutionProperty") or {}).get("MaxConcurrentRuns", 1)),
        )
    for lid in loader.logical_ids("AWS::EMRServerless::Application"):
        props = loader.props(lid, ("Name", "ReleaseLabel", "Type"))
        deployment.emr_applications[lid] = EmrApplicationSpec(
            logical_id=lid,
            name=str(props.get("Name") or f"{stack_name}-{lid}"),
            id=loader.name(lid),
            arn=str(loader.get_att(lid, "Arn")),
            release_label=str(props.get("ReleaseLabel", "emr-7.0.0")),
            type=str(props.get("Type", "SPARK")),
        )
    for output_id, output in (loader.document.get("Outputs") or {}).items():
        if output.get("Condition") and not loader.resolver.condition(output["Condition"]):
            continue
        deployment.outputs[output_id] = loader.resolver.resolve(output.get("Value"), f"Outputs.{output_id}")
    return deployment
