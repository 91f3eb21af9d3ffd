"""Reading synthesized templates: resources by type, IAM statements, snapshots, cfn-lint."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from cfnlint.api import REGIONS, ManualArgs, lint

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE_SNAPSHOTS = os.environ.get("UPDATE_SNAPSHOTS") == "1"
_ASSET_HASH = re.compile(r"[0-9a-f]{64}")

IDENTITY_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
# Actions IAM defines without a resource type: allowed only on "*" (active tracing's two X-Ray
# calls, and the stream mappings' dynamodb:ListStreams).
RESOURCELESS_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:ListStreams"})
RESOURCE_POLICY_TYPES = {
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::S3::BucketPolicy": "PolicyDocument",
}
# The Deny statements a resource policy may hold: TLS only (and, for a bucket, TLS 1.2 at least).
TLS_DENY_CONDITIONS = ({"Bool": {"aws:SecureTransport": "false"}}, {"NumericLessThan": {"s3:TlsVersion": 1.2}})
# The one AWS managed policy a role may carry: CDK's custom resource provider's (the sandbox bucket's emptying).
PROVIDER_MANAGED_POLICY = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
# A resource of an own resource's ARN with a path (a bucket's prefix): "/<prefix>/*", nothing wider.
_PREFIX_WILDCARD = re.compile(r"(/[A-Za-z0-9_.-]+)+/\*")


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def only(template: dict, resource_type: str) -> tuple[str, dict]:
    """The logical id and properties of the one resource of this type."""
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    logical_id, resource = next(iter(found.items()))
    return logical_id, resource.get("Properties", {})


def by_output(template: dict, output_key: str) -> tuple[str, dict]:
    """The logical id and properties of the resource a stack output refers to (its Ref)."""
    logical_id = template["Outputs"][output_key]["Value"]["Ref"]
    return logical_id, template["Resources"][logical_id].get("Properties", {})


def alarm_topic(template: dict) -> tuple[str, dict]:
    return by_output(template, "AlarmTopicArn")


def producer_policy(template: dict) -> tuple[str, dict]:
    return by_output(template, "ProducerPolicyArn")


def policy_of(template: dict, policy_type: str, logical_id: str) -> tuple[str, dict]:
    """The one queue or topic policy attached to ``logical_id``."""
    key = {"AWS::SNS::TopicPolicy": "Topics", "AWS::SQS::QueuePolicy": "Queues"}[policy_type]
    found = {k: v for k, v in resources(template, policy_type).items() if {"Ref": logical_id} in v["Properties"][key]}
    assert len(found) == 1, f"expected one {policy_type} on {logical_id}, found {sorted(found)}"
    policy_id, policy = next(iter(found.items()))
    return policy_id, policy["Properties"]


def alarm_topic_policy(template: dict) -> tuple[str, dict]:
    return policy_of(template, "AWS::SNS::TopicPolicy", alarm_topic(template)[0])


def alert_rule(template: dict) -> tuple[str, dict]:
    """The job alerts' rule: the one rule of job events whose target is the alarm topic (the failing-worker
    alerts' is the other)."""
    topic = {"Ref": alarm_topic(template)[0]}
    found = {k: v for k, v in resources(template, "AWS::Events::Rule").items()
             if any(t["Arn"] == topic for t in v["Properties"].get("Targets", []))
             and "Deadline Job Status Change" in v["Properties"]["EventPattern"].get("detail-type", [])}  # fmt: skip
    assert len(found) == 1, f"expected one rule to the alarm topic, found {sorted(found)}"
    rule_id, rule = next(iter(found.items()))
    return rule_id, rule["Properties"]


