"""The archive and its reports (config reports): the bucket, the Glue table, Firehose, the archiver and Athena.

The examples turn reports on (the studios' session synthesis); the defaults leave them off. One more
synthesis each: reports without a customer managed key, and the named queries of a reports folder.
"""

from __future__ import annotations

import json
import re

import pytest

import stacks.pipeline_stack
from archive.columns import COLUMNS, PARTITION_COLUMNS
from stacks.config import load_config, project_context
from stacks.constructs.archive import (
    BYTES_SCANNED_CUTOFF,
    EMPTYING_ACTIONS,
    FIREHOSE_BUCKET_ACTIONS,
    FIREHOSE_OBJECT_ACTIONS,
    GLUE_TABLE_ACTIONS,
)
from stacks.roles import (
    ARCHIVE_FAILURE_QUEUE_LOGICAL_ID,
    ARCHIVER_HANDLER,
    HISTORY_TABLE,
    PIPELINE_KEY_LOGICAL_ID,
    REPORTS_BUCKET,
)
from stacks.synth import synthesize_template
from tests.infrastructure.delivery_paths import (
    DELIVERY_DESTINATION,
    DELIVERY_LOGS,
    DELIVERY_SCHEMA,
    delivery_paths,
    problems,
)
from tests.infrastructure.studio_configs import Studio
from tests.infrastructure.template_tools import (
    as_list,
    assert_least_privilege,
    event_source_mapping,
    function_with_handler,
    glue_columns,
    only,
    resources,
    role_policy,
)

ARCHIVE_TYPES = (
    "AWS::S3::Bucket", "AWS::KinesisFirehose::DeliveryStream", "AWS::Glue::Database", "AWS::Glue::Table",
    "AWS::Athena::WorkGroup",
)  # fmt: skip
BUCKET_ARN = {"Fn::GetAtt": [REPORTS_BUCKET.logical_id, "Arn"]}


@pytest.fixture(scope="module")
def example(studio_synthesis) -> Studio:
    return studio_synthesis.studios["example"]


@pytest.fixture(scope="module")
def sandbox(studio_synthesis) -> Studio:
    return studio_synthesis.studios["example-sandbox"]


@pytest.fixture(scope="module")
def without_key() -> dict:
    """Reports on, with the defaults otherwise: no customer managed key."""
    return synthesize_template({"reports": "true"})


def props(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id]["Properties"]


def destination(template: dict) -> dict:
    return only(template, "AWS::KinesisFirehose::DeliveryStream")[1]["ExtendedS3DestinationConfiguration"]


