"""The `deadline-sqs` command: help, clear errors without tracebacks, and a small end-to-end demo."""

from __future__ import annotations

import io
import json
import subprocess
import threading
from contextlib import redirect_stdout

import pytest

from deadline_sqs import __version__, cli
from local_pipeline import demo, docs_samples, pipeline
from local_pipeline.docs_samples import LOCAL_SAMPLES
from local_pipeline.engines import DynamoDBLocal, LocalSQS
from stacks.roles import QUEUE
from tests.conftest import write_cdk_out
from tests.unit.test_local_demo_summary import report_with_failed_writes

SUBCOMMANDS = ["generate", "send", "demo", "local", "smoke", "status", "dlq", "redrive"]
POSITIONALS = {"send": ["farm.jsonl"], "status": ["JOB"], "history": ["JOB"]}


@pytest.fixture(scope="module")
def cdk_out(local_demo_template, tmp_path_factory):
    """A `cdk synth` output folder with the template `make demo` synthesizes (studios/local-demo.json).

    Two settings are smaller, to keep the test short: the redrive policy allows 2
    receives (bad messages reach the DLQ sooner) and batches hold 10 messages. That
    the local run follows them is part of what the demo test shows.
    """
    template = json.loads(json.dumps(local_demo_template))
    template["Resources"][QUEUE.logical_id]["Properties"]["RedrivePolicy"]["maxReceiveCount"] = 2
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            resource["Properties"]["BatchSize"] = 10
    return write_cdk_out(tmp_path_factory.mktemp("cdk.out"), template)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: deadline-sqs {command}" in capsys.readouterr().out


