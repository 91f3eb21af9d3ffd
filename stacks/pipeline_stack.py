"""The whole pipeline for one studio: queue -> processor -> tables (-> status-change events), with
producer access, monitoring, job alerts and, optionally, a history."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Tags
from constructs import Construct

from deliveries.destinations import ARTISTS, EMAIL_FORMAT, Destination
from notification_processor.roles import JOB
from stacks.config import PROJECT_ROOT, StudioConfig
from stacks.constructs import escape_hatch
from stacks.constructs.alerts import JobAlerts
from stacks.constructs.archive import NotificationArchive
from stacks.constructs.chat import ChatChannels
from stacks.constructs.deliveries import Deliveries, DeliveryRule, destination_topic, publish_grant
from stacks.constructs.encryption import PipelineKey
from stacks.constructs.farm_health import FarmHealth
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.processor import NotificationProcessor
from stacks.constructs.producer import ProducerAccess
from stacks.constructs.queues import NotificationQueues
from stacks.constructs.status_events import StatusEvents
from stacks.constructs.tables import NotificationTables
from stacks.constructs.webhooks import ApiDestinationWebhooks, sender_rules
from stacks.destinations import event_pattern
from stacks.roles import (
    ALARM_TOPIC_OUTPUT,
    ARCHIVE_FAILURE_QUEUE_LOGICAL_ID,
    DEAD_LETTER_QUEUE,
    DELIVERY_DEAD_LETTER_QUEUE,
    DELIVERY_QUEUE,
    DELIVERY_STATE_TABLE,
    EVENT_BUS,
    EVENT_BUS_ARN_OUTPUT,
    FARM_HEALTH_FAILURE_QUEUE_LOGICAL_ID,
    HISTORY_TABLE,
    JOB_NOTIFICATION_STATUSES_OUTPUT,
    JOB_NOTIFICATION_TOPIC,
    PRODUCER_POLICY_OUTPUT,
    PUBLISH_FAILURE_QUEUE,
    QUEUE,
    REPORTS_BUCKET,
    REPORTS_DATABASE_OUTPUT,
    REPORTS_WORKGROUP_OUTPUT,
    TABLES,
)

# The report command's SQL files (deadline_sqs/reports/): one Athena named query each. Read as files,
# so the stack imports nothing of the command.
REPORTS_FOLDER = PROJECT_ROOT / "deadline_sqs" / "reports"


class DeadlineNotificationsStack(Stack):
    """Composes one construct per capability from ``config``; reads no context itself."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StudioConfig) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Deadline 10 SQS notifications pipeline for studio {config.studio_name}",
        )
        removal_policy = RemovalPolicy.DESTROY if config.sandbox else RemovalPolicy.RETAIN
        queue_name, dead_letter_queue_name = (config.queue_names[r.logical_id] for r in (QUEUE, DEAD_LETTER_QUEUE))

        key = None
        if config.customer_managed_key:
            key = PipelineKey(
                self,
                "Encryption",
                description=f"Encrypts {queue_name}, {dead_letter_queue_name}, the tables and the functions' logs",
                removal_policy=removal_policy,
            ).key
        queues = NotificationQueues(
            self,
            "Queues",
            queue_name=queue_name,
            dead_letter_queue_name=dead_letter_queue_name,
            max_receive_count=config.max_receive_count,
            retention=Duration.days(config.queue_retention_days),
            dead_letter_retention=Duration.days(config.dlq_retention_days),
            visibility_timeout=Duration.seconds(config.queue_visibility_timeout_seconds),
            key=key,
            removal_policy=removal_policy,
        )
        tables = NotificationTables(
            self,
            "Tables",
            table_names=config.table_names,
            streams=config.status_events,
            history_table_name=config.history_table if config.history else None,
            history_stream=config.history_stream,
            key=key,
            removal_policy=removal_policy,
            deletion_protection=not config.sandbox,
        )
        processor = NotificationProcessor(
            self,
            "Processor",
            queue=queues.queue,
            key=key,
            tables=tables.tables,
            history_table=tables.history_table,
            history_days=config.history_days,
            timeout=Duration.seconds(config.function_timeout_seconds),
            memory_size=config.function_memory_mb,
            batch_size=config.batch_size,
            max_batching_window=Duration.seconds(config.max_batching_window_seconds),
            max_concurrency=config.max_concurrency,
            max_timestamp_ahead_seconds=config.max_timestamp_ahead_seconds,
            log_retention_days=config.log_retention_days,
            metrics_namespace=config.metrics_namespace,
            tracing=config.tracing,
            removal_policy=removal_policy,
        )
        producer = ProducerAccess(
            self, "ProducerAccess", queue=queues.queue, queue_key=key, role_name=config.producer_role_name
        )
        late_threshold = Duration.seconds(config.oldest_message_age_alarm_seconds)
        status_events = None
        if config.status_events:
            status_events = StatusEvents(
                self,
                "StatusEvents",
                tables=tables.tables,
                bus_name=config.event_bus,
                studio_name=config.studio_name,
                publish=config.publish,
                notify_opt_out_field=config.notify_opt_out_field,
                failure_queue_name=config.queue_names[PUBLISH_FAILURE_QUEUE.logical_id],
                late_threshold=late_threshold,
                log_retention_days=config.log_retention_days,
                key=key,
                tracing=config.tracing,
                removal_policy=removal_policy,
            )
        farm_health = None
        if status_events and config.failing_workers and tables.history_table is not None:
            farm_health = FarmHealth(
                self,
                "FarmHealth",
                history_table=tables.history_table,
                job_table=tables.tables[JOB],
                bus=status_events.bus,
                studio_name=config.studio_name,
                failing_worker_jobs=config.failing_worker_jobs,
                failing_worker_minutes=config.failing_worker_minutes,
                state_table_name=config.worker_failure_table,
                failure_queue_name=config.queue_names[FARM_HEALTH_FAILURE_QUEUE_LOGICAL_ID],
                late_threshold=late_threshold,
                log_retention_days=config.log_retention_days,
                key=key,
                tracing=config.tracing,
                removal_policy=removal_policy,
                deletion_protection=not config.sandbox,
            )
        archive = None
        if config.reports and tables.history_table is not None:  # reports imply the history (config)
            archive = NotificationArchive(
                self,
                "Archive",
                history_table=tables.history_table,
                database_name=config.reports_database,
                workgroup_name=config.reports_workgroup,
                failure_queue_name=config.queue_names[ARCHIVE_FAILURE_QUEUE_LOGICAL_ID],
                retention_days=config.reports_retention_days,
                reports_folder=REPORTS_FOLDER,
                late_threshold=late_threshold,
                log_retention_days=config.log_retention_days,
                key=key,
                tracing=config.tracing,
                removal_policy=removal_policy,
                auto_delete_objects=config.sandbox,
            )
        deliveries = None
        if status_events:
            delivery_rules: list[DeliveryRule] = []
            if config.job_notifications:
                job_notification_topic = destination_topic(
                    self, "JobNotificationTopic", topic_name=f"{config.stack_name}-job-notifications", key=key
                )
                # It holds the artists' subscriptions (deadline-sqs subscribe): pinned and retained like a table.
                job_notification_topic.apply_removal_policy(removal_policy)
                escape_hatch(job_notification_topic).override_logical_id(JOB_NOTIFICATION_TOPIC.logical_id)
                CfnOutput(
                    self,
                    JOB_NOTIFICATION_TOPIC.output_key,
                    value=job_notification_topic.topic_arn,
                    description=JOB_NOTIFICATION_TOPIC.description,
                )
                CfnOutput(
                    self,
                    JOB_NOTIFICATION_STATUSES_OUTPUT,
                    value=",".join(config.job_notification_status_list),
                    description="The job statuses the artists' topic is sent (config job_notification_statuses)",
                )
                delivery_rules.append(
                    DeliveryRule(
                        Destination(name=ARTISTS, kind=ARTISTS, target=job_notification_topic.topic_arn,
                                    format=EMAIL_FORMAT),
                        event_pattern(statuses=config.job_notification_status_list),
                        publish_grant(job_notification_topic, key),
                    )
                )
            if config.chat_channel_list:
                chats = ChatChannels(
                    self, "ChatChannels", channels=config.chat_channel_list, stack_name=config.stack_name, key=key
                )
                delivery_rules += chats.rules
            delivery_rules += sender_rules(self, config.webhook_list)
            api_webhooks = [webhook for webhook in config.webhook_list if webhook.api_destination]
            if delivery_rules or api_webhooks:
                deliveries = Deliveries(
                    self,
                    "Deliveries",
                    bus=status_events.bus,
                    destinations=delivery_rules,
                    queue_name=f"{config.stack_name}-deliveries",
                    dead_letter_queue_name=f"{config.stack_name}-delivery-failures",
                    key=key,
                    log_retention_days=config.log_retention_days,
                    tracing=config.tracing,
                    table_name=config.delivery_state_table,
                    removal_policy=removal_policy,
                    deletion_protection=not config.sandbox,
                )
            if api_webhooks and deliveries is not None:  # created above for them
                ApiDestinationWebhooks(
                    self,
                    "Webhooks",
                    webhooks=api_webhooks,
                    bus=status_events.bus,
                    dead_letter_queue=deliveries.dead_letter_queue,
                    key=key,
                    studio_name=config.studio_name,
                )
        monitoring = Monitoring(
            self,
            "Monitoring",
            queue=queues.queue,
            dead_letter_queue=queues.dead_letter_queue,
            function=processor.function,
            metrics_namespace=config.metrics_namespace,
            oldest_message_age_threshold=late_threshold,
            alarm_email=config.alarm_email,
            other_alarms=[
                *(status_events.alarms if status_events else []),
                *(farm_health.alarms if farm_health else []),
                *(archive.alarms if archive else []),
                *(deliveries.alarms if deliveries else []),
            ],
            dashboard_name=f"{config.stack_name}-{self.region}",
            removal_policy=removal_policy,
        )
        if status_events and config.alert_status_list:
            JobAlerts(
                self,
                "JobAlerts",
                bus=status_events.bus,
                topic=monitoring.topic,
                statuses=config.alert_status_list,
                dead_letter_queue=status_events.failure_queue,
            )
        if farm_health and config.alert_failing_workers:
            farm_health.alert(monitoring.topic)

        if deliveries is not None:
            if any(each.alarms for each in deliveries.destinations):
                deliveries.receive_alarms(monitoring.topic)
            for queue, role in ((deliveries.queue, DELIVERY_QUEUE), (deliveries.dead_letter_queue, DELIVERY_DEAD_LETTER_QUEUE)):
                CfnOutput(self, role.output_key, value=queue.queue_url, description=role.description)
            state = DELIVERY_STATE_TABLE
            CfnOutput(self, state.output_key, value=deliveries.table.table_name, description=state.description)

        for queue, role in ((queues.queue, QUEUE), (queues.dead_letter_queue, DEAD_LETTER_QUEUE)):
            escape_hatch(queue).override_logical_id(role.logical_id)
            CfnOutput(self, role.output_key, value=queue.queue_url, description=role.description)
        # Output ids are read by the operator commands (deadline-sqs) from CloudFormation.
        for kind, table in tables.tables.items():
            CfnOutput(self, TABLES[kind].output_key, value=table.table_name, description=TABLES[kind].description)
        CfnOutput(
            self,
            PRODUCER_POLICY_OUTPUT,
            value=producer.policy.managed_policy_arn,
            description="Attach to the Remote Connection Server's role",
        )
        CfnOutput(
            self,
            ALARM_TOPIC_OUTPUT,
            value=monitoring.topic.topic_arn,
            description="Every alarm and job alert notifies this topic: subscribe e-mail, chat or an on-call tool to it",
        )
        if status_events:
            bus = status_events.bus
            CfnOutput(self, EVENT_BUS.output_key, value=bus.event_bus_name, description=EVENT_BUS.description)
            CfnOutput(self, EVENT_BUS_ARN_OUTPUT, value=bus.event_bus_arn, description="For rules' and targets' policies")
            failures = PUBLISH_FAILURE_QUEUE
            CfnOutput(self, failures.output_key, value=status_events.failure_queue.queue_url, description=failures.description)
        if tables.history_table is not None:
            history = HISTORY_TABLE
            CfnOutput(self, history.output_key, value=tables.history_table.table_name, description=history.description)

        if archive is not None:
            CfnOutput(self, REPORTS_BUCKET.output_key, value=archive.bucket.bucket_name, description=REPORTS_BUCKET.description)
            CfnOutput(self, REPORTS_WORKGROUP_OUTPUT, value=archive.workgroup.ref, description="Athena workgroup of the reports")
            CfnOutput(self, REPORTS_DATABASE_OUTPUT, value=archive.database.ref, description="Glue database of the archive")

        for key, value in config.tags.items():
            Tags.of(self).add(key, value)
