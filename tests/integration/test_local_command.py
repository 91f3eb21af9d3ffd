"""`deadline-sqs local` as a user runs it: a separate process, the operator commands with --local, Ctrl-C.

Each waits for what the process prints or writes, never for a fixed time; the interrupts during
start-up come at set moments, and what they must leave (nothing) is found by process id.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from deadline_sqs import INTERRUPTED
from deadline_sqs.local_target import LOCAL_TARGET_FILE, read_local_target
from deadline_sqs.notifications import job_notification
from deadline_sqs.verify import DEAD_LETTERS, FAIL, JOB_ALERT, NOT_LOCAL, PASS, QUEUE_TO_TABLES, TABLES_TO_BUS
from deadline_sqs.verify_resources import temporary_base
from local_pipeline import docs_samples
from local_pipeline.docs_samples import ROOT
from local_pipeline.engines import REPO_ROOT
from tests.conftest import write_cdk_out

COMMAND = [sys.executable, "-m", "deadline_sqs"]
STARTED_LINE = "The processor's log lines follow."


@pytest.fixture(scope="module")
def cdk_out_folder(pipeline_template, tmp_path_factory) -> Path:
    return write_cdk_out(tmp_path_factory.mktemp("cdk.out"), pipeline_template)


def _interruptible() -> None:
    # In the child, before exec: Ctrl-C acts as in a terminal, even when the tests themselves were started
    # in the background by a non-interactive shell, which starts them with SIGINT ignored (POSIX), an
    # ignored signal that Python, and so the command, would inherit and keep.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_local(folder: Path, cdk_out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*COMMAND, "local", "--cdk-out", str(cdk_out)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
        preexec_fn=_interruptible,  # only signal.signal runs there: safe with threads
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
        # Ctrl-C, as a user stops it (a kill would stop its DynamoDB Local too, a moment later).
        if process.poll() is None:
            _interrupt(process)


def test_operator_commands_reach_the_local_pipeline_with_one_flag(running_local):
    folder = running_local
    assert (folder / LOCAL_TARGET_FILE).is_file()

    smoke = _command(folder, "smoke", "--local", "--timeout", "60")
    assert smoke.returncode == 0, smoke.stderr
    assert smoke.stdout.startswith("OK: test job deadline-sqs-test-smoke-")
    for page in (ROOT / "README.md", ROOT / "docs" / "deploying.md"):  # the samples from AWS print the same
        (sample,) = [sample.output for sample in docs_samples.samples(page.read_text()) if "smoke" in sample.command]
        assert docs_samples.normalize(sample) == docs_samples.normalize(smoke.stdout.splitlines()), page.name
    job_id = smoke.stdout.split()[3]
    status = _command(folder, "status", job_id, "--local")  # deleted by smoke
    assert status.returncode == 2 and f"no job {job_id} in DeadlineJobNotifications" in status.stderr
    dlq = _command(folder, "dlq", "--local")
    assert (dlq.returncode, dlq.stdout.strip()) == (0, "The dead-letter queue is empty.")

    redrive = _command(folder, "redrive", "--local")
    assert (redrive.returncode, redrive.stderr) == (0, "")
    assert redrive.stdout.startswith("The dead-letter queue is empty: nothing to redrive")

    history = _command(folder, "history", job_id, "--local")  # smoke deleted its entries too
    assert history.returncode == 2 and "Traceback" not in history.stderr
    assert f"no notification of job {job_id} in DeadlineNotificationHistory" in history.stderr


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
    (alert_rule,) = [  # the job alerts' rule (the failing-worker alerts have their own)
        rule.logical_id
        for rule in pipeline_spec.status_events.alert_rules
        if "Deadline Job Status Change" in rule.event_pattern.get("detail-type", [])
    ]
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


def _wait_for_bodies(sqs, queue_url: str, count: int, timeout: float = 120) -> list[str]:
    """The bodies of at least ``count`` messages, waiting for them up to ``timeout`` seconds (each long poll 1 s)."""
    bodies: list[str] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_an_artist_subscribes_gets_their_jobs_changes_and_unsubscribes(running_local, tmp_path):
    folder = running_local
    target = read_local_target(folder / LOCAL_TARGET_FILE)
    sqs = target.session().client("sqs")
    inbox = f"alice-inbox-{uuid.uuid4().hex[:8]}"
    inbox_url = sqs.create_queue(QueueName=inbox)["QueueUrl"]
    subscribed = _command(folder, "subscribe", "--local", "--user", "alice", "--queue", inbox, "--statuses", "Failed")
    assert subscribed.returncode == 0, subscribed.stderr
    assert subscribed.stdout.startswith(f"Subscribed arn:aws:sqs:us-east-1:123456789012:{inbox} to alice's jobs that become Failed")
    by_mail = _command(folder, "subscribe", "--local", "--user", "alice", "--email", "alice@studio.example")
    assert by_mail.returncode == 0 and "gets a confirmation e-mail from AWS first" in by_mail.stdout
    wrong = _command(folder, "subscribe", "--local", "--user", "alice", "--email", "alice@studio.example", "--statuses", "Suspended")
    assert wrong.returncode == 2
    assert "--statuses 'Suspended': Suspended not allowed; the topic is sent Completed, Failed" in wrong.stderr

    listed = _command(folder, "subscriptions", "--local")
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"sqs +arn:aws:sqs:us-east-1:123456789012:{inbox} +user alice, statuses Failed", listed.stdout)
    assert re.search(r"email +alice@studio.example +user alice, statuses Completed, Failed", listed.stdout)

    # Through the pipeline: alice's failed job reaches her queue; her completed one (not subscribed) and bob's do not.
    job = {"JobName": "sh010_light", "FrameRange": "1-10", "NumberOfTasks": 10, "JobSubmitDateTime": "2024-03-04T10:00:00.000-05:00",
           "PluginName": "MayaBatch"}  # fmt: skip
    bodies = [
        job_notification({**job, "JobID": f"{uuid.uuid4().hex[:24]}", "UserName": user}, event, f"2024-03-04T15:0{n}:00.0000000Z")
        for n, (user, event) in enumerate([("alice", "completed"), ("bob", "failed"), ("alice", "failed")])
    ]
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps({"body": json.dumps(body)}) + "\n" for body in bodies))
    assert _command(folder, "send", str(tmp_path / "jobs.jsonl"), "--local", "--quiet").returncode == 0
    (received,) = _wait_for_bodies(sqs, inbox_url, 1)
    message = json.loads(received)
    assert (message["userName"], message["status"], message["jobId"]) == ("alice", "Failed", bodies[2]["JobDetails"]["JobID"])
    assert message["title"] == "Render Failed: sh010_light"
    assert _wait_for_bodies(sqs, inbox_url, 1, timeout=5) == []  # nothing else comes

    removed = _command(folder, "unsubscribe", "--local", "--user", "alice")
    assert removed.returncode == 0 and removed.stdout.startswith("Removed 2 subscriptions of alice")
    assert f"{inbox}" not in _command(folder, "subscriptions", "--local").stdout


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


# Every process the command starts inherits this variable from it, with a value unique to the run: a
# scan of /proc for it finds each one by its id, whatever it was reparented to and whatever its name.
MARK_VARIABLE = "DEADLINE_SQS_TEST_RUN"
JVM_CLASS = "LoopbackDynamoDBLocal"
BOUND = 120  # seconds: generous, for a loaded machine
WATCH_INTERVAL = 0.05  # seconds between two looks at the processes (a look reads all of /proc)


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name: [state, ppid, ...]; [] once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _marked_processes(mark: str) -> dict[tuple[int, str], str]:
    """(pid, start time) -> command line of every running process whose environment carries the mark."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environment = Path(entry.path, "environ").read_bytes().split(b"\0")
            command = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # it ended meanwhile
            continue
        stat = _stat(int(entry.name))
        if needle in environment and stat:
            found[(int(entry.name), stat[19])] = command  # field 22 of stat: the start time
    return found