def test_version_names_the_installed_package(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"deadline-sqs {__version__}" != "deadline-sqs unknown"


@pytest.mark.parametrize(
    "arguments", [[], ["generate"], ["generate", "--out", "x", "--duplicates", "2"], ["demo", "--pollers", "0"], ["status"]]
)
def test_bad_arguments_exit_2_with_usage(arguments, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(arguments)
    assert exit_info.value.code == 2
    assert "usage: deadline-sqs" in capsys.readouterr().err


def test_demo_without_a_synthesized_app_says_to_run_make_synth(tmp_path, capsys):
    assert cli.main(["demo", "--cdk-out", str(tmp_path / "cdk.out")]) == 2
    error = capsys.readouterr().err
    assert "run `make synth` first" in error and "Traceback" not in error


def test_without_java_the_demo_says_so_and_leaves_nothing_running(cdk_out, tmp_path, monkeypatch, capsys):
    started = _record_engines(monkeypatch)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    assert cli.main(["demo", "--cdk-out", str(cdk_out), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "Java is not installed" in error and "Traceback" not in error
    _assert_stopped(started)


def test_commands_without_a_deployment_say_what_to_pass(capsys):
    assert cli.main(["smoke"]) == 2
    assert "pass --stack-name, --local, or --queue-url, --job-table, --task-table" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command, unused",
    [("status", "--queue-url"), ("status", "--dlq-url"), ("send", "--job-table"), ("dlq", "--queue-url"),
     ("history", "--task-table")],
)
def test_each_command_takes_only_the_target_options_it_uses(command, unused, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, *POSITIONALS.get(command, []), unused, "x"])
    assert exit_info.value.code == 2
    assert f"unrecognized arguments: {unused} x" in capsys.readouterr().err


def test_generate_writes_traffic_and_truth(tmp_path, capsys):
    out, truth = tmp_path / "traffic.jsonl", tmp_path / "truth.json"
    arguments = ["generate", "--out", str(out), "--truth", str(truth), "--jobs", "2", "--malformed-per-kind", "1"]
    assert cli.main(arguments) == 0
    lines = out.read_text().splitlines()
    assert f"Wrote {len(lines)} messages" in capsys.readouterr().out
    assert sum(1 for line in lines if "invalid" in json.loads(line)) == 10
    assert len(json.loads(truth.read_text())["jobs"]) == 2


def _record_engines(monkeypatch) -> list:
    started = []

    def recording(engine_class):
        class Recorded(engine_class):
            def start(self):
                started.append(self)
                return super().start()

        return Recorded

    monkeypatch.setattr(pipeline, "DynamoDBLocal", recording(DynamoDBLocal))
    monkeypatch.setattr(pipeline, "LocalSQS", recording(LocalSQS))
    return started


def _assert_stopped(engines) -> None:
    for engine in engines:
        if isinstance(engine, DynamoDBLocal):
            assert engine._process is None or engine._process.poll() is not None
        else:
            assert engine._server is None


@pytest.fixture(scope="module")
def small_demo(cdk_out, tmp_path_factory) -> tuple[int, str, list]:
    """One small demo for the module: its exit code, what it printed, and the engines it started.

    It keeps its archive where `make demo` does, relative to a folder of its own."""
    arguments = [
        "demo", "--cdk-out", str(cdk_out), "--no-progress", "--pollers", "2", "--archive", ".deadline-sqs/archive",
        "--jobs", "3", "--tasks-per-job", "6", "--duplicates", "0.3", "--reorder", "20", "--malformed-per-kind", "1",
    ]
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, redirect_stdout(printed):
        monkeypatch.chdir(tmp_path_factory.mktemp("demo"))
        started = _record_engines(monkeypatch)
        code = cli.main(arguments)
    return code, printed.getvalue(), started


def test_demo_end_to_end_on_a_small_farm(small_demo):
    code, output, started = small_demo
    assert code == 0, output
    assert "Check: PASS" in output
    assert "DLQ after 2 receives" in output and "batch size 10" in output
    assert "Dead-letter queue: 10 messages" in output
    assert "Jobs by status   (3)" in output
    assert len(started) == 2
    _assert_stopped(started)


def test_the_documented_demo_sample_is_what_the_demo_prints(small_demo):
    """docs/local-pipeline.md's `make demo` sample, shaped (counts, timings, ids), is the demo's output shaped.

    `make docs-samples` regenerates the sample. Lines printed only sometimes (failed writes, on a
    busy machine) must have the shape the summary gives them, wherever they appear. A report's rows
    depend on the traffic: only its heading is compared.
    """
    _, output, _ = small_demo
    page = LOCAL_SAMPLES["make demo"]
    (sample,) = [sample for sample in docs_samples.samples(page.read_text()) if sample.command == "make demo"]
    make_lines = docs_samples.normalize(_make_dry_run("demo"))
    documented = _without_report_rows([line for line in docs_samples.normalize(sample.output) if line not in make_lines])
    printed = _without_report_rows(docs_samples.normalize(output.splitlines()))
    sometimes = docs_samples.normalize([_failed_writes_line()])
    unlike = [line for line in documented + printed if line.startswith("  failed writes") and line not in sometimes]
    assert not unlike, "failed-writes lines the summary does not print"
    assert [line for line in documented if line not in sometimes] == [line for line in printed if line not in sometimes]


def _without_report_rows(lines: list[str]) -> list[str]:
    """The lines without the indented rows under each "Report ..." heading."""
    kept, in_report = [], False
    for line in lines:
        in_report = line.startswith("Report ") or (in_report and line.startswith("  "))
        if not (in_report and line.startswith("  ")):
            kept.append(line)
    return kept


def _make_dry_run(target: str) -> list[str]:
    root = docs_samples.ROOT
    result = subprocess.run(["make", "-n", target], cwd=root, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.replace(str(root), docs_samples.REPO).splitlines()


def _failed_writes_line() -> str:
    text = demo.summary(report_with_failed_writes([]))
    return next(line for line in text.splitlines() if line.startswith("  failed writes"))


def test_ctrl_c_during_processing_stops_the_pollers_and_the_engines(cdk_out, monkeypatch, capsys):
    started = _record_engines(monkeypatch)

    def interrupted(sqs, queue_url, bar, timeout, source):
        assert any(thread.name.startswith("sqs-poller-") for thread in threading.enumerate())
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_wait_until_drained", interrupted)
    arguments = ["demo", "--cdk-out", str(cdk_out), "--no-progress", "--jobs", "1", "--tasks-per-job", "2"]
    assert cli.main(arguments) == cli.INTERRUPTED
    assert "interrupted" in capsys.readouterr().err
    assert len(started) == 2
    _assert_stopped(started)
    assert not any(thread.name.startswith("sqs-poller-") for thread in threading.enumerate())