def subscriptions(template: dict, protocol: str) -> dict[str, dict]:
    """The SNS subscriptions of ``protocol``, by logical id (their properties)."""
    return {k: v["Properties"] for k, v in resources(template, "AWS::SNS::Subscription").items()
            if v["Properties"]["Protocol"] == protocol}  # fmt: skip


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def function_with_handler(template: dict, handler: str) -> tuple[str, dict]:
    """The logical id and properties of the one function with this handler."""
    found = [
        (logical_id, resource["Properties"])
        for logical_id, resource in resources(template, "AWS::Lambda::Function").items()
        if resource["Properties"]["Handler"] == handler
    ]
    assert len(found) == 1, f"expected one function with handler {handler}, found {[f[0] for f in found]}"
    return found[0]


def role_policy(template: dict, role_id: str) -> tuple[str, dict]:
    """The one identity policy attached to a role."""
    found = [
        (logical_id, resource["Properties"])
        for logical_id, resource in resources(template, "AWS::IAM::Policy").items()
        if resource["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    assert len(found) == 1, f"expected one policy of {role_id}, found {[f[0] for f in found]}"
    return found[0]


def event_source_mapping(
    template: dict, source_id: str, attribute: str = "Arn", function_id: str | None = None
) -> tuple[str, dict]:
    """The one event source mapping reading from a resource's ARN (a queue) or StreamArn (a table), of the
    function ``function_id`` if given (the history's stream has two readers)."""
    found = [
        (logical_id, resource["Properties"])
        for logical_id, resource in resources(template, "AWS::Lambda::EventSourceMapping").items()
        if resource["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [source_id, attribute]}
        and function_id in (None, resource["Properties"]["FunctionName"].get("Ref"))
    ]
    assert len(found) == 1, f"expected one mapping from {source_id}.{attribute}, found {[f[0] for f in found]}"
    return found[0]


@dataclass(frozen=True)
class Statement:
    """One IAM statement, with where it was found."""

    policy_id: str
    policy_type: str
    body: dict

    @property
    def actions(self) -> list[str]:
        return as_list(self.body.get("Action", []))

    @property
    def resources(self) -> list:
        return as_list(self.body.get("Resource", []))


def statements(template: dict, policy_types) -> list[Statement]:
    """Every statement of every policy document of the given resource types."""
    found = []
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        if kind not in policy_types:
            continue
        key = RESOURCE_POLICY_TYPES.get(kind, "PolicyDocument")
        for body in resource["Properties"][key]["Statement"]:
            found.append(Statement(logical_id, kind, body))
    return found


def referenced_resource(value) -> str | None:
    """The logical id an intrinsic ARN/name refers to ({"Fn::GetAtt": [id, "Arn", "StreamArn" or "ArnForPolicy"]} or {"Ref": id})."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"] and value["Fn::GetAtt"][1] in ("Arn", "StreamArn", "ArnForPolicy"):
        return value["Fn::GetAtt"][0]
    if isinstance(value, dict) and list(value) == ["Ref"] and not value["Ref"].startswith("AWS::"):
        return value["Ref"]
    return None


def permissions_by_resource(template: dict, policy_id: str) -> dict[str, set[str]]:
    """For one identity policy: logical id of each resource -> the actions allowed on it."""
    allowed: dict[str, set[str]] = {}
    for statement in statements(template, IDENTITY_POLICY_TYPES):
        if statement.policy_id != policy_id:
            continue
        for resource in statement.resources:
            allowed.setdefault(referenced_resource(resource), set()).update(statement.actions)
    return allowed


# The one action the stack grants on resources outside it: reading the secrets the config names (webhooks').
SECRET_READ_ACTIONS = ["secretsmanager:GetSecretValue"]
SECRET_SUFFIX = "-??????"


def config_secrets(config) -> set[str]:
    """The secrets a StudioConfig names (its webhooks' URL and header secrets, by name or ARN): outside the stack."""
    return {secret for webhook in config.webhook_list for secret in (webhook.url_secret, webhook.auth_secret) if secret}


def granted_secret(resource) -> str | None:
    """The secret (name, or ARN as the config gives it) a statement's resource grants, or None if it is no secret's:
    an ARN as given, or an Fn::Join of this stack's region and account ending ":secret:<name>-??????"."""
    if isinstance(resource, str) and ":secretsmanager:" in resource and ":secret:" in resource:
        return resource.removesuffix(SECRET_SUFFIX)
    parts = resource.get("Fn::Join", ["", []])[1] if isinstance(resource, dict) else []
    tail = parts[-1] if parts and isinstance(parts[-1], str) else ""
    if {"Ref": "AWS::AccountId"} in parts and ":secret:" in tail and tail.endswith(SECRET_SUFFIX):
        return tail.split(":secret:", 1)[1].removesuffix(SECRET_SUFFIX)
    return None


def assert_least_privilege(template: dict, external_secrets: Collection[str] = ()) -> None:
    """Walk every IAM statement in the template (identity and resource policies).

    Identity policies: Allow only, no wildcard in any action, every resource an ARN of a
    resource in this template, or "*" for actions that have no resource type (RESOURCELESS_ACTIONS). Resource policies: Deny only to enforce TLS; Allow only the
    key's default administrator statement (the account root, so that IAM policies apply at
    all) and named service principals with explicit actions. Roles: assumed by a service only.
    A permission the walk cannot read fails it: a policy resource of another type (a Lambda
    permission, a log resource policy) or inline or managed policies on a role, user or group.
    ``external_secrets`` (config_secrets): the secrets outside the stack an identity policy may read, and nothing else.
    """
    walked = {*IDENTITY_POLICY_TYPES, *RESOURCE_POLICY_TYPES}
    providers = _provider_roles(template)
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        assert kind in walked or not ("Policy" in kind or "Permission" in kind), f"{logical_id}: {kind} is not walked"
        properties = resource.get("Properties", {})
        carried = {"Policies", "ManagedPolicyArns"} & set(properties)
        if logical_id in providers and properties.get("ManagedPolicyArns") == [PROVIDER_MANAGED_POLICY]:
            carried -= {"ManagedPolicyArns"}  # CDK's provider logs with AWS's documented basic execution role
        assert not carried, f"{logical_id} carries {sorted(carried)}, which the walk does not read"
    for logical_id, role in resources(template, "AWS::IAM::Role").items():
        for trust in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            assert (trust["Effect"], trust["Action"], list(trust["Principal"])) == ("Allow", "sts:AssumeRole", ["Service"]), logical_id

    own = set(template["Resources"])
    identity = statements(template, IDENTITY_POLICY_TYPES)
    assert identity, "the template has no identity policies to check"
    for statement in identity:
        where = f"{statement.policy_id}: {statement.body}"
        assert statement.body["Effect"] == "Allow", where
        assert not any("*" in action for action in statement.actions), where
        assert "NotAction" not in statement.body and "NotResource" not in statement.body, where
        if statement.resources == ["*"]:
            assert set(statement.actions) <= RESOURCELESS_ACTIONS, where
        elif statement.actions == SECRET_READ_ACTIONS:
            assert all(granted_secret(r) in external_secrets for r in statement.resources), where
        else:
            assert all(_names_own_resource(r, own) or _is_glue_catalog(r, statement) for r in statement.resources), where

    for statement in statements(template, RESOURCE_POLICY_TYPES):
        where = f"{statement.policy_id}: {statement.body}"
        if statement.body["Effect"] == "Deny":
            assert statement.body["Condition"] in TLS_DENY_CONDITIONS, where
        elif statement.policy_type == "AWS::KMS::Key" and statement.actions == ["kms:*"]:
            assert _is_account_root(statement.body["Principal"]), where
        elif statement.policy_type == "AWS::S3::BucketPolicy" and "AWS" in statement.body["Principal"]:
            assert referenced_resource(statement.body["Principal"]["AWS"]) in providers, where
            assert not any("*" in action for action in statement.actions), where
        else:
            assert list(statement.body["Principal"]) == ["Service"], where
            assert not any("*" in action for action in statement.actions), where


def _provider_roles(template: dict) -> set[str]:
    """The roles of the functions that provide a custom resource (CDK's, for the sandbox bucket's emptying)."""
    functions = {
        referenced_resource(resource["Properties"]["ServiceToken"])
        for resource in template["Resources"].values()
        if resource["Type"].startswith("Custom::")
    }
    return {referenced_resource(template["Resources"][f]["Properties"]["Role"]) for f in functions if f in template["Resources"]}


def _names_own_resource(value, own: set[str]) -> bool:
    """An ARN of a resource of the template: a Ref or GetAtt of it, or an Fn::Join naming it, with no wildcard
    but a path prefix's ("<bucket ARN>/notifications/*")."""
    if referenced_resource(value) in own:
        return True
    if not (isinstance(value, dict) and list(value) == ["Fn::Join"]):
        return False
    parts = value["Fn::Join"][1]
    literals = "".join(part for part in parts if isinstance(part, str))
    names_own = any(isinstance(part, dict) and referenced_resource(part) in own for part in parts)
    return names_own and ("*" not in literals or _PREFIX_WILDCARD.fullmatch(parts[-1]) is not None)


def _is_glue_catalog(value, statement: Statement) -> bool:
    """The account's Glue catalog, which IAM asks for with every table read (Glue's documented resource ARNs)."""
    parts = value.get("Fn::Join", ["", [""]])[1] if isinstance(value, dict) else [""]
    return parts[-1] == ":catalog" and all(action.startswith("glue:Get") for action in statement.actions)


def _is_account_root(principal: dict) -> bool:
    parts = principal.get("AWS", {}).get("Fn::Join", ["", []])[1]
    return {"Ref": "AWS::AccountId"} in parts and parts[-1] == ":root"


def masked(template: dict) -> dict:
    """The template with asset hashes (which change with every edit of lambda_src/) masked."""
    return json.loads(_ASSET_HASH.sub("<asset-hash>", json.dumps(template)))


def assert_matches_snapshot(template: dict, name: str) -> None:
    """Compare with tests/infrastructure/snapshots/<name>.json; UPDATE_SNAPSHOTS=1 rewrites it."""
    path = SNAPSHOTS / f"{name}.json"
    current = masked(template)
    if UPDATE_SNAPSHOTS:
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    hint = "review the change, then regenerate with UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/infrastructure"
    assert path.exists(), f"no snapshot snapshots/{path.name}: {hint}"
    assert current == json.loads(path.read_text()), f"the template differs from snapshots/{path.name}: {hint}"


# Amazon Q Developer in chat applications is not in every region (none in China, for one), nor are EventBridge
# API destinations: a studio with chat channels or a tracker's webhook deploys where they are
# (docs/notifications.md), so their resource types' absence elsewhere is no finding.
REGIONAL_TYPES = re.compile(
    r"^\[E3006: .*Resource type 'AWS::(Chatbot::\w+|Events::Connection|Events::ApiDestination)' does not exist in "
)


def cfn_lint_findings(template: dict) -> list[str]:
    """cfn-lint's errors and warnings (its default rules), in every region a studio may deploy to."""
    found = [str(match) for match in lint(json.dumps(template), config=ManualArgs(regions=list(REGIONS)))]
    return [finding for finding in found if not REGIONAL_TYPES.match(finding)]


def glue_columns(template: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The archive's Glue table as the stack deploys it: its columns and its partition keys, each (name, type).

    What Firehose converts the rows to Parquet by, and what Athena reads: the local archive's Parquet
    files must have the same columns and types (tests of the local writer compare with this)."""
    _, table = only(template, "AWS::Glue::Table")
    table_input = table["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"]]
    return columns, [(c["Name"], c["Type"]) for c in table_input["PartitionKeys"]]
