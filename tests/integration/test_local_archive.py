"""The local archive from a history table on DynamoDB Local: what `make demo` and `deadline-sqs local` write."""

from __future__ import annotations

import json
import time

from deadline_sqs.reports import find_report
from deadline_sqs.reports.on_duckdb import run_local_report
from local_pipeline.archive import ArchiveRefresher, archive_history
from notification_processor.history import history_entries
from notification_processor.notifications import Notification, parse_record
from status_events.changes import TEST_JOB_PREFIX
from tests.unit.processor_support import sqs_record
from tests.unit.reports_support import SINCE, at, known_bodies, task

WAIT_SECONDS = 120  # a generous bound on a loaded machine


def test_the_history_table_becomes_the_archive_and_a_refresher_keeps_rewriting_it(dynamodb_local, pipeline_spec, tmp_path):
    client = dynamodb_local.client()
    table = f"{pipeline_spec.history_table.name}-archive-test"
    client.create_table(**pipeline_spec.history_table.create_table_kwargs(table))
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    try:
        bodies, _ = known_bodies()
        smoke_test = task(f"{TEST_JOB_PREFIX}smoke-1", 0, "w1", "completed", at(25, 10), "01:00:00")
        for body in [*bodies, smoke_test]:
            notification = parse_record(sqs_record(json.dumps(body)))
            assert isinstance(notification, Notification)
            (entry,) = history_entries([notification], time.time(), days=90)
            client.put_item(TableName=table, Item=entry.item)
        assert archive_history(client, table, tmp_path / "once") == len(bodies)  # not the smoke test's
        render_hours = run_local_report(find_report("render_hours"), tmp_path / "once", SINCE)
        assert [row[1] for row in render_hours.rows] == ["amy", "bo", "(unknown)"]

        folder = tmp_path / "refreshed"
        with ArchiveRefresher(client, table, folder, seconds=0.1) as refresher:
            deadline = time.monotonic() + WAIT_SECONDS
            while not list(folder.glob("**/*.parquet")) and time.monotonic() < deadline:
                time.sleep(0.1)
        assert refresher.last_error is None
        assert not refresher._thread.is_alive()
        assert run_local_report(find_report("render_hours"), folder, SINCE).rows == render_hours.rows
    finally:
        client.delete_table(TableName=table)