def test_without_reports_there_is_no_archive_but_the_history_streams_for_failing_workers(pipeline_template):
    assert not [k for k, r in pipeline_template["Resources"].items() if r["Type"] in ARCHIVE_TYPES]
    history = props(pipeline_template, HISTORY_TABLE.logical_id)
    assert history["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}


def test_the_bucket_is_pinned_encrypted_private_tls_only_and_expires_each_prefix(example):
    bucket = props(example.template, REPORTS_BUCKET.logical_id)
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == {
        "BucketKeyEnabled": True,  # one KMS request per bucket key, not per object
        "ServerSideEncryptionByDefault": {
            "KMSMasterKeyID": {"Fn::GetAtt": [PIPELINE_KEY_LOGICAL_ID, "Arn"]}, "SSEAlgorithm": "aws:kms",
        },
    }  # fmt: skip
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "VersioningConfiguration" not in bucket  # written once, never overwritten
    expiry = {rule["Prefix"]: rule["ExpirationInDays"] for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert expiry == {"notifications/": example.config.reports_retention_days, "athena-results/": 30, "errors/": 30}
    assert all(rule["Status"] == "Enabled" for rule in bucket["LifecycleConfiguration"]["Rules"])
    _, policy = only(example.template, "AWS::S3::BucketPolicy")
    denies = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert [s["Condition"] for s in denies] == [
        {"Bool": {"aws:SecureTransport": "false"}}, {"NumericLessThan": {"s3:TlsVersion": 1.2}}
    ]


def test_without_the_key_the_bucket_and_the_query_results_use_s3_managed_keys(without_key):
    (encryption,) = props(without_key, REPORTS_BUCKET.logical_id)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    _, workgroup = only(without_key, "AWS::Athena::WorkGroup")
    results = workgroup["WorkGroupConfiguration"]["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    assert destination(without_key)["EncryptionConfiguration"] == {"NoEncryptionConfig": "NoEncryption"}
    assert_least_privilege(without_key)


def test_the_bucket_is_retained_in_production_and_empties_itself_in_a_sandbox(example, sandbox):
    kept = example.template["Resources"][REPORTS_BUCKET.logical_id]
    assert (kept["DeletionPolicy"], kept["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert not resources(example.template, "Custom::S3AutoDeleteObjects")
    gone = sandbox.template["Resources"][REPORTS_BUCKET.logical_id]
    assert (gone["DeletionPolicy"], gone["UpdateReplacePolicy"]) == ("Delete", "Delete")
    _, emptying = only(sandbox.template, "Custom::S3AutoDeleteObjects")
    assert emptying["BucketName"] == {"Ref": REPORTS_BUCKET.logical_id}
    _, policy = only(sandbox.template, "AWS::S3::BucketPolicy")
    (allowed,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allowed["Action"] == list(EMPTYING_ACTIONS)  # the provider's calls, not the CDK's wildcards


def test_the_glue_table_has_the_archives_columns_and_projected_hive_partitions(example):
    columns, partitions = glue_columns(example.template)
    assert columns == [(column.name, column.glue_type) for column in COLUMNS]
    assert partitions == [(column.name, column.glue_type) for column in PARTITION_COLUMNS] == [
        ("kind", "string"), ("dt", "string"), ("hour", "string")
    ]
    _, table = only(example.template, "AWS::Glue::Table")
    table_input = table["TableInput"]
    assert table["DatabaseName"] == example.config.reports_database == "deadline_notifications_example"
    assert table_input["Name"] == "notifications" and table_input["TableType"] == "EXTERNAL_TABLE"
    storage = table_input["StorageDescriptor"]
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert storage["InputFormat"].endswith("MapredParquetInputFormat")
    parameters = table_input["Parameters"]
    assert {name: value for name, value in parameters.items() if name.startswith("projection.")} == {
        "projection.enabled": "true",
        "projection.kind.type": "enum",
        "projection.kind.values": "job,task",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": f"NOW-{example.config.reports_retention_days}DAYS,NOW+1DAY",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
    }


def test_the_tables_location_template_is_where_firehose_writes(example):
    _, table = only(example.template, "AWS::Glue::Table")
    location = json.dumps(table["TableInput"]["Parameters"]["storage.location.template"])
    prefix = destination(example.template)["Prefix"]
    assert prefix == "notifications/kind=!{partitionKeyFromQuery:kind}/dt=!{partitionKeyFromQuery:dt}/hour=!{partitionKeyFromQuery:hour}/"
    assert location.endswith(re.sub(r"!\{partitionKeyFromQuery:(\w+)\}", r"${\1}", prefix) + '"]]}')
    assert REPORTS_BUCKET.logical_id in location


def test_firehose_partitions_by_the_rows_own_time_and_writes_parquet_by_the_glue_table(example):
    _, stream = only(example.template, "AWS::KinesisFirehose::DeliveryStream")
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
    config = stream["ExtendedS3DestinationConfiguration"]
    assert config["BucketARN"] == BUCKET_ARN
    assert config["BufferingHints"] == {"SizeInMBs": 128, "IntervalInSeconds": 600}  # at least 64 MB; at most 600 s
    assert config["CompressionFormat"] == "UNCOMPRESSED"  # Parquet's own Snappy instead
    assert config["ErrorOutputPrefix"] == "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    assert config["DynamicPartitioningConfiguration"]["Enabled"] is True
    (processor,) = config["ProcessingConfiguration"]["Processors"]
    assert processor["Type"] == "MetadataExtraction"
    assert {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]} == {
        "MetadataExtractionQuery": "{kind: .kind, dt: .dt, hour: .hour}", "JsonParsingEngine": "JQ-1.6",
    }  # fmt: skip
    conversion = config["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert conversion["InputFormatConfiguration"] == {"Deserializer": {"HiveJsonSerDe": {}}}  # timestamps by valueOf
    assert conversion["OutputFormatConfiguration"] == {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}
    schema = conversion["SchemaConfiguration"]
    table_id, _ = only(example.template, "AWS::Glue::Table")
    database_id, _ = only(example.template, "AWS::Glue::Database")
    assert (schema["DatabaseName"], schema["TableName"], schema["VersionId"]) == (
        {"Ref": database_id}, {"Ref": table_id}, "LATEST"
    )
    assert config["EncryptionConfiguration"] == {
        "KMSEncryptionConfig": {"AWSKMSKeyARN": {"Fn::GetAtt": [PIPELINE_KEY_LOGICAL_ID, "Arn"]}}
    }
    logging = config["CloudWatchLoggingOptions"]
    assert logging["Enabled"] is True
    log_group = props(example.template, logging["LogGroupName"]["Ref"])
    assert log_group["RetentionInDays"] == example.config.log_retention_days


def test_firehoses_role_writes_only_under_its_prefixes_reads_only_its_table_and_uses_the_key_only_through_s3(example):
    role_id = destination(example.template)["RoleARN"]["Fn::GetAtt"][0]
    statements = {tuple(as_list(s["Action"])): s for s in role_policy(example.template, role_id)[1]["PolicyDocument"]["Statement"]}
    assert statements[FIREHOSE_BUCKET_ACTIONS]["Resource"] == BUCKET_ARN
    objects = statements[FIREHOSE_OBJECT_ACTIONS]["Resource"]
    assert [part["Fn::Join"][1] for part in objects] == [[BUCKET_ARN, "/errors/*"], [BUCKET_ARN, "/notifications/*"]]
    assert len(statements[GLUE_TABLE_ACTIONS]["Resource"]) == 3  # the catalog, the database, the table
    key = statements[("kms:Decrypt", "kms:GenerateDataKey")]
    assert key["Resource"] == {"Fn::GetAtt": [PIPELINE_KEY_LOGICAL_ID, "Arn"]}
    assert key["Condition"]["StringEquals"]["kms:EncryptionContext:aws:s3:arn"] == BUCKET_ARN
    assert set(statements) == {FIREHOSE_BUCKET_ACTIONS, FIREHOSE_OBJECT_ACTIONS, GLUE_TABLE_ACTIONS,
                               ("logs:PutLogEvents",), ("kms:Decrypt", "kms:GenerateDataKey")}  # fmt: skip
    trust = props(example.template, role_id)["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{
        "Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }]  # fmt: skip


def test_the_archiver_reads_the_histories_inserts_and_puts_records_on_its_stream_only(example):
    function_id, function = function_with_handler(example.template, ARCHIVER_HANDLER)
    stream_id, _ = only(example.template, "AWS::KinesisFirehose::DeliveryStream")
    assert function["Environment"]["Variables"] == {"DELIVERY_STREAM_NAME": {"Ref": stream_id}}
    assert function["Timeout"] == 60
    _, policy = role_policy(example.template, function["Role"]["Fn::GetAtt"][0])
    by_action = {action: s["Resource"] for s in policy["PolicyDocument"]["Statement"] for action in as_list(s["Action"])}
    assert by_action["firehose:PutRecordBatch"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    assert by_action["dynamodb:GetRecords"] == {"Fn::GetAtt": [HISTORY_TABLE.logical_id, "StreamArn"]}
    _, mapping = event_source_mapping(example.template, HISTORY_TABLE.logical_id, "StreamArn", function_id)
    assert mapping["FilterCriteria"] == {"Filters": [{"Pattern": '{"eventName":["INSERT"]}'}]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (mapping["BisectBatchOnFunctionError"], mapping["MaximumRetryAttempts"], mapping["StartingPosition"]) == (
        True, 20, "TRIM_HORIZON"
    )
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [ARCHIVE_FAILURE_QUEUE_LOGICAL_ID, "Arn"]}
    queue = props(example.template, ARCHIVE_FAILURE_QUEUE_LOGICAL_ID)
    assert queue["QueueName"] == "DeadlineNotifications-example-archive-failures"


def test_the_workgroup_enforces_encrypted_expiring_results_and_a_scan_cutoff(example):
    _, workgroup = only(example.template, "AWS::Athena::WorkGroup")
    assert workgroup["Name"] == example.config.reports_workgroup == "DeadlineNotifications-example-reports"
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == BYTES_SCANNED_CUTOFF == 10 * 1024**3
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    results = configuration["ResultConfiguration"]
    assert results["OutputLocation"] == {"Fn::Join": ["", ["s3://", {"Ref": REPORTS_BUCKET.logical_id}, "/athena-results/"]]}
    assert results["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS", "KmsKey": {"Fn::GetAtt": [PIPELINE_KEY_LOGICAL_ID, "Arn"]}
    }


def test_firehose_failures_and_a_lagging_archiver_are_alarmed(example):
    alarmed = {
        (alarm["Properties"].get("Namespace"), alarm["Properties"].get("MetricName"), alarm["Properties"]["ComparisonOperator"])
        for alarm in resources(example.template, "AWS::CloudWatch::Alarm").values()
    }
    assert {
        ("AWS/Firehose", "DeliveryToS3.DataFreshness", "GreaterThanThreshold"),
        ("AWS/Firehose", "DeliveryToS3.Success", "LessThanThreshold"),
        ("AWS/Firehose", "FailedConversion.Records", "GreaterThanThreshold"),
        ("AWS/Firehose", "PartitionCountExceeded", "GreaterThanThreshold"),
        ("AWS/Lambda", "IteratorAge", "GreaterThanThreshold"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "GreaterThanThreshold"),
    } <= alarmed


def test_outputs_name_the_bucket_the_workgroup_and_the_database(example):
    outputs = {key: output["Value"] for key, output in example.template["Outputs"].items()}
    database_id, _ = only(example.template, "AWS::Glue::Database")
    workgroup_id, _ = only(example.template, "AWS::Athena::WorkGroup")
    assert {key: outputs[key] for key in ("ReportsBucketName", "ReportsWorkgroup", "ReportsDatabase")} == {
        "ReportsBucketName": {"Ref": REPORTS_BUCKET.logical_id},
        "ReportsWorkgroup": {"Ref": workgroup_id},
        "ReportsDatabase": {"Ref": database_id},
    }


def test_each_report_file_is_a_named_query_over_the_table_from_its_default_period(tmp_path, monkeypatch):
    (tmp_path / "render_hours.sql").write_text("-- Render hours per day\nSELECT * FROM {table} WHERE notified_at >= {since}\n")
    (tmp_path / "failed_jobs.sql").write_text("-- Jobs failed in the last day\n-- default since: 1d\nSELECT {since} FROM {table}\n")
    (tmp_path / "duckdb_shim.sql").write_text("CREATE MACRO to_unixtime(t) AS epoch(t);\n")  # no report
    monkeypatch.setattr(stacks.pipeline_stack, "REPORTS_FOLDER", tmp_path)
    template = synthesize_template({"reports": "true"})
    queries = {q["Properties"]["Name"]: q["Properties"] for q in resources(template, "AWS::Athena::NamedQuery").values()}
    assert sorted(queries) == ["failed_jobs", "render_hours"]
    workgroup_id, _ = only(template, "AWS::Athena::WorkGroup")
    database = load_config({**project_context(), "reports": "true"}).reports_database
    render_hours = queries["render_hours"]
    assert (render_hours["Database"], render_hours["WorkGroup"], render_hours["Description"]) == (
        database, {"Ref": workgroup_id}, "Render hours per day"
    )
    week_ago = "(CAST(current_timestamp AS timestamp) - INTERVAL '7' DAY)"
    assert render_hours["QueryString"] == f'-- Render hours per day\nSELECT * FROM "{database}"."notifications" WHERE notified_at >= {week_ago}\n'
    assert "INTERVAL '1' DAY" in queries["failed_jobs"]["QueryString"]


def test_without_the_key_every_archive_path_is_allowed_too(without_key):
    paths = delivery_paths(without_key, load_config({**project_context(), "reports": "true"}).stack_name)
    assert {path.kind for path in paths} >= {DELIVERY_DESTINATION, DELIVERY_SCHEMA, DELIVERY_LOGS}
    assert list(problems(paths)) == []
