"""The consumer in docs/status-events.md ("At least once") drops a repeated event by its eventId,
run as written against a table on DynamoDB Local."""

from __future__ import annotations

import re
import time
from pathlib import Path

import boto3

from local_pipeline.engines import LOCAL_CREDENTIALS, LOCAL_REGION

DOCS = Path(__file__).resolve().parents[2] / "docs" / "status-events.md"


def documented_consumer() -> str:
    """The Python block of the "At least once" item, dedented."""
    (block,) = re.findall(r"```python\n(.*?def first_time.*?)```", DOCS.read_text(), re.S)
    return "\n".join(line[2:] for line in block.splitlines())


def test_the_documented_consumer_acts_once_per_event_id(dynamodb_local):
    table_name = "seen-event-ids"
    client = dynamodb_local.client()
    client.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
    )
    try:
        resource = boto3.resource("dynamodb", endpoint_url=dynamodb_local.endpoint_url, region_name=LOCAL_REGION,
                                  **LOCAL_CREDENTIALS)
        namespace = {"seen": resource.Table(table_name), "time": time}
        exec(documented_consumer(), namespace)  # the docs' code, as a reader would paste it
        first_time = namespace["first_time"]
        event = {"detail": {"eventId": "0c79a2e2beabfd55a67db20dd8c3caa8", "status": "Failed"}}
        repeat = {"detail": dict(event["detail"])}  # the same event put again, as PutEvents may

        assert [first_time(event), first_time(repeat), first_time({"detail": {"eventId": "another"}})] == [
            True, False, True]
        stored = client.get_item(TableName=table_name, Key={"event_id": {"S": event["detail"]["eventId"]}})["Item"]
        assert int(stored["expires_at"]["N"]) > time.time()  # the TTL attribute, so the table stays small
    finally:
        client.delete_table(TableName=table_name)
