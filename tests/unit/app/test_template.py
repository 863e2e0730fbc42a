"""The template passes cfn-lint and checkov, every checkov skip says why, and the SAM-translated IAM has
no `*` action and no wildcard resource without a written reason (template Metadata.WildcardReasons)."""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yaml"
BIN = Path(sys.executable).parent
# A "*" inside a resource is scoping, not a wildcard, when it follows one of these stack-owned anchors.
OWNED_ANCHORS = {
    "${DataBucket.Arn}/": "prefix-patterns",
    ":training-job/${ResourcePrefix}-*": "prefix-patterns",
    ":model/${ResourcePrefix}-*": "prefix-patterns",
    ":endpoint-config/${ResourcePrefix}-*": "prefix-patterns",
    ":endpoint/${ResourcePrefix}-*": "prefix-patterns",
    "${EmrApplication.Arn}/jobruns/*": "prefix-patterns",
    "log-group:/aws/sagemaker/": "prefix-patterns",
    "log-group:/aws-glue/*": "prefix-patterns",
    "s3:::${SamArtifactBucket}/*": "sam-artifact-bucket",
    ":function:${functionName}*": "sam-policy-templates",
}
SAM_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}


@functools.cache
def _parsed_template() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    loaded: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return loaded


def load_template() -> dict[str, Any]:
    """A fresh copy of the parsed template (short-form tags as their long forms)."""
    return copy.deepcopy(_parsed_template())


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform (as `sam validate` builds it)."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    template = load_template()
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://packaged/{name}"
        if "DefinitionUri" in properties:
            properties["Definition"] = json.loads((REPO_ROOT / properties.pop("DefinitionUri")).read_text())
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result: dict[str, Any] = transform(template, {}, NoManagedPolicies())
    return result


def statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(role or policy, statement) for every IAM statement of the stack's roles and its own managed
    policies, through Fn::If branches too."""

    def documents(policy: Any) -> Iterator[dict[str, Any]]:
        if isinstance(policy, dict) and "Fn::If" in policy:
            for branch in policy["Fn::If"][1:]:
                yield from documents(branch)
        elif isinstance(policy, dict) and "PolicyDocument" in policy:
            yield policy["PolicyDocument"]

    for name, resource in resources.items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                yield name, statement
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for document in documents(policy):
                for statement in document["Statement"]:
                    yield name, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def rendered(resource: Any) -> str:
    """A resource ARN as text: Fn::Sub templates kept with their ${...}, GetAtt as ${X.Arn}."""
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    if "Fn::GetAtt" in resource:
        return "${" + ".".join(resource["Fn::GetAtt"]) + "}"
    return json.dumps(resource)


def wildcard_violations(resources: dict[str, Any], reasons: dict[str, str]) -> tuple[list[str], int]:
    """(what is wrong, how many Resource "*" statements carry a reason)."""
    problems: list[str] = []
    explained = 0
    for role, statement in statements(resources):
        actions = as_list(statement["Action"])
        problems += [f"{role}: action {a}" for a in actions if a == "*" or a.endswith(":*")]
        for resource in as_list(statement["Resource"]):
            text = rendered(resource)
            if text == "*":
                reason = " ".join(f"{key} {reasons.get(key, '')}" for key in actions if key in reasons)
                missing = [action for action in actions if action not in reason]
                if missing:
                    problems.append(f"{role}: {missing} on Resource '*' without a written reason")
                else:
                    explained += 1
            elif "*" in text:
                anchors = [anchor for anchor in OWNED_ANCHORS if anchor in text]
                if not anchors:
                    problems.append(
                        f"{role}: wildcard resource {text} is not scoped to the stack's own names"
                    )
                elif not reasons.get(OWNED_ANCHORS[anchors[0]]):
                    problems.append(f"{role}: no written reason for {text}")
    return problems, explained


def test_no_action_wildcards_and_every_wildcard_resource_has_a_reason(translated: dict[str, Any]) -> None:
    problems, explained = wildcard_violations(
        translated["Resources"], load_template()["Metadata"]["WildcardReasons"]
    )
    assert problems == []
    assert explained >= 3


def test_the_wildcard_check_catches_what_it_should(translated: dict[str, Any]) -> None:
    resources = copy.deepcopy(translated["Resources"])
    policy = resources["ReaperFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"] += [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Action": "sagemaker:*", "Resource": {"Fn::GetAtt": ["DataBucket", "Arn"]}},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::someone-elses-bucket/*"},
    ]
    problems, _ = wildcard_violations(resources, load_template()["Metadata"]["WildcardReasons"])
    assert len(problems) == 3, problems


def test_pass_role_only_to_named_services(translated: dict[str, Any]) -> None:
    passing = [
        (role, s) for role, s in statements(translated["Resources"]) if "iam:PassRole" in as_list(s["Action"])
    ]
    assert passing
    for role, statement in passing:
        assert as_list(statement["Action"]) == ["iam:PassRole"], role
        service = statement["Condition"]["StringEquals"]["iam:PassedToService"]
        assert service in {"sagemaker.amazonaws.com", "glue.amazonaws.com", "emr-serverless.amazonaws.com"}, (
            role
        )


def test_function_roles_use_only_the_documented_managed_policies_and_the_stacks_own(
    translated: dict[str, Any],
) -> None:
    resources = translated["Resources"]
    own = {name for name, resource in resources.items() if resource["Type"] == "AWS::IAM::ManagedPolicy"}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::IAM::Role":
            for arn in resource["Properties"].get("ManagedPolicyArns", []):
                if isinstance(arn, dict):
                    assert arn.get("Ref") in own, name
                else:
                    assert arn in SAM_MANAGED_POLICIES, name


def test_bucket_encryption_public_access_tls_and_function_url_auth(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    bucket = resources["DataBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert (
        all(bucket["PublicAccessBlockConfiguration"].values())
        and len(bucket["PublicAccessBlockConfiguration"]) == 4
    )
    assert (
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    )
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    (deny,) = resources["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    urls = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Url"]
    assert urls and all(url["AuthType"] == "AWS_IAM" for url in urls)
    machine = resources["PipelineStateMachine"]["Properties"]
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    groups = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) == 11 and all("RetentionInDays" in group for group in groups)
    glue = resources["SparkGlueJob"]["Properties"]
    assert glue["GlueVersion"] == "5.0" and glue["Command"]["ScriptLocation"] == "spark_jobs/project.py"
    assert "--extra-py-files" in glue["DefaultArguments"]


def test_every_checkov_skip_has_a_reason() -> None:
    skips = [
        (name, skip)
        for name, resource in load_template()["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert len(skip.get("comment", "")) > 20, f"{name}: checkov skip {skip['id']} without a reason"


def test_cfn_lint_passes() -> None:
    result = subprocess.run(
        [str(BIN / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_passes() -> None:
    result = subprocess.run(
        [
            str(BIN / "checkov"),
            "--quiet",
            "--compact",
            "--framework",
            "cloudformation",
            "-f",
            str(TEMPLATE),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] == 0 and report["summary"]["passed"] > 50