def _running(process: tuple[int, str]) -> bool:
    """Whether that process (pid, start time) still runs: a zombie has ended, a new one with its pid is another."""
    pid, started = process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = _stat(pid)
    return bool(stat) and stat[0] != "Z" and stat[19] == started


def _until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"not within {BOUND} s: {what}"
        time.sleep(0.01)


class _Run:
    """A command in its own process, its output lines as they come, and every marked process it ever had."""

    def __init__(self, command: list[str], folder: Path):
        self.mark = uuid.uuid4().hex
        self.process = subprocess.Popen(
            command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", MARK_VARIABLE: self.mark}, preexec_fn=_interruptible,
        )  # fmt: skip
        self.lines: list[str] = []
        self.error = ""
        self.seen: dict[tuple[int, str], str] = {}  # (pid, start time) -> command line
        self._threads = [
            threading.Thread(target=self._read_lines, daemon=True),
            threading.Thread(target=self._read_error, daemon=True),
            threading.Thread(target=self._watch, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_lines(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def _read_error(self) -> None:
        self.error = self.process.stderr.read()

    def _watch(self) -> None:
        # Samples: a process that starts and ends between two is missed here, but not by the scan at the end.
        while self.process.poll() is None:
            self.seen.update(_marked_processes(self.mark))
            time.sleep(WATCH_INTERVAL)

    def printed(self, start: str) -> bool:
        return any(line.startswith(start) for line in self.lines)

    def jvm_seen(self) -> bool:
        return any(JVM_CLASS in command for command in self.seen.values())

    def end(self, signal_number: int) -> int:
        """Send the signal, wait for the end of the command and of its output; its exit code."""
        self.process.send_signal(signal_number)
        try:
            code = self.process.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"still running {BOUND} s after signal {signal_number}") from None
        for thread in self._threads:
            thread.join(BOUND)
        return code


def _at(moment: str, run: _Run) -> None:
    """Wait for the moment: a number of seconds after the start, the JVM's appearance, or a line printed."""
    if moment == "jvm":
        _until(run.jvm_seen, "the DynamoDB Local JVM started")
    elif moment[0].isdigit():
        time.sleep(float(moment))  # not a wait for something: this moment of the start-up is what is tested
    else:
        _until(lambda: run.printed(moment), f"the command printed {moment!r}")
    assert run.process.poll() is None, f"ended by itself: {run.lines} {run.error}"


LOCAL_MOMENTS = {
    "SIGINT-0.1s": ("0.1", signal.SIGINT),
    "SIGINT-0.5s": ("0.5", signal.SIGINT),
    "SIGINT-1s": ("1", signal.SIGINT),
    "SIGINT-2s": ("2", signal.SIGINT),
    "SIGINT-as-the-JVM-starts": ("jvm", signal.SIGINT),
    "SIGINT-after-the-warm-up": ("Time scale:", signal.SIGINT),
    "SIGINT-once-started": (STARTED_LINE, signal.SIGINT),
    "SIGTERM-as-the-JVM-starts": ("jvm", signal.SIGTERM),
    "SIGTERM-once-started": (STARTED_LINE, signal.SIGTERM),
}


# Where the warm-up is not what is tested, a given visibility timeout skips it: a shorter start-up.
NO_WARM_UP = ["--visibility-timeout", "4"]


@pytest.mark.parametrize("moment, signal_number", LOCAL_MOMENTS.values(), ids=LOCAL_MOMENTS.keys())
def test_an_interrupt_at_any_moment_of_local_leaves_no_process(tmp_path, cdk_out_folder, moment, signal_number):
    warm_up = signal_number == signal.SIGINT or moment != STARTED_LINE
    command = [*COMMAND, "local", "--cdk-out", str(cdk_out_folder), *([] if warm_up else NO_WARM_UP)]
    run = _Run(command, tmp_path)
    _at(moment, run)
    code = run.end(signal_number)
    _assert_ended_cleanly(run, code)
    assert not (tmp_path / LOCAL_TARGET_FILE).exists()
    if moment in ("jvm", STARTED_LINE):
        assert run.jvm_seen()  # so the check below had something to find


@pytest.mark.parametrize(
    "moment, signal_number",
    [("jvm", signal.SIGINT), ("Traffic", signal.SIGTERM)],
    ids=["SIGINT-as-the-JVM-starts", "SIGTERM-while-it-processes"],
)
def test_an_interrupt_of_the_demo_leaves_no_process(tmp_path, cdk_out_folder, moment, signal_number):
    run = _Run([*COMMAND, "demo", "--cdk-out", str(cdk_out_folder), "--no-progress", *NO_WARM_UP], tmp_path)
    _at(moment, run)
    _assert_ended_cleanly(run, run.end(signal_number))
    assert run.jvm_seen()


def test_an_interrupt_while_a_fixture_starts_its_engine_leaves_no_process(tmp_path):
    # As the tests' session fixture does: the engine as a context manager, in the main thread.
    script = "import signal\nfrom local_pipeline.engines import DynamoDBLocal\nwith DynamoDBLocal():\n    signal.pause()\n"
    run = _Run([sys.executable, "-c", script], REPO_ROOT)
    _at("jvm", run)
    code = run.end(signal.SIGINT)
    assert code == -signal.SIGINT and "KeyboardInterrupt" in run.error  # Python's own end on an uncaught Ctrl-C
    _assert_none_left(run)


def test_a_killed_local_leaves_no_engine_behind(tmp_path, cdk_out_folder):
    # A kill gives the command no chance to stop anything: its DynamoDB Local ends by itself.
    run = _Run([*COMMAND, "local", "--cdk-out", str(cdk_out_folder), *NO_WARM_UP], tmp_path)
    _at(STARTED_LINE, run)
    assert run.end(signal.SIGKILL) == -signal.SIGKILL and run.jvm_seen()
    _until(lambda: not any(map(_running, run.seen)), "every process of the killed command ended")
    assert _marked_processes(run.mark) == {}


def _assert_ended_cleanly(run: _Run, code: int) -> None:
    # Once it has started anything, it ends as interrupted, quietly. Before (while Python itself starts, or
    # imports before the command has set its SIGTERM handler) it may end as Python does: nothing to stop.
    if any(pid != run.process.pid for pid, _ in run.seen):
        assert code == INTERRUPTED and "Traceback" not in run.error, (code, run.lines, run.error)
    assert code != 0
    _assert_none_left(run)


def _assert_none_left(run: _Run) -> None:
    """Nothing the command started is running once it has ended: not one of the processes seen while it ran
    (each by its id), and no process at all with its mark."""
    assert [run.seen[process] for process in run.seen if _running(process)] == []
    assert _marked_processes(run.mark) == {}
