"""The delivery-path walk: every path by which a service or a principal reaches a resource of the
stack, read from the synthesized template, and whether AWS would allow it.

moto and DynamoDB Local enforce no resource policy, no key policy and no IAM, so this is where
those are checked. A path is one or more requests (a principal, an action, a resource, the
request's context), each evaluated the way AWS evaluates a request within one account:

- an explicit Deny in any applicable policy wins (every path here uses TLS, so the TLS-only
  Deny is evaluated with aws:SecureTransport true);
- a service principal is allowed only by the resource's policy (a topic without an
  AWS::SNS::TopicPolicy has SNS's default policy; a TopicPolicy REPLACES it);
- a role of the stack is allowed by its identity policies or by the resource's policy;
- a KMS request is allowed by the key policy naming the principal, or by the key policy
  delegating to IAM (the account root's statement) together with the identity policy.

Firehose's role is walked to its bucket under each prefix it writes (with the bucket's policy and,
through S3, the bucket's key), to the Glue table it converts by and to its log stream; CDK's
auto-delete provider (a sandbox's bucket) to the bucket it empties, and to Lambda's default log
group through the one AWS managed policy the walk reads (AWSLambdaBasicExecutionRole).

Conditions are evaluated against the request's context (ArnEquals, ArnLike, StringEquals,
StringLike, Bool, NumericLessThan); wildcards are IAM's (* and ?). What the walk cannot prove raises WalkError
rather than being passed over: another operator, a Deny on a context key the request's model
lacks, an unread policy or permissions boundary, a resource or policy attachment outside the
template, a resource type, target, subscription or key it has no model for. A disabled alarm
action, rule, mapping or key fails its paths. Pseudo parameters take sample
values; a resource without a name has the name CloudFormation generates (GENERATED_NAME).
Secrets outside the stack (the webhooks' URL and header secrets, which the config names) are an explicit
input of the walk (external_secrets): a read of, or a connection resolving, any other secret raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from deliveries.destinations import DESTINATIONS_VARIABLE
from farm_health.monitor import JOB_TABLE_VARIABLE
from stacks.roles import FARM_HEALTH_HANDLER, PRODUCER_POLICY_OUTPUT, QUEUE
from tests.infrastructure.template_tools import as_list, referenced_resource, resources

PARTITION, REGION, ACCOUNT = "aws", "eu-west-1", "123456789012"  # samples for the pseudo parameters
PSEUDO = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
# CloudFormation names a resource without a name "<stack name>-<logical id>-<random suffix>" (AWS
# CloudFormation User Guide, "Name type"; parts are shortened only past the resource's own length limit).
GENERATED_NAME = "{stack}-{logical_id}-1A2B3C4D5E6F"
NAME_PROPERTIES = {
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::CompositeAlarm": "AlarmName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
    "AWS::Logs::LogStream": "LogStreamName",
    "AWS::Athena::WorkGroup": "Name",
    "AWS::Events::ApiDestination": "Name",
    "AWS::Events::Connection": "Name",
}
# Names held one level down: a Glue database's and table's input.
NESTED_NAME_PROPERTIES = {"AWS::Glue::Database": ("DatabaseInput", "Name"), "AWS::Glue::Table": ("TableInput", "Name")}
OPERATORS = ("ArnEquals", "ArnLike", "StringEquals", "StringLike", "Bool", "NumericLessThan")
SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")  # one ${...} of Fn::Sub
# SNS's default topic policy (what a topic has without an AWS::SNS::TopicPolicy): the account's own publishers.
SNS_DEFAULT_POLICY = [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": "*",
     "Condition": {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}},
]  # fmt: skip
# An AWS managed key's policy lets the account's own principals use it through its service, and no
# service principal (SNS, SQS and EventBridge document that a service cannot send to what it encrypts).
AWS_MANAGED_KEY_PREFIX = "alias/aws/"
# Where a resource names its key, by type.
KEY_PROPERTIES = {
    "AWS::SQS::Queue": ("KmsMasterKeyId",),
    "AWS::SNS::Topic": ("KmsMasterKeyId",),
    "AWS::DynamoDB::Table": ("SSESpecification", "KMSMasterKeyId"),
    "AWS::Logs::LogGroup": ("KmsKeyId",),
}
# What each service needs of an encrypted queue or topic it sends to (SQS's and SNS's key documentation).
SEND_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
# What an event source mapping reads its source with (Lambda's documented execution roles).
QUEUE_READ_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
LIST_STREAMS = "dynamodb:ListStreams"  # on "*": IAM defines it on no resource
LOG_WRITE_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")  # what a function does with its log group
# What CloudWatch Logs does with a log group's key (its documented key policy, in concrete actions).
LOGS_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey")
LOGS_CONTEXT_KEY = "kms:encryptioncontext:aws:logs:arn"
# The item reads and writes, any of which makes DynamoDB use the table's key for the caller.
TABLE_ITEM_ACTIONS = (
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:ConditionCheckItem",
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLSelect", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete",
)  # fmt: skip
# What a caller of a table under a customer managed key needs of the key: DynamoDB decrypts the table
# key as "the principal in your AWS account who is accessing the table" (AWS KMS Developer Guide, "How
# Amazon DynamoDB uses AWS KMS", Decrypt), on first access and after 5 minutes idle; it generates the
# table key itself. The CDK's grantReadData adds kms:DescribeKey too, its grantWriteData more: not needed.
TABLE_KEY_ACTIONS = ("kms:Decrypt",)
# What a function does with what its environment names (a table's key is the TABLE_KEY path's).
ENVIRONMENT_ACTIONS = {
    "AWS::KinesisFirehose::DeliveryStream": "firehose:PutRecordBatch",
    "AWS::DynamoDB::Table": "dynamodb:PutItem",
    "AWS::Events::EventBus": "events:PutEvents",
    "AWS::SQS::Queue": "sqs:SendMessage",
    "AWS::SNS::Topic": "sns:Publish",
}
# A variable a function only reads from, by (handler, variable): what it does with what it names instead.
READING_ENVIRONMENT = {(FARM_HEALTH_HANDLER, JOB_TABLE_VARIABLE): "dynamodb:BatchGetItem"}  # the jobs' names
# Every resource type the walk has a model for: those it walks paths from and policies of, and those
# reached only along those paths or on none. Any other type fails the walk until its paths are added.
MODELLED_TYPES = (
    "AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm", "AWS::CloudWatch::Dashboard", "AWS::DynamoDB::Table",
    "AWS::Events::EventBus", "AWS::Events::Rule", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::IAM::Role",
    "AWS::KMS::Key", "AWS::Lambda::EventSourceMapping", "AWS::Lambda::Function", "AWS::Logs::LogGroup",
    "AWS::SNS::Subscription", "AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy",
    # The archive (config reports): the bucket and its policy, Firehose and its log stream, the Glue table it
    # converts by, the sandbox bucket's emptying on destroy (CDK's provider), and Athena (no principal of the
    # stack calls it: its readers' own permissions are documented in docs/reports.md).
    "AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::KinesisFirehose::DeliveryStream", "AWS::Logs::LogStream",
    "AWS::Glue::Database", "AWS::Glue::Table", "Custom::S3AutoDeleteObjects", "AWS::Athena::WorkGroup",
    "AWS::Athena::NamedQuery",
    *("AWS::Chatbot::SlackChannelConfiguration", "AWS::Chatbot::MicrosoftTeamsChannelConfiguration"),
)  # fmt: skip
CHAT_CONFIGURATION_TYPES = MODELLED_TYPES[-2:]
CHATBOT_SERVICE = "chatbot.amazonaws.com"
# Subscriptions to a resource of the stack the walk has a model for: SNS sends to a queue.
RESOURCE_PROTOCOLS = ("sqs",)
ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
# The policy types the walk reads; any other "Policy" or "Permission" type (a Lambda permission,
# an EventBridge bus policy, an inline queue, topic or role policy, a log resource policy) fails it.
READ_POLICY_TYPES = (
    "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy",
)  # fmt: skip
# The AWS managed policies the walk reads (their documented statements): only CDK's custom resource
# providers carry one, and only this one (a provider logs to Lambda's default log group).
LAMBDA_BASIC_EXECUTION = f"arn:{PARTITION}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
AWS_MANAGED_POLICIES = {
    LAMBDA_BASIC_EXECUTION: [{"Effect": "Allow", "Resource": "*",
                              "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]}],
}  # fmt: skip
# Properties the walk has no model for: policies in a resource's own properties, a boundary, a bus key.
UNMODELLED_PROPERTIES = (
    ("ResourcePolicy",),  # a table's, among others
    ("StreamSpecification", "ResourcePolicy"),  # a table's stream
    ("Policy",),  # an event bus's
    ("DeadLetterConfig",),  # a function's (a rule target's is in its Targets): the role sends there
    ("KmsKeyArn",),  # a function's environment key: the role must decrypt with it to start
    ("PermissionsBoundary",),  # a role's: it would limit what its policies allow
    ("KmsKeyIdentifier",),  # an event bus's key: no model of what its senders and targets need of it
)
# A subscription's protocol that delivers out of AWS (no resource of the stack at the other end).
EXTERNAL_PROTOCOLS = ("email", "email-json", "http", "https", "sms")
# What a rule's target is sent with, by the target's type.
TARGET_ACTIONS = {"AWS::SNS::Topic": "sns:Publish", "AWS::SQS::Queue": "sqs:SendMessage"}
# Webhooks (issue 17): a rule's API destination, called with the rule's role; its connection holds the
# credential EventBridge sends, resolved by CloudFormation from a secret the config names.
API_DESTINATION, CONNECTION = "AWS::Events::ApiDestination", "AWS::Events::Connection"
MODELLED_TYPES += (API_DESTINATION, CONNECTION)
TARGET_ACTIONS[API_DESTINATION] = "events:InvokeApiDestination"
# The sender's webhooks read their URL and header from secrets outside the stack, which the config names
# (its webhooks' url_secret and auth.secret): each read is a path, to a secret the walk is told of.
SECRET_READ = "secret read"
SECRET_SAMPLE_SUFFIX = "-AbC123"  # Secrets Manager's 6 random characters at the end of a secret's ARN
FULL_SECRET_ARN = re.compile(r"arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:.+-[A-Za-z0-9]{6}")
DYNAMIC_SECRET = re.compile(r"\{\{resolve:secretsmanager:(.+?):SecretString:")
# What switches a path off: the property of a resource on it and the value that does.
SWITCHES = {
    "AWS::CloudWatch::Alarm": ("ActionsEnabled", False),
    "AWS::CloudWatch::CompositeAlarm": ("ActionsEnabled", False),
    "AWS::Events::Rule": ("State", "DISABLED"),
    "AWS::Lambda::EventSourceMapping": ("Enabled", False),
    "AWS::KMS::Key": ("Enabled", False),
}
# What Firehose does with its S3 destination (its documented role policy): with the bucket, and with each object
# it writes under its prefixes; and what S3 asks of the bucket's key on its behalf (with a Bucket Key, for the bucket).
FIREHOSE_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
FIREHOSE_OBJECT_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload")
FIREHOSE_TABLE_ACTIONS = ("glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions")
S3_KEY_CONTEXT_KEY = "kms:encryptioncontext:aws:s3:arn"
S3_KEY_ACTIONS_OF_S3 = ("kms:GenerateDataKey", "kms:Decrypt")
# Sample values for Firehose's prefix expressions (!{partitionKeyFromQuery:...}, !{timestamp:...}, ...).
PREFIX_EXPRESSION = re.compile(r"!\{[^}]+\}")
# What CDK's auto-delete provider does with its bucket when the stack is destroyed (its handler's calls).
EMPTY_BUCKET_ACTIONS = ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:GetBucketTagging", "s3:ListBucketVersions")
EMPTY_OBJECT_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")
DEFAULT_LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
TLS_VERSION = "1.2"  # every path's: the least a bucket's TlsVersion Deny allows

# The kinds of path (DeliveryPath.kind).
ALARM_ACTION, RULE_TARGET, RULE_DEAD_LETTERS = "alarm action", "rule target", "rule dead letters"
EVENT_SOURCE, ON_FAILURE = "event source mapping", "on-failure destination"
PRODUCER, ENVIRONMENT, TABLE_KEY = "producer", "environment", "table key"
FUNCTION_LOGS, LOG_GROUP_KEY = "function log group", "log group key"
DELIVERY_DESTINATION, DELIVERY_SCHEMA, DELIVERY_LOGS = "delivery stream destination", "delivery stream schema", "delivery stream logs"
EMPTY_ON_DESTROY = "bucket emptied on destroy"
SUBSCRIPTION, SUBSCRIPTION_DEAD_LETTERS, CHAT_CHANNEL = "topic subscription", "subscription dead letters", "chat channel"
PATH_KINDS = (ALARM_ACTION, RULE_TARGET, RULE_DEAD_LETTERS, EVENT_SOURCE, ON_FAILURE, PRODUCER, ENVIRONMENT, TABLE_KEY,
              FUNCTION_LOGS, LOG_GROUP_KEY, DELIVERY_DESTINATION, DELIVERY_SCHEMA, DELIVERY_LOGS,
              EMPTY_ON_DESTROY, SUBSCRIPTION, SUBSCRIPTION_DEAD_LETTERS, CHAT_CHANNEL)  # fmt: skip
PATH_KINDS += (SECRET_READ,)


class WalkError(AssertionError):
    """The walk met something it has no model for: fix the walk, never skip it."""


@dataclass(frozen=True)
class Principal:
    service: str | None = None  # e.g. "cloudwatch.amazonaws.com"
    role: str | None = None  # the logical id of a role of the stack
    managed_policy: str | None = None  # whoever has only this managed policy attached (the producer)

    def __str__(self) -> str:
        if self.service:
            return self.service
        return f"role {self.role}" if self.role else f"a principal with managed policy {self.managed_policy}"


@dataclass
class DeliveryPath:
    kind: str  # one of PATH_KINDS
    description: str
    requests: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Statement:
    policy: str  # where it is: the policy's logical id, or "SNS's default topic policy"
    body: dict


class Walk:
    def __init__(self, template: dict, stack_name: str, external_secrets: Collection[str] = ()):
        self.template = template
        self.resources = template["Resources"]
        self.stack_name = stack_name
        self.external_secrets = frozenset(external_secrets)  # the secrets the config names, outside the stack
        self.paths: list[DeliveryPath] = []
        for logical_id, resource in self.resources.items():
            kind, properties = resource["Type"], resource.get("Properties", {})
            if ("Policy" in kind or "Permission" in kind) and kind not in READ_POLICY_TYPES:
                raise WalkError(f"{logical_id} ({kind}) holds a policy the walk does not read: add it to the walk")
            if kind not in MODELLED_TYPES:
                raise WalkError(f"{logical_id}: the walk has no model of a {kind} (the paths from it, to it, "
                                "its policies): add it")  # fmt: skip
            if kind == "AWS::SNS::Subscription" and properties.get("Protocol") not in (*EXTERNAL_PROTOCOLS, *RESOURCE_PROTOCOLS):
                raise WalkError(f"{logical_id}: a {properties.get('Protocol')} subscription delivers to a resource, "
                                "which the walk has no model for: add it")  # fmt: skip
            for names in UNMODELLED_PROPERTIES:
                if _nested(properties, names) is not None:
                    raise WalkError(f"{logical_id} ({kind}) has {'.'.join(names)}, which the walk has no model for: add it")
        self._attached_policies = {
            policy_type: self._attachments(policy_type, key, target_type)
            for policy_type, key, target_type in (
                ("AWS::SQS::QueuePolicy", "Queues", "AWS::SQS::Queue"),
                ("AWS::SNS::TopicPolicy", "Topics", "AWS::SNS::Topic"),
                ("AWS::S3::BucketPolicy", "Bucket", "AWS::S3::Bucket"),
            )
        }

    def _attachments(self, policy_type: str, key: str, target_type: str) -> dict[str, str]:
        """Each queue or topic with its one policy. A policy sets the resource's whole policy, so a
        second one on the same resource, or one attached to what the walk cannot identify, fails."""
        found: dict[str, str] = {}
        for policy_id, policy in resources(self.template, policy_type).items():
            for entry in as_list(policy["Properties"][key]):
                target = entry["Ref"] if isinstance(entry, dict) and list(entry) == ["Ref"] else None
                if self._type(target) != target_type:
                    raise WalkError(f"{policy_id} is attached to {entry!r}, not a Ref to a {target_type} of the stack: "
                                    "the walk cannot tell whose policy it replaces")  # fmt: skip
                if target in found:
                    raise WalkError(f"{target} has two policies, {found[target]} and {policy_id}: each replaces the "
                                    "other, and the walk cannot tell which CloudFormation applies last")  # fmt: skip
                found[target] = policy_id
        return found

    # --- rendering intrinsics into the strings AWS would see ------------------------------

    def name(self, logical_id: str) -> str:
        resource = self._resource(logical_id)
        properties = resource.get("Properties", {})
        given = (_nested(properties, NESTED_NAME_PROPERTIES[resource["Type"]]) if resource["Type"] in NESTED_NAME_PROPERTIES
                 else properties.get(NAME_PROPERTIES.get(resource["Type"], "")))  # fmt: skip
        return self.render(given) if given is not None else GENERATED_NAME.format(stack=self.stack_name, logical_id=logical_id)

    def attribute(self, logical_id: str, attribute: str) -> str:
        """What Ref (attribute "Ref") or Fn::GetAtt returns for a resource of the stack."""
        kind, name = self._resource(logical_id)["Type"], self.name(logical_id)
        region = f"arn:{PARTITION}:{{}}:{REGION}:{ACCOUNT}:"
        values = {
            "AWS::SQS::Queue": {"Arn": region.format("sqs") + name, "Ref": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"},
            "AWS::SNS::Topic": {"Ref": region.format("sns") + name, "TopicArn": region.format("sns") + name},
            "AWS::CloudWatch::Alarm": {"Arn": region.format("cloudwatch") + f"alarm:{name}", "Ref": name},
            "AWS::CloudWatch::CompositeAlarm": {"Arn": region.format("cloudwatch") + f"alarm:{name}", "Ref": name},
            "AWS::Logs::LogGroup": {"Arn": region.format("logs") + f"log-group:{name}:*", "Ref": name},
            "AWS::DynamoDB::Table": {
                "Arn": region.format("dynamodb") + f"table/{name}",
                "StreamArn": region.format("dynamodb") + f"table/{name}/stream/2026-01-01T00:00:00.000",
                "Ref": name,
            },
            "AWS::Events::EventBus": {"Arn": region.format("events") + f"event-bus/{name}", "Ref": name, "Name": name},
            "AWS::Events::Rule": {"Arn": region.format("events") + f"rule/{self._rule_path(logical_id)}", "Ref": name},
            "AWS::KMS::Key": {"Arn": region.format("kms") + f"key/{logical_id}", "Ref": logical_id},
            "AWS::Lambda::Function": {"Arn": region.format("lambda") + f"function:{name}", "Ref": name},
            "AWS::IAM::Role": {"Arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}", "Ref": name},
            "AWS::IAM::ManagedPolicy": {"Ref": f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{name}"},
            "AWS::S3::Bucket": {"Arn": f"arn:{PARTITION}:s3:::{name}", "Ref": name},
            "AWS::KinesisFirehose::DeliveryStream": {"Arn": region.format("firehose") + f"deliverystream/{name}", "Ref": name},
            "AWS::Logs::LogStream": {"Ref": name},
            "AWS::Glue::Database": {"Ref": name},
            "AWS::Glue::Table": {"Ref": name},
            "AWS::Athena::WorkGroup": {"Ref": name},
            API_DESTINATION: {
                "Arn": region.format("events") + f"api-destination/{name}/11111111-2222-3333-4444-555555555555",
                "ArnForPolicy": region.format("events") + f"api-destination/{name}",
                "Ref": name,
            },
            CONNECTION: {"Arn": region.format("events") + f"connection/{name}/66666666-7777-8888-9999-000000000000"},
        }
        try:
            return values[kind][attribute]
        except KeyError:
            raise WalkError(f"{logical_id}: the walk cannot render {attribute} of a {kind}") from None

    def render(self, value) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):  # a numeric condition's value
            return str(value)
        if isinstance(value, dict) and list(value) == ["Ref"]:
            ref = value["Ref"]
            if ref == "AWS::StackName":
                return self.stack_name
            return PSEUDO[ref] if ref in PSEUDO else self.attribute(ref, "Ref")
        if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
            return self.attribute(*value["Fn::GetAtt"])
        if isinstance(value, dict) and list(value) == ["Fn::Join"]:
            separator, parts = value["Fn::Join"]
            return separator.join(self.render(part) for part in parts)
        if isinstance(value, dict) and list(value) == ["Fn::Sub"]:
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            return SUB_VARIABLE.sub(lambda found: self._substitute(found.group(1), variables), text)
        raise WalkError(f"the walk cannot render {value!r}")

    def _substitute(self, variable: str, variables: dict) -> str:
        """One ${...} of Fn::Sub: a variable of its own, ${!literal}, a Ref or a GetAtt."""
        if variable.startswith("!"):
            return "${" + variable[1:] + "}"
        if variable in variables:
            return self.render(variables[variable])
        if "." in variable:
            return self.attribute(*variable.split(".", 1))
        return self.render({"Ref": variable})

    def _resource(self, logical_id: str) -> dict:
        if logical_id not in self.resources:
            raise WalkError(f"{logical_id} is referred to but is not a resource of the template")
        return self.resources[logical_id]

    def _rule_path(self, rule_id: str) -> str:
        bus = self.resources[rule_id].get("Properties", {}).get("EventBusName")
        name = self.name(rule_id)
        return name if bus is None or self.render(bus) == "default" else f"{self.render(bus)}/{name}"

    def _type(self, logical_id: str | None) -> str | None:
        return self.resources[logical_id]["Type"] if logical_id in self.resources else None

    # --- the policies that apply ------------------------------------------------------------

    def identity_statements(self, principal: Principal) -> list[_Statement]:
        if principal.service:
            return []
        if principal.managed_policy:
            policies = [principal.managed_policy]
        else:
            role = self._resource(principal.role)
            carried = {"Policies"} & set(role.get("Properties", {}))
            managed = [self.render(arn) for arn in role.get("Properties", {}).get("ManagedPolicyArns", [])]
            if carried or set(managed) - set(AWS_MANAGED_POLICIES):
                raise WalkError(f"role {principal.role} carries {sorted(carried) or managed}, which the walk does not read")
            policies = [
                logical_id
                for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
                for logical_id, policy in resources(self.template, kind).items()
                if {"Ref": principal.role} in policy["Properties"].get("Roles", [])
            ]
        return [
            _Statement(policy, body)
            for policy in policies
            for body in self.resources[policy]["Properties"]["PolicyDocument"]["Statement"]
        ] + [
            _Statement(arn, body)
            for arn in ([] if principal.managed_policy else managed)
            for body in AWS_MANAGED_POLICIES[arn]
        ]

    def resource_statements(self, logical_id: str) -> tuple[list[_Statement], str] | None:
        """The resource's policy statements and a description of that policy, or None where the
        resource type has no resource policy here."""
        kind = self._type(logical_id)
        if kind == "AWS::KMS::Key":
            return [_Statement(logical_id, b) for b in self.resources[logical_id]["Properties"]["KeyPolicy"]["Statement"]], (
                f"the key policy of {logical_id}"
            )
        attached = {
            "AWS::SQS::Queue": ("AWS::SQS::QueuePolicy", "queue policy"),
            "AWS::SNS::Topic": ("AWS::SNS::TopicPolicy", "topic policy"),
            "AWS::S3::Bucket": ("AWS::S3::BucketPolicy", "bucket policy"),
        }
        if kind in attached:
            policy_type, what = attached[kind]
            policy_id = self._attached_policies[policy_type].get(logical_id)
            if policy_id is None and kind == "AWS::SNS::Topic":
                return [_Statement("SNS's default topic policy", b) for b in SNS_DEFAULT_POLICY], "SNS's default topic policy"
            if policy_id is None:
                return [], f"no policy on {logical_id}"
            found = [_Statement(policy_id, b) for b in self.resources[policy_id]["Properties"]["PolicyDocument"]["Statement"]]
            return found, f"the {what} {policy_id}"
        return None

    # --- evaluating a request -----------------------------------------------------------------

    def allowed(
        self, principal: Principal, action: str, target: str | None, context: dict[str, str], arn: str | None = None
    ) -> str | None:
        """None if AWS would allow ``principal`` to ``action`` on ``target`` (a logical id, whose policy
        applies; None: none) at ``arn`` (default: the target's ARN, or "*"), else why not."""
        resource_arn = arn or ("*" if target is None else self._arn(target))
        context = {**self._principal_context(principal), **context}
        identity = self.identity_statements(principal)
        policy = self.resource_statements(target) if target else None
        on_resource, policy_name = policy if policy else ([], "")
        for statement in identity + on_resource:
            if statement.body["Effect"] == "Deny" and self._applies(statement, principal, action, resource_arn, context):
                return f"explicitly denied by {statement.policy} ({statement.body.get('Sid', 'a Deny statement')})"
        directly = any(
            s.body["Effect"] == "Allow" and self._applies(s, principal, action, resource_arn, context, direct=True)
            for s in on_resource
        )
        by_identity = any(
            s.body["Effect"] == "Allow" and self._applies(s, principal, action, resource_arn, context)
            for s in identity
        )
        if self._type(target) == "AWS::KMS::Key":
            delegated = any(
                s.body["Effect"] == "Allow" and self._is_account_root(s.body.get("Principal"))
                and self._applies(s, principal, action, resource_arn, context) for s in on_resource
            )
            if directly or (delegated and by_identity and not principal.service):
                return None
            if principal.service:
                return f"no statement of {policy_name} allows {principal} to {action}"
            if not delegated:
                return f"{policy_name} neither allows {principal} nor delegates to IAM (the account root's statement)"
            return f"no identity policy of {principal} allows {action} on {target}"
        if directly or (by_identity and not principal.service):
            return None
        if principal.service:
            if policy is None:
                return f"a service principal is allowed only by a resource policy, and {target} has none"
            replaced = " (which replaces SNS's default policy)" if self._type(target) == "AWS::SNS::Topic" and policy_name != "SNS's default topic policy" else ""
            return f"no statement of {policy_name}{replaced} allows {principal} to {action}"
        where = f" or {policy_name}" if policy_name else ""
        return f"no identity policy of {principal}{where} allows {action} on {resource_arn}"

    def _principal_context(self, principal: Principal) -> dict[str, str]:
        """The keys AWS puts in every request of ``principal`` (every path here uses TLS)."""
        if principal.service:
            return {"aws:principalservicename": principal.service, "aws:securetransport": "true", "s3:tlsversion": TLS_VERSION}
        found = {"aws:principalaccount": ACCOUNT, "aws:securetransport": "true", "s3:tlsversion": TLS_VERSION}
        if principal.role:
            found["aws:principalarn"] = self.attribute(principal.role, "Arn")
        return found

    def _arn(self, logical_id: str) -> str:
        kind = self._type(logical_id)
        # IAM authorizes an API destination's invocation on its ARN without the id EventBridge appends.
        return self.attribute(logical_id, {"AWS::SNS::Topic": "Ref", API_DESTINATION: "ArnForPolicy"}.get(kind, "Arn"))

    def _applies(
        self, statement: _Statement, principal: Principal, action: str, resource_arn: str, context: dict, direct: bool = False
    ) -> bool:
        body = statement.body
        unread = {"NotAction", "NotResource", "NotPrincipal"} & set(body)
        if unread:
            raise WalkError(f"{statement.policy}: {sorted(unread)} is not read by the walk")
        if not self._action_matches(body, action):
            return False
        in_resource_policy = "Principal" in body
        if in_resource_policy and not self._principal_matches(body["Principal"], principal, direct):
            return False
        patterns = [self.render(r) for r in as_list(body.get("Resource", "*"))]
        is_key_policy = in_resource_policy and statement.policy in self.resources and self._type(statement.policy) == "AWS::KMS::Key"
        if not is_key_policy and not any(_like(resource_arn, p) for p in patterns):
            return False  # (in a key policy, "*" is the key itself)
        return self._conditions_hold(statement, context)

    @staticmethod
    def _action_matches(body: dict, action: str) -> bool:
        return any(_like(action, a, ignore_case=True) for a in as_list(body.get("Action", [])))

    def _principal_matches(self, value, principal: Principal, direct: bool) -> bool:
        if value == "*" or value == {"AWS": "*"}:
            return True
        if "Service" in value:
            return principal.service is not None and principal.service in [self.render(s) for s in as_list(value["Service"])]
        if "AWS" in value:
            if self._is_account_root(value):
                return not direct  # the account: applies to its principals as far as IAM allows them
            return principal.role is not None and self.attribute(principal.role, "Arn") in [self.render(a) for a in as_list(value["AWS"])]
        raise WalkError(f"the walk cannot read the principal {value!r}")

    def _is_account_root(self, value) -> bool:
        return isinstance(value, dict) and "AWS" in value and any(
            self.render(a) in (f"arn:{PARTITION}:iam::{ACCOUNT}:root", ACCOUNT) for a in as_list(value["AWS"])
        )

    def _conditions_hold(self, statement: _Statement, context: dict[str, str]) -> bool:
        """Whether every condition holds for the request. A key the request lacks fails an Allow's
        condition (as in AWS); on a Deny it raises: the request's model may lack a key AWS sends."""
        missing = []
        for operator, tests in statement.body.get("Condition", {}).items():
            if operator not in OPERATORS:
                raise WalkError(f"{statement.policy}: condition operator {operator} is unknown to the walk: add it")
            for key, expected in tests.items():
                actual = context.get(key.lower())
                values = [self.render(v) for v in as_list(expected)]
                if actual is None:
                    missing.append(key)
                elif operator == "ArnLike":
                    if not any(_arn_like(actual, v) for v in values):
                        return False
                elif operator == "StringLike":
                    if not any(_like(actual, v) for v in values):
                        return False
                elif operator == "Bool":
                    if actual.lower() not in [v.lower() for v in values]:
                        return False
                elif operator == "NumericLessThan":
                    if not any(float(actual) < float(v) for v in values):
                        return False
                elif actual not in values:
                    return False
        if missing and statement.body["Effect"] == "Deny":
            raise WalkError(f"{statement.policy}: a Deny on {', '.join(missing)}, which the walk's model of the request "
                            f"lacks: add the key to the request's context")  # fmt: skip
        return not missing

    # --- the paths ----------------------------------------------------------------------------

    def _path(self, kind: str, description: str) -> DeliveryPath:
        path = DeliveryPath(kind, description)
        self.paths.append(path)
        return path

    def _check(
        self, path: DeliveryPath, principal: Principal, actions, target: str | None, context: dict, arn: str | None = None
    ) -> None:
        for action in actions:
            path.requests += 1
            why_not = self.allowed(principal, action, target, context, arn)
            if why_not:
                path.problems.append(f"{path.description}: {principal} may not {action}: {why_not}")

    def _switched_on(self, path: DeliveryPath, logical_id: str) -> None:
        """A disabled alarm action, rule, mapping or key delivers nothing, however the policies read."""
        prop, off = SWITCHES[self.resources[logical_id]["Type"]]
        value = self.resources[logical_id].get("Properties", {}).get(prop)
        if str(value).lower() == str(off).lower():
            path.problems.append(f"{path.description}: {logical_id} has {prop} {value}: nothing goes along this path")

    def _service_context(self, source_arn: str) -> dict[str, str]:
        return {"aws:sourcearn": source_arn, "aws:sourceaccount": ACCOUNT, "aws:sourceowner": ACCOUNT}

    def _check_key_of(self, path: DeliveryPath, target: str, principal: Principal, actions, context: dict) -> None:
        """The key a queue, topic, table or log group is encrypted with, for ``actions`` by ``principal``."""
        properties = self.resources[target].get("Properties", {})
        key = _nested(properties, KEY_PROPERTIES.get(self._type(target) or "", ("KmsMasterKeyId",)))
        if key is None:
            return  # SQS- or DynamoDB-managed encryption, or none: no key policy to satisfy
        if isinstance(key, str) and AWS_MANAGED_KEY_PREFIX in key:
            path.requests += len(actions)
            if principal.service:
                path.problems.append(
                    f"{path.description}: {target} is encrypted with the AWS managed key {key}, whose key policy no "
                    f"service may use: encrypt it with a customer managed key that lets {principal} use it"
                )
            return  # the account's own principals may use it through its service
        key_id = referenced_resource(key)
        if self._type(key_id) != "AWS::KMS::Key":
            raise WalkError(f"{target} is encrypted with {key!r}, which is not a key of the stack: the walk cannot read its policy")
        self._switched_on(path, key_id)
        self._check(path, principal, actions, key_id, context)

    def _of_type(self, value, kind: str, what: str) -> str:
        """The logical id ``value`` refers to, which must be a ``kind`` of the stack: the walk cannot
        prove a path to anything else (an imported ARN, a name written out)."""
        logical_id = referenced_resource(value)
        if self._type(logical_id) != kind:
            raise WalkError(f"{what}: {value!r} is not a {kind} of the stack: the walk cannot prove this path")
        return logical_id

    def walk(self) -> list[DeliveryPath]:
        for method in (self._alarm_actions, self._rule_targets, self._event_source_mappings, self._producer,
                       self._environments, self._table_keys, self._log_groups, self._delivery_streams,
                       self._emptied_buckets, self._subscriptions, self._chat_channels, self._secret_reads,
                       self._connections):  # fmt: skip
            method()
        return self.paths

    def _alarm_actions(self) -> None:
        cloudwatch = Principal(service="cloudwatch.amazonaws.com")
        alarms = {k: v for kind in ALARM_TYPES for k, v in resources(self.template, kind).items()}
        for alarm_id, alarm in alarms.items():
            for prop in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                for action in alarm["Properties"].get(prop, []):
                    topic = self._of_type(action, "AWS::SNS::Topic", f"alarm {alarm_id} ({prop})")
                    path = self._path(ALARM_ACTION, f"alarm {alarm_id} ({prop}) -> topic {topic}")
                    self._switched_on(path, alarm_id)
                    context = self._service_context(self.attribute(alarm_id, "Arn"))
                    self._check(path, cloudwatch, ["sns:Publish"], topic, context)
                    self._check_key_of(path, topic, cloudwatch, SEND_KEY_ACTIONS, context)

    def _rule_targets(self) -> None:
        events = Principal(service="events.amazonaws.com")
        for rule_id, rule in resources(self.template, "AWS::Events::Rule").items():
            context = self._service_context(self.attribute(rule_id, "Arn"))
            for target in rule["Properties"].get("Targets", []):
                target_id = referenced_resource(target["Arn"])
                kind = self._type(target_id)
                if kind not in TARGET_ACTIONS:
                    raise WalkError(f"rule {rule_id}: target {target['Arn']!r} ({kind}) has no model in the walk")
                sender = events
                if "RoleArn" in target:
                    sender = Principal(role=self._of_type(target["RoleArn"], "AWS::IAM::Role", f"rule {rule_id}'s target role"))
                    self._assumable_by(sender.role, events.service, f"rule {rule_id}'s target role")
                path = self._path(RULE_TARGET, f"rule {rule_id} -> target {target_id}")
                self._switched_on(path, rule_id)
                self._check(path, sender, [TARGET_ACTIONS[kind]], target_id, context)
                self._check_key_of(path, target_id, sender, SEND_KEY_ACTIONS, context)
                dead_letters = target.get("DeadLetterConfig", {}).get("Arn")
                if dead_letters is not None:
                    queue = self._of_type(dead_letters, "AWS::SQS::Queue", f"rule {rule_id}'s dead-letter queue")
                    self._send_path(RULE_DEAD_LETTERS, f"rule {rule_id} -> dead-letter queue {queue}", events, queue, context)

    def _send_path(self, kind: str, description: str, sender: Principal, queue: str, context: dict) -> None:
        """A service sending to a queue of the stack: the queue's policy and its key."""
        path = self._path(kind, description)
        self._check(path, sender, ["sqs:SendMessage"], queue, context)
        self._check_key_of(path, queue, sender, SEND_KEY_ACTIONS, context)

    def _function_role(self, function_ref) -> tuple[str, str]:
        function_id = self._of_type(function_ref, "AWS::Lambda::Function", "a function")
        role_id = self._of_type(self.resources[function_id]["Properties"]["Role"], "AWS::IAM::Role", f"{function_id}'s role")
        self._assumable_by(role_id, "lambda.amazonaws.com", f"{function_id}'s role")
        return function_id, role_id

    def _event_source_mappings(self) -> None:
        for mapping_id, mapping in resources(self.template, "AWS::Lambda::EventSourceMapping").items():
            properties = mapping["Properties"]
            function_id, role_id = self._function_role(properties["FunctionName"])
            role = Principal(role=role_id)
            source = properties["EventSourceArn"]
            source_id, attribute = source["Fn::GetAtt"] if isinstance(source, dict) and "Fn::GetAtt" in source else (None, None)
            path = self._path(EVENT_SOURCE, f"event source mapping {mapping_id} ({function_id}) <- {source_id}.{attribute}")
            self._switched_on(path, mapping_id)
            if self._type(source_id) == "AWS::SQS::Queue" and attribute == "Arn":
                self._check(path, role, QUEUE_READ_ACTIONS, source_id, {})
            elif self._type(source_id) == "AWS::DynamoDB::Table" and attribute == "StreamArn":
                # A stream is no resource of the template (no policy of its own): the table's StreamArn.
                self._check(path, role, STREAM_READ_ACTIONS, None, {}, self.attribute(source_id, "StreamArn"))
                self._check(path, role, [LIST_STREAMS], None, {})
            else:
                raise WalkError(f"mapping {mapping_id}: source {source!r} has no model in the walk")
            # A queue's messages, or a stream's records (encrypted with its table's key, read as the role).
            self._check_key_of(path, source_id, role, ["kms:Decrypt"], {})
            failures = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if failures is not None:
                queue = self._of_type(failures, "AWS::SQS::Queue", f"mapping {mapping_id}'s on-failure destination")
                path = self._path(ON_FAILURE, f"event source mapping {mapping_id} -> on-failure queue {queue}")
                self._check(path, role, ["sqs:SendMessage"], queue, {})
                self._check_key_of(path, queue, role, SEND_KEY_ACTIONS, {})

    def _producer(self) -> None:
        output = self.template.get("Outputs", {}).get(PRODUCER_POLICY_OUTPUT)
        if output is None:
            return
        policy_id = self._of_type(output["Value"], "AWS::IAM::ManagedPolicy", f"output {PRODUCER_POLICY_OUTPUT}")
        producer = Principal(managed_policy=policy_id)
        path = self._path(PRODUCER, f"producer policy {policy_id} -> queue {QUEUE.logical_id}")
        self._check(path, producer, ["sqs:SendMessage"], QUEUE.logical_id, {})
        self._check_key_of(path, QUEUE.logical_id, producer, SEND_KEY_ACTIONS, {})

    def _environments(self) -> None:
        for function_id, function in resources(self.template, "AWS::Lambda::Function").items():
            role = Principal(role=self._function_role({"Ref": function_id})[1])
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            for variable, value in sorted(variables.items()):
                for target in _references(value):  # none: a literal setting; several: a JSON of ARNs (the sender's)
                    self._environment(function_id, function, role, variable, target)

    def _environment(self, function_id: str, function: dict, role: Principal, variable: str, target: str) -> None:
        kind = self._type(target)
        if kind not in ENVIRONMENT_ACTIONS:
            raise WalkError(f"{function_id}: {variable} names {target} ({kind}), which has no model in the walk")
        path = self._path(ENVIRONMENT, f"function {function_id} ({variable}) -> {target}")
        handler = function["Properties"].get("Handler")
        action = READING_ENVIRONMENT.get((handler, variable), ENVIRONMENT_ACTIONS[kind])
        self._check(path, role, [action], target, {})
        if kind in TARGET_ACTIONS:  # a queue or topic it sends to: and its key
            self._check_key_of(path, target, role, SEND_KEY_ACTIONS, {})

    def _table_keys(self) -> None:
        """Each function's role to the key of each table its identity policies let it read or write items of."""
        tables = {
            table_id: key
            for table_id, table in resources(self.template, "AWS::DynamoDB::Table").items()
            if (key := _nested(table.get("Properties", {}), KEY_PROPERTIES["AWS::DynamoDB::Table"])) is not None
        }
        for function_id in resources(self.template, "AWS::Lambda::Function"):
            role = Principal(role=self._function_role({"Ref": function_id})[1])
            for table_id, key in tables.items():
                if all(self.allowed(role, action, table_id, {}) for action in TABLE_ITEM_ACTIONS):
                    continue  # no item of it is read or written: DynamoDB never uses its key for this role
                key_name = referenced_resource(key) or key
                path = self._path(TABLE_KEY, f"function {function_id} -> table {table_id} under key {key_name}")
                self._check_key_of(path, table_id, role, TABLE_KEY_ACTIONS, {})

    def _log_groups(self) -> None:
        providers = self._custom_resource_providers()
        for function_id, function in resources(self.template, "AWS::Lambda::Function").items():
            if function_id in providers and _nested(function["Properties"], ("LoggingConfig", "LogGroup")) is None:
                # CDK's provider logs to Lambda's default group, /aws/lambda/<name>, creating it (not encrypted by the stack).
                _, role_id = self._function_role({"Ref": function_id})
                path = self._path(FUNCTION_LOGS, f"custom resource provider {function_id} -> Lambda's default log group")
                group = self._log_group_arn(f"/aws/lambda/{self.name(function_id)}")
                for action in DEFAULT_LOG_ACTIONS:
                    self._check(path, Principal(role=role_id), [action], None, {}, group + ":log-stream:2026/01/01/a-stream")
                continue
            # Without a log group of its own, a function logs to Lambda's default group, which the walk has no model for.
            log_group = self._of_type(
                _nested(function["Properties"], ("LoggingConfig", "LogGroup")), "AWS::Logs::LogGroup", f"{function_id}'s log group"
            )
            _, role_id = self._function_role({"Ref": function_id})
            path = self._path(FUNCTION_LOGS, f"function {function_id} -> its log group {log_group}")
            stream = self.attribute(log_group, "Arn").removesuffix("*") + "log-stream:2026/01/01/a-stream"
            self._check(path, Principal(role=role_id), LOG_WRITE_ACTIONS, None, {}, stream)
        logs = Principal(service=f"logs.{REGION}.amazonaws.com")
        for log_group_id, log_group in resources(self.template, "AWS::Logs::LogGroup").items():
            key = log_group["Properties"].get("KmsKeyId")
            if key is None:
                continue
            key_id = referenced_resource(key)
            name = self.name(log_group_id)
            path = self._path(LOG_GROUP_KEY, f"log group {log_group_id} (named {name}) -> key {key_id or key}")
            self._check_key_of(path, log_group_id, logs, LOGS_KEY_ACTIONS, {LOGS_CONTEXT_KEY: self._log_group_arn(name)})
            # The key's condition must name this stack's log groups, not a sandbox stack's ("<stack name>-sandbox").
            other = GENERATED_NAME.format(stack=f"{self.stack_name}-sandbox", logical_id=log_group_id)
            path.requests += 1
            if self.allowed(logs, LOGS_KEY_ACTIONS[0], key_id, {LOGS_CONTEXT_KEY: self._log_group_arn(other)}) is None:
                path.problems.append(
                    f"{path.description}: the key policy of {key_id} also lets {logs} use the key for {other}, a log group "
                    "of another stack: its condition must name this stack's own log groups"
                )

    def _subscriptions(self) -> None:
        """SNS delivering a topic's messages to a queue of the stack (and failed ones to the subscription's DLQ)."""
        sns = Principal(service="sns.amazonaws.com")
        for subscription_id, subscription in resources(self.template, "AWS::SNS::Subscription").items():
            properties = subscription["Properties"]
            if properties["Protocol"] not in RESOURCE_PROTOCOLS:
                continue  # delivered out of AWS: nothing of the stack at the other end
            topic = self._of_type(properties["TopicArn"], "AWS::SNS::Topic", f"subscription {subscription_id}'s topic")
            queue = self._of_type(properties["Endpoint"], "AWS::SQS::Queue", f"subscription {subscription_id}'s endpoint")
            context = self._service_context(self.attribute(topic, "Ref"))
            self._send_path(SUBSCRIPTION, f"subscription {subscription_id}: topic {topic} -> queue {queue}", sns, queue, context)
            dead_letters = properties.get("RedrivePolicy", {}).get("deadLetterTargetArn")
            if dead_letters is not None:
                dlq = self._of_type(dead_letters, "AWS::SQS::Queue", f"subscription {subscription_id}'s dead-letter queue")
                description = f"subscription {subscription_id} -> dead-letter queue {dlq}"
                self._send_path(SUBSCRIPTION_DEAD_LETTERS, description, sns, dlq, context)

    def _chat_channels(self) -> None:
        """Q Developer's channel configurations: each topic it subscribes to is the stack's, its role is
        assumable by Q Developer only, and its guardrails are the stack's own policies, without wildcard actions
        (never the service's default AdministratorAccess)."""
        for config_id, configuration in {
            k: v for kind in CHAT_CONFIGURATION_TYPES for k, v in resources(self.template, kind).items()
        }.items():
            properties = configuration["Properties"]
            role_id = self._of_type(properties["IamRoleArn"], "AWS::IAM::Role", f"chat channel {config_id}'s role")
            trust = self.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            services = {service for s in trust for service in as_list(s.get("Principal", {}).get("Service", []))}
            for topic_arn in properties.get("SnsTopicArns", []):
                topic = self._of_type(topic_arn, "AWS::SNS::Topic", f"chat channel {config_id}'s topic")
                path = self._path(CHAT_CHANNEL, f"chat channel {config_id} <- topic {topic}")
                path.requests += 1
                if services != {CHATBOT_SERVICE}:
                    path.problems.append(f"{path.description}: role {role_id} is assumable by {sorted(services)}, "
                                         f"not by {CHATBOT_SERVICE} only")  # fmt: skip
                guardrails = properties.get("GuardrailPolicies")
                if not guardrails:
                    path.problems.append(f"{path.description}: no GuardrailPolicies: the service's default is "
                                         "AdministratorAccess")  # fmt: skip
                for guardrail in guardrails or []:
                    policy = self._of_type(guardrail, "AWS::IAM::ManagedPolicy", f"chat channel {config_id}'s guardrail")
                    wide = [a for b in self.resources[policy]["Properties"]["PolicyDocument"]["Statement"]
                            for a in as_list(b.get("Action", [])) if "*" in a]  # fmt: skip
                    if wide:
                        path.problems.append(f"{path.description}: guardrail {policy} allows {wide}")

    def _assumable_by(self, role_id: str, service: str, what: str) -> None:
        trust = self.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        if not any(service in as_list(s.get("Principal", {}).get("Service", [])) for s in trust):
            raise WalkError(f"{what} {role_id} is not assumable by {service}")

    def _secret_reads(self) -> None:
        """The sender's webhooks: its role reads each secret its destinations name (URL, header), which must
        be one the config names; the secret has no policy here, so the role's identity policy must allow it."""
        for function_id, function in resources(self.template, "AWS::Lambda::Function").items():
            encoded = function["Properties"].get("Environment", {}).get("Variables", {}).get(DESTINATIONS_VARIABLE)
            if encoded is None:
                continue
            role = Principal(role=self._function_role({"Ref": function_id})[1])
            for destination in json.loads(self.render(encoded)):
                secrets = [destination["auth_secret"]] if destination.get("auth_secret") else []
                if destination.get("url_is_secret"):
                    secrets.insert(0, destination["target"])
                for secret in secrets:
                    path = self._path(SECRET_READ, f"function {function_id} ({destination['name']}) -> secret {secret}")
                    self._check(path, role, ["secretsmanager:GetSecretValue"], None, {}, self._secret_arn(secret, path))

    def _secret_arn(self, secret: str, path: DeliveryPath) -> str:
        """The ARN IAM sees for a secret the config names (a name or an ARN, full or partial)."""
        if secret not in self.external_secrets:
            raise WalkError(f"{path.description}: {secret} is neither a resource of the stack nor a secret the config "
                            "names: the walk cannot prove this path")  # fmt: skip
        if secret.startswith("arn:"):
            return secret if FULL_SECRET_ARN.fullmatch(secret) else secret + SECRET_SAMPLE_SUFFIX
        return f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}{SECRET_SAMPLE_SUFFIX}"

    def _connections(self) -> None:
        """An API destination's connection: CloudFormation resolves its credential from a secret when it
        deploys (a dynamic reference), and EventBridge keeps it in the connection's own secret. Nothing of
        the stack reads it at run time; the secret must be one the config names."""
        for connection_id, connection in resources(self.template, CONNECTION).items():
            text = json.dumps(connection.get("Properties", {}))
            for secret in DYNAMIC_SECRET.findall(text):
                if secret not in self.external_secrets:
                    raise WalkError(f"connection {connection_id} resolves {secret}, a secret the config does not name")

    @staticmethod
    def _log_group_arn(name: str) -> str:
        return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}"

    def _custom_resource_providers(self) -> set[str]:
        """The functions that are a custom resource's provider (its ServiceToken): CDK's, for the bucket's emptying."""
        return {
            self._of_type(resource["Properties"]["ServiceToken"], "AWS::Lambda::Function", f"custom resource {logical_id}")
            for logical_id, resource in self.resources.items()
            if resource["Type"].startswith("Custom::")
        }

    def _bucket_key(self, bucket_id: str) -> str | None:
        """The logical id of the stack's key a bucket's default encryption uses (None: S3-managed keys)."""
        rules = _nested(self.resources[bucket_id].get("Properties", {}), ("BucketEncryption", "ServerSideEncryptionConfiguration"))
        keys = [key for rule in rules or [] if (key := rule["ServerSideEncryptionByDefault"].get("KMSMasterKeyID"))]
        return self._of_type(keys[0], "AWS::KMS::Key", f"bucket {bucket_id}'s key") if keys else None

    def _delivery_streams(self) -> None:
        """Each Firehose stream's role: to its bucket under each prefix it writes (with the bucket's policy and
        key), to the Glue table it converts by, and to its log stream."""
        for stream_id, stream in resources(self.template, "AWS::KinesisFirehose::DeliveryStream").items():
            properties = stream["Properties"]
            destination = properties.get("ExtendedS3DestinationConfiguration")
            if destination is None or set(properties) - {"DeliveryStreamType", "ExtendedS3DestinationConfiguration",
                                                         "DeliveryStreamEncryptionConfigurationInput", "Tags"}:  # fmt: skip
                raise WalkError(f"{stream_id}: the walk models only a DirectPut stream to an S3 destination")
            if _nested(properties, ("DeliveryStreamEncryptionConfigurationInput", "KeyType")) not in (None, "AWS_OWNED_CMK"):
                raise WalkError(f"{stream_id}: a stream encrypted with a customer managed key has no model in the walk")
            role_id = self._of_type(destination["RoleARN"], "AWS::IAM::Role", f"{stream_id}'s role")
            trust = self.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            if not any("firehose.amazonaws.com" in as_list(s.get("Principal", {}).get("Service", [])) for s in trust):
                raise WalkError(f"role {role_id} of {stream_id} is not assumable by Firehose")
            role = Principal(role=role_id)
            bucket_id = self._of_type(destination["BucketARN"], "AWS::S3::Bucket", f"{stream_id}'s bucket")
            bucket_arn = self.attribute(bucket_id, "Arn")
            key_ids = {self._bucket_key(bucket_id)}
            stream_key = _nested(destination, ("EncryptionConfiguration", "KMSEncryptionConfig", "AWSKMSKeyARN"))
            if stream_key is not None:
                key_ids.add(self._of_type(stream_key, "AWS::KMS::Key", f"{stream_id}'s object key"))
            s3_context = {"kms:viaservice": f"s3.{REGION}.amazonaws.com", S3_KEY_CONTEXT_KEY: bucket_arn}
            for prop in ("Prefix", "ErrorOutputPrefix"):
                prefix = PREFIX_EXPRESSION.sub("sample", self.render(destination[prop]))
                path = self._path(DELIVERY_DESTINATION, f"delivery stream {stream_id} ({prop} {prefix}) -> bucket {bucket_id}")
                self._check(path, role, FIREHOSE_BUCKET_ACTIONS, bucket_id, {}, bucket_arn)
                self._check(path, role, FIREHOSE_OBJECT_ACTIONS, bucket_id, {}, f"{bucket_arn}/{prefix}sample.parquet")
                for key_id in sorted(key_ids - {None}):
                    self._switched_on(path, key_id)
                    self._check(path, role, S3_KEY_ACTIONS_OF_S3, key_id, s3_context)
            schema = _nested(destination, ("DataFormatConversionConfiguration", "SchemaConfiguration"))
            if schema is not None:
                database_id = self._of_type(schema["DatabaseName"], "AWS::Glue::Database", f"{stream_id}'s schema database")
                table_id = self._of_type(schema["TableName"], "AWS::Glue::Table", f"{stream_id}'s schema table")
                if self._of_type(schema["RoleARN"], "AWS::IAM::Role", f"{stream_id}'s schema role") != role_id:
                    raise WalkError(f"{stream_id} reads its schema with another role than it writes with")
                glue = f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT}:"
                database, table = self.name(database_id), self.name(table_id)
                path = self._path(DELIVERY_SCHEMA, f"delivery stream {stream_id} -> Glue table {table_id}")
                for arn in (glue + "catalog", glue + f"database/{database}", glue + f"table/{database}/{table}"):
                    self._check(path, role, FIREHOSE_TABLE_ACTIONS, None, {}, arn)
            logging = destination.get("CloudWatchLoggingOptions", {})
            if logging.get("Enabled"):
                group_id = self._of_type(logging["LogGroupName"], "AWS::Logs::LogGroup", f"{stream_id}'s log group")
                log_stream_id = self._of_type(logging["LogStreamName"], "AWS::Logs::LogStream", f"{stream_id}'s log stream")
                if referenced_resource(self.resources[log_stream_id]["Properties"]["LogGroupName"]) != group_id:
                    raise WalkError(f"{stream_id}: its log stream {log_stream_id} is not in its log group {group_id}")
                path = self._path(DELIVERY_LOGS, f"delivery stream {stream_id} -> log stream {log_stream_id}")
                arn = self._log_group_arn(self.name(group_id)) + f":log-stream:{self.name(log_stream_id)}"
                self._check(path, role, ["logs:PutLogEvents"], None, {}, arn)

    def _emptied_buckets(self) -> None:
        """CDK's auto-delete provider (a sandbox's bucket): its role may empty the bucket when the stack is destroyed."""
        for logical_id, resource in resources(self.template, "Custom::S3AutoDeleteObjects").items():
            bucket_id = self._of_type(resource["Properties"]["BucketName"], "AWS::S3::Bucket", f"{logical_id}'s bucket")
            _, role_id = self._function_role(resource["Properties"]["ServiceToken"])
            path = self._path(EMPTY_ON_DESTROY, f"custom resource {logical_id} -> bucket {bucket_id}")
            bucket_arn = self.attribute(bucket_id, "Arn")
            self._check(path, Principal(role=role_id), EMPTY_BUCKET_ACTIONS, bucket_id, {}, bucket_arn)
            self._check(path, Principal(role=role_id), EMPTY_OBJECT_ACTIONS, bucket_id, {}, f"{bucket_arn}/sample.parquet")


