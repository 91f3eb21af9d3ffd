"""The archive: every distinct notification as Parquet in S3, and Athena to report on it (docs/reports.md).

history table's stream --mapping (INSERTs)--> archiver --PutRecordBatch--> Firehose
    --(dynamic partitioning, Parquet by the Glue table)--> ReportsBucket/notifications/kind=/dt=/hour=/
Athena workgroup <stack>-reports --(Glue table, partition projection)--> the same objects
"""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

from aws_cdk import ArnFormat, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from archive.archiver import ARCHIVED_EVENT, CALL_BUDGET_SECONDS, DELIVERY_STREAM_VARIABLE
from archive.columns import COLUMNS, KINDS, PARTITION_COLUMNS
from stacks.constructs import acknowledge, escape_hatch
from stacks.constructs.functions import own_function
from stacks.constructs.monitoring import PERIOD, alarm
from stacks.constructs.streams import (
    STREAM_CONSUMER_FAILURES,
    consumer_alarms,
    failure_queue,
    grant_stream_reads,
    stream_mapping,
)
from stacks.roles import ARCHIVE_FAILURE_QUEUE_LOGICAL_ID, ARCHIVER_HANDLER, REPORTS_BUCKET, REPORTS_TABLE

# Where the bucket keeps what (each prefix with its own expiry).
ARCHIVE_PREFIX = "notifications/"
ERRORS_PREFIX = "errors/"
RESULTS_PREFIX = "athena-results/"
WORK_FILES_DAYS = 30  # Athena's results and Firehose's error output
# Firehose: Hive-style folders from the row's own partition values (archive.columns.row), so
# Athena's partition projection and DuckDB's hive_partitioning read them.
PARTITION_QUERY = "{" + ", ".join(f"{c.name}: .{c.name}" for c in PARTITION_COLUMNS) + "}"
ARCHIVE_OBJECT_PREFIX = ARCHIVE_PREFIX + "".join(f"{c.name}=!{{partitionKeyFromQuery:{c.name}}}/" for c in PARTITION_COLUMNS)
ERROR_OBJECT_PREFIX = ERRORS_PREFIX + "!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
# Format conversion needs a buffer of at least 64 MB; 128 MB (the most) makes fewer, larger Parquet
# files. 600 s is the most the issue allows: a notification is in S3 within about 15 minutes.
BUFFER_MB = 128
BUFFER_SECONDS = 600
PARTITIONING_RETRY_SECONDS = 300
# Alarm thresholds: a record older than this in Firehose is late (the buffer's 600 s plus delivery).
FRESHNESS_ALARM_SECONDS = 900
# Athena: a query that would scan more than this is cancelled (a week of a busy farm is ~100 MB).
BYTES_SCANNED_CUTOFF = 10 * 1024**3
ATHENA_ENGINE = "Athena engine version 3"
# The named queries' period when run from the console (the report command passes --since).
DEFAULT_SINCE_DAYS = 7
_DEFAULT_SINCE_LINE = re.compile(r"^--\s*default since:\s*(\d+)([dh])\s*$", re.MULTILINE)  # the report files' own form
NOT_A_REPORT = frozenset({"duckdb_shim"})  # SQL in the reports folder that is no report
ARCHIVER_TIMEOUT = Duration.seconds(CALL_BUDGET_SECONDS + 35)
ARCHIVER_MEMORY_MB = 256
STREAM_BATCH_SIZE = 100
# What Firehose does with its bucket (its documented S3 destination policy), split by what it touches.
FIREHOSE_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
FIREHOSE_OBJECT_ACTIONS = ("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject")
# What format conversion reads of the Glue table (Firehose's documented Glue policy).
GLUE_TABLE_ACTIONS = ("glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions")
S3_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
# What CDK's auto-delete provider calls when the stack is destroyed (GetBucketPolicy, PutBucketPolicy,
# GetBucketTagging, ListObjectVersions, DeleteObjects of versions), instead of the CDK's wildcards.
EMPTYING_PROVIDER = "Custom::S3AutoDeleteObjectsCustomResourceProvider"  # the CDK's construct id, at stack level
EMPTYING_ACTIONS = (
    "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:GetBucketTagging", "s3:ListBucketVersions", "s3:DeleteObject",
    "s3:DeleteObjectVersion",
)  # fmt: skip
FIREHOSE_SERVICE = "firehose.amazonaws.com"


