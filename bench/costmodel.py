"""AWS cost per million notifications, from what a replay measured.

Unit prices: us-east-1 public list prices, on-demand, without free tiers. Written
down on 2026-11-27 from AWS's pricing pages as last published to us (no network fetch
here; check https://aws.amazon.com/{lambda,sqs,dynamodb,cloudwatch}/pricing/ before
quoting a figure):
- Lambda: $0.20 per million requests; $0.0000166667 per GB-second on x86_64 and
  $0.0000133334 on arm64 (first pricing tier).
- SQS standard queue: $0.40 per million requests (a request carries up to 64 KB).
- DynamoDB on-demand: $0.625 per million write request units (the price since the
  2024-11-01 reduction).
- CloudWatch Logs: $0.50 per GB ingested (Lambda logs' first tier).
- EventBridge: $1.00 per million custom events put on a bus (each 64 KB of an entry
  counts as one; a status-change event is about 0.5 KB); delivery to rules' targets is
  not charged.
- SNS: $0.50 per million publishes (a job alert; e-mail deliveries cost extra).
- DynamoDB Streams: the GetRecords calls of a Lambda event source mapping are free.
- Lambda event filtering: no charge; a record the filter drops invokes nothing.
- DynamoDB on-demand reads: $0.125 per million read request units (since the 2024-11-01
  reduction); a Scan costs 0.5 unit per 4 KB read, eventually consistent.
- Athena (SQL queries): $5.00 per TB scanned, rounded up to the megabyte, 10 MB minimum per query.

What each line counts:
- SQS: one SendMessage per message the producer sends (duplicates included; the same
  for both sides), ReceiveMessage and DeleteMessageBatch requests of up to 10 messages
  each, as counted in the replay (redeliveries included). The event source's empty long
  polls cost the same whatever the code does, so they are left out.
- Lambda: one request per invocation; each invocation's measured handler time,
  rounded up to the millisecond, at the template's memory size and architecture (for
  both sides, so that only the code differs). The time is measured on this machine, not
  on Lambda's fraction of a vCPU.
- DynamoDB: write units reported by DynamoDB Local, plus the modeled charge of failed
  conditional writes (see bench/metering.py).
- CloudWatch Logs: the bytes each side logs and prints, in the log format it runs with
  (ours: the template's; the example: a console-made function's text format), plus the
  runtime's START/END/REPORT lines.

`status_events_per_million` adds what status-change events and the history cost, from
a local run of the demo (bench/status_events.py): the publisher's invocations and
handler time, the events published, alerts, and the history's writes.

`failing_workers_per_million` prices the failing-worker check (bench/farm_health.py):
its invocations and handler time, its state's write and read units (as DynamoDB Local
reports them), its log lines, and its events and alerts.
"""

from __future__ import annotations

GB = 1024**3
PER_MILLION = 1_000_000

LAMBDA_REQUEST_USD = 0.20 / PER_MILLION
LAMBDA_GB_SECOND_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
SQS_REQUEST_USD = 0.40 / PER_MILLION
DYNAMODB_WRITE_UNIT_USD = 0.625 / PER_MILLION
DYNAMODB_READ_UNIT_USD = 0.125 / PER_MILLION
CLOUDWATCH_LOGS_GB_USD = 0.50
EVENTBRIDGE_EVENT_USD = 1.00 / PER_MILLION
SNS_PUBLISH_USD = 0.50 / PER_MILLION
ATHENA_TB_USD = 5.00
ATHENA_MIN_BYTES = 10 * 1024**2

PRICES = {
    "lambda_request_usd": LAMBDA_REQUEST_USD,
    "lambda_gb_second_usd": LAMBDA_GB_SECOND_USD,
    "sqs_request_usd": SQS_REQUEST_USD,
    "dynamodb_write_unit_usd": DYNAMODB_WRITE_UNIT_USD,
    "dynamodb_read_unit_usd": DYNAMODB_READ_UNIT_USD,
    "cloudwatch_logs_gb_usd": CLOUDWATCH_LOGS_GB_USD,
    "eventbridge_event_usd": EVENTBRIDGE_EVENT_USD,
    "sns_publish_usd": SNS_PUBLISH_USD,
    "athena_tb_usd": ATHENA_TB_USD,
    "region": "us-east-1",
    "recorded": "2026-11-27",
}


def per_million(run: dict, memory_mb: int, architecture: str) -> dict:
    """USD per million good notifications, by service, for one measured run (see throughput.run_side)."""
    scale = PER_MILLION / run["good_notifications"]
    sqs_requests = run["messages_sent"] + run["sqs_receive_requests"] + run["sqs_delete_requests"]
    gb_seconds = memory_mb / 1024 * run["billed_ms"] / 1000
    lines = {
        "sqs": sqs_requests * SQS_REQUEST_USD,
        "lambda_requests": run["invocations"] * LAMBDA_REQUEST_USD,
        "lambda_duration": gb_seconds * LAMBDA_GB_SECOND_USD[architecture],
        "dynamodb_writes": run["dynamodb"]["wcu"] * DYNAMODB_WRITE_UNIT_USD,
        "cloudwatch_logs": run["log_bytes"] / GB * CLOUDWATCH_LOGS_GB_USD,
    }
    costs = {name: usd * scale for name, usd in lines.items()}
    costs["total"] = sum(costs.values())
    return costs


def status_events_per_million(run: dict, memory_mb: int, architecture: str) -> dict:
    """USD per million notifications for the status-change events and the history (status_events.measure)."""
    scale = PER_MILLION / run["notifications"]
    gb_seconds = memory_mb / 1024 * run["publisher_billed_ms"] / 1000
    lines = {
        "publisher_requests": run["publisher_invocations"] * LAMBDA_REQUEST_USD,
        "publisher_duration": gb_seconds * LAMBDA_GB_SECOND_USD[architecture],
        "publisher_logs": run["publisher_log_bytes"] / GB * CLOUDWATCH_LOGS_GB_USD,
        "eventbridge_events": run["events"] * EVENTBRIDGE_EVENT_USD,
        "alerts": run["alerts"] * SNS_PUBLISH_USD,
    }
    costs = {name: usd * scale for name, usd in lines.items()}
    costs["status_events_total"] = sum(costs.values())
    costs["history_writes"] = run["history_wcu"] * DYNAMODB_WRITE_UNIT_USD * scale
    return costs


def failing_workers_per_million(run: dict, memory_mb: int, architecture: str) -> dict:
    """USD per million notifications for the failing-worker check (farm_health.measure)."""
    scale = PER_MILLION / run["notifications"]
    gb_seconds = memory_mb / 1024 * run["billed_ms"] / 1000
    lines = {
        "check_requests": run["invocations"] * LAMBDA_REQUEST_USD,
        "check_duration": gb_seconds * LAMBDA_GB_SECOND_USD[architecture],
        "check_logs": run["log_bytes"] / GB * CLOUDWATCH_LOGS_GB_USD,
        "state_writes": run["write_units"] * DYNAMODB_WRITE_UNIT_USD,
        "state_reads": run["read_units"] * DYNAMODB_READ_UNIT_USD,
        "events_and_alerts": run["events"] * (EVENTBRIDGE_EVENT_USD + SNS_PUBLISH_USD),
    }
    costs = {name: usd * scale for name, usd in lines.items()}
    costs["total"] = sum(costs.values())
    return costs
