"""`deadline-sqs local` as a user runs it: a separate process, the operator commands with --local, Ctrl-C.

Each waits for what the process prints or writes, never for a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deadline_sqs import INTERRUPTED
from deadline_sqs.local_target import LOCAL_TARGET_FILE, read_local_target
from deadline_sqs.verify import DEAD_LETTERS, FAIL, JOB_ALERT, NOT_LOCAL, PASS, QUEUE_TO_TABLES, TABLES_TO_BUS
from deadline_sqs.verify_resources import temporary_base
from tests.conftest import write_cdk_out

COMMAND = [sys.executable, "-m", "deadline_sqs"]
STARTED_LINE = "The processor's log lines follow."


@pytest.fixture(scope="module")
def cdk_out_folder(pipeline_template, tmp_path_factory) -> Path:
    return write_cdk_out(tmp_path_factory.mktemp("cdk.out"), pipeline_template)


def _start_local(folder: Path, cdk_out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*COMMAND, "local", "--cdk-out", str(cdk_out)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
    )


def _read_until(process: subprocess.Popen, line: str) -> list[str]:
    seen = []
    for printed in process.stdout:
        seen.append(printed.rstrip("\n"))
        if printed.startswith(line):
            return seen
    raise AssertionError(f"the process ended before printing {line!r}: {seen}; stderr: {process.stderr.read()}")


def _command(folder: Path, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *arguments], cwd=folder, capture_output=True, text=True, timeout=timeout)


def _interrupt(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        _, error = process.communicate(timeout=120)  # stopping the engines is slow on a loaded machine
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        pytest.fail(f"still running 120 s after Ctrl-C:\n{process.communicate(timeout=60)[1][-6000:]}")
    return process.returncode, error


@pytest.fixture(scope="module")
def running_local(tmp_path_factory, cdk_out_folder):
    """One `deadline-sqs local` for the module's commands; its folder holds the target file."""
    folder = tmp_path_factory.mktemp("local")
    process = _start_local(folder, cdk_out_folder)
    try:
        _read_until(process, STARTED_LINE)
        yield folder
    finally:
        # Ctrl-C, not a kill: a killed `local` would leave its DynamoDB Local (its own session) running.
        if process.poll() is None:
            _interrupt(process)


def test_operator_commands_reach_the_local_pipeline_with_one_flag(running_local):
    folder = running_local
    assert (folder / LOCAL_TARGET_FILE).is_file()

    smoke = _command(folder, "smoke", "--local", "--timeout", "60")
    assert smoke.returncode == 0, smoke.stderr
    assert smoke.stdout.startswith("OK: test job deadline-sqs-test-smoke-")
    job_id = smoke.stdout.split()[3]
    status = _command(folder, "status", job_id, "--local")  # deleted by smoke
    assert status.returncode == 2 and f"no job {job_id} in DeadlineJobNotifications" in status.stderr
    dlq = _command(folder, "dlq", "--local")
    assert (dlq.returncode, dlq.stdout.strip()) == (0, "The dead-letter queue is empty.")

    redrive = _command(folder, "redrive", "--local")
    assert redrive.returncode == 2 and "does not implement message-move tasks" in redrive.stderr


def _outcomes(output: str) -> dict[str, str]:
    """verify's result lines: path -> the line."""
    paths = (QUEUE_TO_TABLES, TABLES_TO_BUS, JOB_ALERT, "alarms -> alarm topic", DEAD_LETTERS)
    return {path: line for line in output.splitlines() for path in paths if f"  {path}" in line}


def test_verify_passes_every_local_path_and_leaves_nothing_behind(running_local):
    result = _command(running_local, "verify", "--local", "--dlq", timeout=300)  # no terminal: locally no --yes needed
    assert result.returncode == 0, result.stdout + result.stderr
    lines = _outcomes(result.stdout)
    for path in (QUEUE_TO_TABLES, TABLES_TO_BUS, JOB_ALERT, DEAD_LETTERS):
        assert lines[path].startswith(PASS), lines[path]
    assert lines["alarms -> alarm topic"].startswith(NOT_LOCAL)

    job_id = re.search(r"test job (\S+)", lines[QUEUE_TO_TABLES])[1]
    assert _command(running_local, "status", job_id, "--local").returncode == 2  # its items were deleted
    target = read_local_target(running_local / LOCAL_TARGET_FILE)
    session = target.session()
    base = temporary_base("local")
    assert session.client("sqs").list_queues(QueueNamePrefix=base).get("QueueUrls", []) == []
    assert session.client("events").list_rules(EventBusName=target.bus_name, NamePrefix=base)["Rules"] == []
    dlq = _command(running_local, "dlq", "--local")
    assert dlq.stdout.strip() == "The dead-letter queue is empty."  # its bad message was removed