class NotificationArchive(Construct):
    """The archive of ``history_table``'s stream (NEW_IMAGE), and its Athena workgroup, database and queries.

    - ``bucket``: SSE with ``key`` (SSE-KMS, with an S3 Bucket Key: one KMS request per bucket key,
      not per object) or S3-managed keys when None; TLS only; public access blocked; objects owned
      by the bucket owner; not versioned (Firehose writes each object once, and nothing overwrites
      one: versions would only keep expired data). Objects expire: ``notifications/`` after
      ``retention_days``, ``athena-results/`` and ``errors/`` after 30 days. ``removal_policy`` as
      the tables'; ``auto_delete_objects`` (sandboxes) empties it when the stack is destroyed.
    - The archiver (``archive.handler.main``) reads the stream's INSERTs (an event filter leaves out
      TTL's deletions) with partial batch responses, bisection and bounded retries; what it gives up
      on is described in ``failure_queue`` (alarmed). Its role may put records on this delivery
      stream only.
    - Firehose (DirectPut, encrypted with an AWS owned key while it buffers) partitions each row by
      its own kind, day and hour and writes Parquet by the Glue table; what it cannot convert or
      partition goes under ``errors/``. Its role may write only under ``notifications/`` and
      ``errors/``, read only the Glue table, and use ``key`` only through S3 for this bucket. It logs
      to its own log group (``log_retention_days``).
    - Glue: database ``database_name``, table ``notifications`` (columns: archive.columns.COLUMNS;
      partitions kind, dt, hour, projected: no crawler, no partition to add).
    - Athena: workgroup ``workgroup_name``, its configuration enforced (results under
      ``athena-results/``, encrypted like the bucket; 10 GB scanned at most per query), and one
      named query per ``<name>.sql`` of ``reports_folder`` (none when it has none).
    - ``alarms``: the failure queue holding anything, the archiver falling behind its stream,
      Firehose's deliveries to S3 failing or late, records it could not convert or partition.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        history_table: dynamodb.ITable,
        database_name: str,
        workgroup_name: str,
        failure_queue_name: str,
        retention_days: int,
        reports_folder: Path,
        late_threshold: Duration,
        log_retention_days: int,
        key: kms.IKey | None,
        tracing: bool,
        removal_policy: RemovalPolicy,
        auto_delete_objects: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.bucket = self._bucket(key, retention_days, removal_policy, auto_delete_objects)
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description="Deadline notifications, one row each (docs/reports.md)"
            ),
        )
        self.table = self._table(database_name, retention_days)
        delivery_stream = self._delivery_stream(key, log_retention_days, removal_policy)
        self.delivery_stream = delivery_stream

        self.failure_queue = failure_queue(
            self,
            queue_name=failure_queue_name,
            logical_id=ARCHIVE_FAILURE_QUEUE_LOGICAL_ID,
            removal_policy=removal_policy,
            receives="the history stream mapping's on-failure destination",
        )
        own = own_function(
            self,
            handler=ARCHIVER_HANDLER,
            description="Archives every distinct Deadline notification from the history's stream through Firehose",
            role_description="Runs the archiver: reads the history's stream, puts records on its Firehose stream",
            timeout=ARCHIVER_TIMEOUT,
            memory_size=ARCHIVER_MEMORY_MB,
            environment={DELIVERY_STREAM_VARIABLE: delivery_stream.ref},
            log_retention_days=log_retention_days,
            key=key,
            tracing=tracing,
            failures_handled_by=STREAM_CONSUMER_FAILURES,
            removal_policy=removal_policy,
        )
        self.function = own.function
        own.role.add_to_policy(
            iam.PolicyStatement(actions=["firehose:PutRecordBatch"], resources=[delivery_stream.attr_arn])
        )
        grant_stream_reads(own, [history_table.table_stream_arn], key=key, tracing=tracing, which="history stream's ARN")
        self.mapping = stream_mapping(
            self,
            "HistoryStreamEventSource",
            function=self.function,
            stream_arn=history_table.table_stream_arn,
            batch_size=STREAM_BATCH_SIZE,
            failures=self.failure_queue,
            filters=[lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal(ARCHIVED_EVENT)})],
        )
        own.depend_on_role_policy()

        self.workgroup = self._workgroup(workgroup_name, key)
        self.named_queries = self._named_queries(reports_folder, database_name)
        self.alarms = self._alarms(late_threshold)

    def _bucket(
        self, key: kms.IKey | None, retention_days: int, removal_policy: RemovalPolicy, auto_delete_objects: bool
    ) -> s3.Bucket:
        expiring = [(ARCHIVE_PREFIX, retention_days), (RESULTS_PREFIX, WORK_FILES_DAYS), (ERRORS_PREFIX, WORK_FILES_DAYS)]
        bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED if key is None else s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True if key is not None else None,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=f"expire-{prefix.rstrip('/')}",
                    prefix=prefix,
                    expiration=Duration.days(days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
                for prefix, days in expiring
            ],
            removal_policy=removal_policy,
            auto_delete_objects=auto_delete_objects,
        )
        escape_hatch(bucket).override_logical_id(REPORTS_BUCKET.logical_id)
        if auto_delete_objects:
            _name_the_emptying_actions(bucket)
        acknowledge(
            bucket,
            {
                "AwsSolutions::AwsSolutions-S1": (
                    "Server access logs would need a second bucket of their own; only the stack's Firehose role "
                    "writes here, and readers come through Athena, whose queries CloudTrail records (turn on "
                    "CloudTrail S3 data events for object-level audit)"
                ),
                "NIST.800.53.R5::NIST.800.53.R5-S3BucketLoggingEnabled": (
                    "As AwsSolutions-S1: CloudTrail records the Athena queries; S3 data events can be turned on"
                ),
                "NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled": (
                    "The archive is derived from the notifications (the history keeps them too); a replica in "
                    "another region would double its cost for data that can be archived again"
                ),
                "NIST.800.53.R5::NIST.800.53.R5-S3BucketVersioningEnabled": (
                    "Firehose writes each object once and nothing overwrites one; lifecycle expiry is the only "
                    "deletion, so versions would only keep expired data"
                ),
                **({} if key is not None else {"NIST.800.53.R5::NIST.800.53.R5-S3DefaultEncryptionKMS": (
                    "S3-managed keys encrypt the archive at rest; the config key customer_managed_key "
                    "encrypts it with the stack's KMS key"
                )}),
            },
        )
        return bucket

    def _table(self, database_name: str, retention_days: int) -> glue.CfnTable:
        stack = Stack.of(self)
        location = f"s3://{self.bucket.bucket_name}/{ARCHIVE_PREFIX}"
        template = location + "".join(f"{c.name}=${{{c.name}}}/" for c in PARTITION_COLUMNS)
        kind, dt, hour = (c.name for c in PARTITION_COLUMNS)
        table = glue.CfnTable(
            self,
            "Table",
            catalog_id=stack.account,
            database_name=database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=REPORTS_TABLE,
                description="Every distinct Deadline notification, one row each (docs/reports.md)",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "parquet",
                    "projection.enabled": "true",
                    f"projection.{kind}.type": "enum",
                    f"projection.{kind}.values": ",".join(KINDS),
                    f"projection.{dt}.type": "date",
                    f"projection.{dt}.format": "yyyy-MM-dd",
                    # From the oldest kept object to tomorrow (a Timestamp a little ahead of the clock).
                    f"projection.{dt}.range": f"NOW-{retention_days}DAYS,NOW+1DAY",
                    f"projection.{dt}.interval": "1",
                    f"projection.{dt}.interval.unit": "DAYS",
                    f"projection.{hour}.type": "integer",
                    f"projection.{hour}.range": "0,23",
                    f"projection.{hour}.digits": "2",
                    "storage.location.template": template,
                },
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=c.name, type=c.glue_type, comment=c.comment)
                    for c in PARTITION_COLUMNS
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    columns=[glue.CfnTable.ColumnProperty(name=c.name, type=c.glue_type, comment=c.comment) for c in COLUMNS],
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                        parameters={"serialization.format": "1"},
                    ),
                ),
            ),
        )
        table.node.add_dependency(self.database)
        return table

    def _delivery_stream(
        self, key: kms.IKey | None, log_retention_days: int, removal_policy: RemovalPolicy
    ) -> firehose.CfnDeliveryStream:
        stack = Stack.of(self)
        log_group = logs.LogGroup(self, "DeliveryLogGroup", encryption_key=key, removal_policy=removal_policy)
        escape_hatch(log_group).add_property_override("RetentionInDays", log_retention_days)
        if key is None:
            acknowledge(
                log_group,
                {"NIST.800.53.R5::NIST.800.53.R5-CloudWatchLogGroupEncrypted": (
                    "CloudWatch Logs encrypts every log group at rest with its own keys; the config key "
                    "customer_managed_key encrypts it with the stack's KMS key"
                )},
            )
        log_stream = logs.LogStream(self, "DeliveryLogStream", log_group=log_group, removal_policy=removal_policy)
        role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal(FIREHOSE_SERVICE, conditions={"StringEquals": {"aws:SourceAccount": stack.account}}),
            description="Lets Firehose write the archive's Parquet objects and read the Glue table they follow",
        )
        acknowledge(
            role,
            {
                **{f"AwsSolutions::AwsSolutions-IAM5[Resource::<{REPORTS_BUCKET.logical_id}.Arn>/{prefix}*]": (
                    f"Firehose writes objects of its own names under {prefix} (its prefix and partitions); the role "
                    "may write nowhere else in the bucket"
                ) for prefix in (ARCHIVE_PREFIX, ERRORS_PREFIX)},
                "NIST.800.53.R5::NIST.800.53.R5-IAMNoInlinePolicy": (
                "Firehose's own role carries one policy, scoped to this archive's prefixes, Glue table and log "
                "stream and checked by the delivery-path walk; a managed policy could be attached elsewhere"
                ),
            },
        )
        bucket_arn = self.bucket.bucket_arn
        role.add_to_policy(iam.PolicyStatement(actions=list(FIREHOSE_BUCKET_ACTIONS), resources=[bucket_arn]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=list(FIREHOSE_OBJECT_ACTIONS),
                resources=[f"{bucket_arn}/{prefix}*" for prefix in (ARCHIVE_PREFIX, ERRORS_PREFIX)],
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=list(GLUE_TABLE_ACTIONS), resources=self.glue_arns()))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:PutLogEvents"],
                resources=[stack.format_arn(
                    service="logs", resource="log-group",
                    resource_name=f"{log_group.log_group_name}:log-stream:{log_stream.log_stream_name}",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )],
            )
        )  # fmt: skip
        if key is not None:  # only through S3, for this bucket (with a Bucket Key, the bucket is the context)
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=list(S3_KEY_ACTIONS),
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": f"s3.{stack.region}.amazonaws.com",
                            "kms:EncryptionContext:aws:s3:arn": bucket_arn,
                        }
                    },
                )
            )
        kms_config = (
            firehose.CfnDeliveryStream.EncryptionConfigurationProperty(no_encryption_config="NoEncryption")
            if key is None  # the bucket's default encryption (SSE-S3) applies
            else firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(awskms_key_arn=key.key_arn)
            )
        )
        destination = firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
            bucket_arn=bucket_arn,
            role_arn=role.role_arn,
            prefix=ARCHIVE_OBJECT_PREFIX,
            error_output_prefix=ERROR_OBJECT_PREFIX,
            buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                size_in_m_bs=BUFFER_MB, interval_in_seconds=BUFFER_SECONDS
            ),
            compression_format="UNCOMPRESSED",  # Parquet compresses itself (Snappy); Firehose allows no other here
            encryption_configuration=kms_config,
            cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                enabled=True, log_group_name=log_group.log_group_name, log_stream_name=log_stream.log_stream_name
            ),
            dynamic_partitioning_configuration=firehose.CfnDeliveryStream.DynamicPartitioningConfigurationProperty(
                enabled=True,
                retry_options=firehose.CfnDeliveryStream.RetryOptionsProperty(
                    duration_in_seconds=PARTITIONING_RETRY_SECONDS
                ),
            ),
            processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                enabled=True,
                processors=[
                    firehose.CfnDeliveryStream.ProcessorProperty(
                        type="MetadataExtraction",
                        parameters=[
                            firehose.CfnDeliveryStream.ProcessorParameterProperty(
                                parameter_name="MetadataExtractionQuery", parameter_value=PARTITION_QUERY
                            ),
                            firehose.CfnDeliveryStream.ProcessorParameterProperty(
                                parameter_name="JsonParsingEngine", parameter_value="JQ-1.6"
                            ),
                        ],
                    )
                ],
            ),
            data_format_conversion_configuration=firehose.CfnDeliveryStream.DataFormatConversionConfigurationProperty(
                enabled=True,
                # The Hive JSON SerDe reads the rows' timestamps (YYYY-MM-DD HH:MM:SS.ffffff) with
                # java.sql.Timestamp::valueOf when no format is given (Firehose's documentation).
                input_format_configuration=firehose.CfnDeliveryStream.InputFormatConfigurationProperty(
                    deserializer=firehose.CfnDeliveryStream.DeserializerProperty(
                        hive_json_ser_de=firehose.CfnDeliveryStream.HiveJsonSerDeProperty()
                    )
                ),
                output_format_configuration=firehose.CfnDeliveryStream.OutputFormatConfigurationProperty(
                    serializer=firehose.CfnDeliveryStream.SerializerProperty(
                        parquet_ser_de=firehose.CfnDeliveryStream.ParquetSerDeProperty(compression="SNAPPY")
                    )
                ),
                schema_configuration=firehose.CfnDeliveryStream.SchemaConfigurationProperty(
                    catalog_id=stack.account,
                    database_name=self.database.ref,
                    table_name=self.table.ref,
                    region=stack.region,
                    role_arn=role.role_arn,
                    version_id="LATEST",
                ),
            ),
        )
        stream = firehose.CfnDeliveryStream(
            self,
            "DeliveryStream",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=(
                firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(key_type="AWS_OWNED_CMK")
            ),
            extended_s3_destination_configuration=destination,
        )
        # Firehose checks its role's permissions when the stream is created: after the role's policy.
        stream.node.add_dependency(role.node.find_child("DefaultPolicy"))
        return stream

    def glue_arns(self) -> list[str]:
        """The Glue catalog, database and table, as IAM names them: what a reader of the table needs."""
        stack = Stack.of(self)
        database = self.database.ref
        return [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=database),
            stack.format_arn(service="glue", resource="table", resource_name=f"{database}/{self.table.ref}"),
        ]

    def _workgroup(self, workgroup_name: str, key: kms.IKey | None) -> athena.CfnWorkGroup:
        encryption = (
            athena.CfnWorkGroup.EncryptionConfigurationProperty(encryption_option="SSE_S3")
            if key is None
            else athena.CfnWorkGroup.EncryptionConfigurationProperty(encryption_option="SSE_KMS", kms_key=key.key_arn)
        )
        return athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=workgroup_name,
            description="Deadline notification reports (deadline-sqs report; docs/reports.md)",
            recursive_delete_option=True,  # its named queries and saved history go with it
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=BYTES_SCANNED_CUTOFF,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ATHENA_ENGINE),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.bucket.bucket_name}/{RESULTS_PREFIX}",
                    encryption_configuration=encryption,
                ),
            ),
        )

    def _named_queries(self, reports_folder: Path, database_name: str) -> list[athena.CfnNamedQuery]:
        table = f'"{database_name}"."{REPORTS_TABLE}"'
        queries = []
        for path in sorted(reports_folder.glob("*.sql")):
            if path.stem in NOT_A_REPORT:
                continue
            text = path.read_text()
            description = next((line.removeprefix("--").strip() for line in text.splitlines() if line.startswith("--")), "")
            sql = text.replace("{table}", table).replace("{since}", default_since(text))
            query = athena.CfnNamedQuery(
                self,
                f"Report{''.join(part.capitalize() for part in path.stem.split('_'))}",
                name=path.stem,
                description=description[:1024],
                database=database_name,
                query_string=sql,
                work_group=self.workgroup.ref,
            )
            query.node.add_dependency(self.database)
            queries.append(query)
        return queries

    def _alarms(self, late_threshold: Duration) -> list[cloudwatch.Alarm]:
        def delivery_metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Firehose",
                metric_name=name,
                dimensions_map={"DeliveryStreamName": self.delivery_stream.ref},
                statistic=statistic,
                period=PERIOD,
            )

        return [
            *consumer_alarms(
                self, function=self.function, failures=self.failure_queue, late_threshold=late_threshold,
                failures_description="Notifications could not be archived (see the failure queue)",
                late_id="LateArchiveAlarm",
                late_description="Notifications are archived late: the archiver is behind the history's stream",
            ),
            alarm(
                self, "DeliveryFreshnessAlarm", delivery_metric("DeliveryToS3.DataFreshness", "Maximum"),
                FRESHNESS_ALARM_SECONDS, "Firehose holds archive records longer than it should: deliveries to S3 lag",
            ),
            cloudwatch.Alarm(
                self,
                "DeliverySuccessAlarm",
                metric=delivery_metric("DeliveryToS3.Success", "Minimum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="Firehose failed to deliver archive objects to S3 (see its log group)",
            ),
            alarm(
                self, "FailedConversionAlarm", delivery_metric("FailedConversion.Records", "Sum"), 0,
                "Firehose could not convert archive records to Parquet: they are under errors/ in the bucket",
            ),
            alarm(
                self, "PartitionCountAlarm", delivery_metric("PartitionCountExceeded", "Maximum"), 0,
                "Firehose exceeded its active partition quota: archive records went to errors/ in the bucket",
            ),
        ]  # fmt: skip


def _name_the_emptying_actions(bucket: s3.Bucket) -> None:
    """The bucket policy's statement for CDK's auto-delete provider, with the actions it calls, not wildcards."""
    policy = bucket.policy
    assert policy is not None  # auto_delete_objects adds the provider's statement to it
    statements = Stack.of(bucket).resolve(policy.document.to_json())["Statement"]
    (index,) = [number for number, statement in enumerate(statements) if statement["Effect"] == "Allow"]
    escape_hatch(policy).add_property_override(f"PolicyDocument.Statement.{index}.Action", list(EMPTYING_ACTIONS))
    # The provider's function names its role (a GetAtt): its DependsOn on the role only repeats that (cfn-lint W3005).
    provider = Stack.of(bucket).node.find_child(EMPTYING_PROVIDER)
    cast(CfnResource, provider.node.find_child("Handler")).add_deletion_override("DependsOn")


def default_since(report_sql: str) -> str:
    """The named query's `{since}`: the report's own default period (`-- default since: 1d`), else 7 days."""
    found = _DEFAULT_SINCE_LINE.search(report_sql)
    amount, unit = (int(found.group(1)), found.group(2)) if found else (DEFAULT_SINCE_DAYS, "d")
    return f"(CAST(current_timestamp AS timestamp) - INTERVAL '{amount}' {'DAY' if unit == 'd' else 'HOUR'})"
