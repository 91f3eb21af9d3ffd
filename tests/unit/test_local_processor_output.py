"""The demo reads the processor's counts from its Embedded Metric Format lines, as CloudWatch would."""

from __future__ import annotations

from local_pipeline.processor_output import ProcessorOutput
from notification_processor.telemetry import BatchCounts, Telemetry


def test_emf_counts_of_every_batch_add_up_and_other_lines_are_kept_apart():
    output = ProcessorOutput()
    telemetry = Telemetry("DeadlineNotifications", "local", output)
    telemetry.batch(BatchCounts(received=10, stored=6, duplicate=2, stale=1, invalid=1), "request-1")
    telemetry.invalid_record("m-1", "the body is not JSON")
    telemetry.failed_write("table", ("job",), ["m-2"], "ThrottlingException: slow down")
    telemetry.batch(BatchCounts(received=3, stored=2, failed=1), "request-2")
    output.write("plain text from print()\npartial ")
    output.write("line\n")

    assert output.metrics == {"Received": 13, "Stored": 8, "Duplicate": 2, "Stale": 1, "Invalid": 1, "Failed": 1}
    assert output.events == {"batch_processed": 2, "invalid_notification": 1, "write_failed": 1}
    assert output.write_errors == {"ThrottlingException: slow down": 1}
    assert output.other_lines == ["plain text from print()", "partial line"]


def test_a_batchs_unfinished_writes_count_as_one_failed_write_per_key():
    output = ProcessorOutput()
    telemetry = Telemetry("DeadlineNotifications", "local", output)
    telemetry.failed_write("table", ("job",), ["m-1"], "no answer before the function's timeout")
    telemetry.unfinished_writes(40, 57, "no answer before the function's timeout")

    assert output.write_errors == {"no answer before the function's timeout": 41}