def test_verify_names_the_path_a_broken_wiring_cuts_and_exits_1(running_local, pipeline_spec):
    target = read_local_target(running_local / LOCAL_TARGET_FILE)
    events = target.session().client("events")
    (alert_rule,) = [rule.logical_id for rule in pipeline_spec.status_events.rules]
    targets = events.list_targets_by_rule(Rule=alert_rule, EventBusName=target.bus_name)["Targets"]
    events.remove_targets(Rule=alert_rule, EventBusName=target.bus_name, Ids=[t["Id"] for t in targets])
    try:
        result = _command(running_local, "verify", "--local", "--timeout", "20")
    finally:
        events.put_targets(Rule=alert_rule, EventBusName=target.bus_name, Targets=targets)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = _outcomes(result.stdout)
    assert lines[QUEUE_TO_TABLES].startswith(PASS) and lines[TABLES_TO_BUS].startswith(PASS)
    assert lines[JOB_ALERT].startswith(FAIL) and "does the alert rule on the local bus still have its target" in lines[JOB_ALERT]
    assert "FAIL: not every path passed" in result.stdout


def test_ctrl_c_stops_the_local_pipeline_quietly_and_removes_its_file(tmp_path, cdk_out_folder):
    process = _start_local(tmp_path, cdk_out_folder)
    _read_until(process, STARTED_LINE)
    assert (tmp_path / LOCAL_TARGET_FILE).is_file()
    code, error = _interrupt(process)
    assert code == INTERRUPTED and "Traceback" not in error
    assert not (tmp_path / LOCAL_TARGET_FILE).exists()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["status", "", "--local"], "argument JOB_ID: must not be empty"),
        (["smoke", "--timeout", "-1", "--local"], "argument --timeout: must be a number of seconds above 0"),
        (["smoke", "--local", "--stack-name", "DeadlineNotifications-default"], "not allowed with argument --local"),
        (["status", "job", "--local", "--job-table", "NoSuchTable"], "table NoSuchTable does not exist"),
    ],
)
def test_bad_arguments_and_missing_resources_are_named_in_one_line(running_local, arguments, message):
    result = _command(running_local, *arguments)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_without_a_running_local_pipeline_the_flag_says_how_to_start_one(tmp_path):
    result = _command(tmp_path, "dlq", "--local")
    assert result.returncode == 2
    assert "start `deadline-sqs local` in this folder" in result.stderr and "Traceback" not in result.stderr

    # A file left by a process that has gone is recognised as such.
    target = tmp_path / LOCAL_TARGET_FILE
    target.parent.mkdir()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    target.write_text(json.dumps({
        "endpoints": {}, "region": "us-east-1", "credentials": {}, "queue_url": "", "dead_letter_queue_url": "",
        "tables": {}, "pid": int(finished.stdout),
    }))  # fmt: skip
    result = _command(tmp_path, "dlq", "--local")
    assert result.returncode == 2 and "has stopped" in result.stderr


def test_ctrl_c_while_the_engines_start_ends_quietly_and_leaves_nothing(tmp_path, cdk_out_folder):
    process = _start_local(tmp_path, cdk_out_folder)
    _read_until(process, "Time scale:")  # printed just before the engines start
    code, error = _interrupt(process)
    assert code == INTERRUPTED and "Traceback" not in error
    assert not (tmp_path / LOCAL_TARGET_FILE).exists()


def test_ctrl_c_at_once_ends_quietly(tmp_path, cdk_out_folder):
    process = _start_local(tmp_path, cdk_out_folder)  # interrupted while Python is still starting or importing
    code, error = _interrupt(process)
    assert code != 0 and "Traceback" not in error
