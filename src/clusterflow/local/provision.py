"""Creates the Deployment's resources in moto through the AWS APIs, as CloudFormation would."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from clusterflow.local.deployment import Deployment, FunctionSpec

if TYPE_CHECKING:
    from clusterflow.local.cloud import LocalCloud


def deploy(cloud: LocalCloud) -> None:
    deployment = cloud.deployment
    _roles(cloud, deployment)
    _buckets(cloud, deployment)
    for spec in deployment.functions.values():
        _function(cloud, spec)
    _emr_applications(cloud, deployment)
    _glue_jobs(cloud, deployment)
    _state_machines(cloud, deployment)
    _rules(cloud, deployment)


def _roles(cloud: LocalCloud, deployment: Deployment) -> None:
    iam = cloud.client("iam")
    wanted = {spec.name: spec.assume_role_policy for spec in deployment.roles.values()}
    for arn in [f.role_arn for f in deployment.functions.values()] + [
        m.role_arn for m in deployment.state_machines.values()
    ]:
        wanted.setdefault(arn.rsplit("/", 1)[-1], {"Version": "2012-10-17", "Statement": []})
    for name, policy in wanted.items():
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))


def _buckets(cloud: LocalCloud, deployment: Deployment) -> None:
    s3 = cloud.client("s3")
    for bucket in deployment.buckets.values():
        if cloud.region == "us-east-1":
            s3.create_bucket(Bucket=bucket.name)
        else:
            s3.create_bucket(
                Bucket=bucket.name, CreateBucketConfiguration={"LocationConstraint": cloud.region}
            )
        if bucket.versioned:
            s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
        if bucket.eventbridge:
            s3.put_bucket_notification_configuration(
                Bucket=bucket.name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )


def _function(cloud: LocalCloud, spec: FunctionSpec) -> None:
    from clusterflow.local.cloud import stub_zip, tags_of

    client = cloud.client("lambda")
    client.create_function(
        FunctionName=spec.name,
        Runtime=spec.runtime,
        Role=spec.role_arn,
        Handler=spec.handler,
        Code={"ZipFile": stub_zip()},
        Timeout=spec.timeout,
        MemorySize=spec.memory_size,
        Environment={"Variables": spec.environment},
        Tags=tags_of(cloud.stack_name),
    )
    if spec.url_auth_type:
        client.create_function_url_config(FunctionName=spec.name, AuthType=spec.url_auth_type)


def _state_machines(cloud: LocalCloud, deployment: Deployment) -> None:
    sfn = cloud.client("stepfunctions")
    for machine in deployment.state_machines.values():
        sfn.create_state_machine(
            name=machine.name,
            definition=json.dumps(machine.definition),
            roleArn=machine.role_arn,
            tags=[{"key": "clusterflow:stack", "value": cloud.stack_name}],
        )


def _rules(cloud: LocalCloud, deployment: Deployment) -> None:
    events = cloud.client("events")
    for rule in deployment.rules.values():
        if rule.event_bus != "default":
            events.create_event_bus(Name=rule.event_bus)
        kwargs: dict[str, str] = {
            "Name": rule.name,
            "State": "ENABLED" if rule.enabled else "DISABLED",
            "EventBusName": rule.event_bus,
        }
        if rule.event_pattern is not None:
            kwargs["EventPattern"] = json.dumps(rule.event_pattern)
        if rule.schedule is not None:
            kwargs["ScheduleExpression"] = rule.schedule
        events.put_rule(**kwargs)
        targets = []
        for target in rule.targets:
            entry = {"Id": target.id[:64], "Arn": target.arn}
            if target.input is not None:
                entry["Input"] = target.input
            targets.append(entry)
        if targets:
            events.put_targets(Rule=rule.name, EventBusName=rule.event_bus, Targets=targets)


def _glue_jobs(cloud: LocalCloud, deployment: Deployment) -> None:
    glue = cloud.client("glue")
    for job in deployment.glue_jobs.values():
        kwargs = {
            "Name": job.name,
            "Role": job.role_arn,
            "Command": {"Name": "glueetl", "ScriptLocation": job.script_location, "PythonVersion": "3"},
            "DefaultArguments": job.default_arguments,
            "ExecutionProperty": {"MaxConcurrentRuns": job.max_concurrent_runs},
        }
        if job.glue_version:
            kwargs["GlueVersion"] = job.glue_version
        glue.create_job(**kwargs)


def _emr_applications(cloud: LocalCloud, deployment: Deployment) -> None:
    """Create each application, then give it the id the deployment resolved into the environment."""
    if not deployment.emr_applications:
        return
    from moto.emrserverless.models import emrserverless_backends

    client = cloud.client("emr-serverless")
    backend = emrserverless_backends[cloud.account][cloud.region]
    for app in deployment.emr_applications.values():
        created = client.create_application(name=app.name, releaseLabel=app.release_label, type=app.type)
        application = backend.applications.pop(created["applicationId"])
        application.id = app.id
        application.arn = app.arn
        backend.applications[app.id] = application