def _like(value: str, pattern: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcards: * is any run of characters, ? one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _arn_like(arn: str, pattern: str) -> bool:
    """ArnLike: each of the six colon-delimited parts on its own (the last, the resource, keeps its colons),
    so a wildcard never spans parts and a pattern of fewer parts matches nothing."""
    arn_parts, pattern_parts = arn.split(":", 5), pattern.split(":", 5)
    return len(arn_parts) == len(pattern_parts) == 6 and all(map(_like, arn_parts, pattern_parts))


def _references(value) -> list[str]:
    """The logical ids a variable's value refers to: one Ref or GetAtt, or those within an Fn::Join."""
    found = referenced_resource(value)
    if found is not None:
        return [found]
    if isinstance(value, dict) and list(value) == ["Fn::Join"]:
        return [each for part in value["Fn::Join"][1] for each in _references(part)]
    return []


def _nested(properties: dict, names: tuple[str, ...]):
    """properties[names[0]][names[1]]..., or None where a level is missing."""
    value = properties
    for name in names:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def delivery_paths(template: dict, stack_name: str, external_secrets: Collection[str] = ()) -> list[DeliveryPath]:
    """Every delivery path of the template, each with what AWS would refuse on it (``problems``)."""
    return Walk(template, stack_name, external_secrets).walk()


def problems(paths: list[DeliveryPath]) -> Iterator[str]:
    for path in paths:
        yield from path.problems
