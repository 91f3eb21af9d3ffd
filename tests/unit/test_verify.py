"""verify's pure parts: the result table and exit, the temporaries' names, the listing, the confirmation, AWS's answers."""

from __future__ import annotations

import io
import json

import pytest
from botocore.exceptions import ClientError

from deadline_sqs import CommandError
from deadline_sqs.aws_errors import needs
from deadline_sqs.deployment import Deployment
from deadline_sqs.verify import (
    ALARM_REASON,
    FAIL,
    NOT_DEPLOYED,
    NOT_LOCAL,
    PASS,
    SKIP,
    PathResult,
    _action_error,
    _failed,
    alarm_failure_cause,
    all_passed,
    confirm,
    masked,
    result_line,
)
from deadline_sqs.verify_resources import (
    NAME_LIMIT,
    VerifyTarget,
    is_temporary,
    new_run_id,
    queue_policy,
    template_alert_statuses,
    temporary_base,
    temporary_name,
)

AWS_TARGET = VerifyTarget("DeadlineNotifications-acme", Deployment(), alarm_names=("a",))
LOCAL_TARGET = VerifyTarget("local", Deployment())


def test_the_table_has_one_aligned_line_per_path_with_its_seconds_and_note():
    lines = [result_line(result) for result in [
        PathResult("queue -> processor -> tables", PASS, 1.234, "test job x"),
        PathResult("alarms -> alarm topic", NOT_LOCAL, None, "CloudWatch alarms exist only in AWS"),
        PathResult("job alert -> alarm topic", FAIL, 60.0, "no alert within 60 s"),
    ]]  # fmt: skip
    assert lines[0].split() == ["PASS", "1.2", "s", "queue", "->", "processor", "->", "tables", "test", "job", "x"]
    assert lines[1].startswith("NOT CHECKED LOCALLY") and " s " not in lines[1]
    # The paths start in one column, so the outcomes and seconds line up.
    assert len({line.index(path) for line, path in zip(lines, ("queue", "alarms", "job"), strict=True)}) == 1


@pytest.mark.parametrize(
    "outcomes, passed",
    [
        ([PASS, PASS], True),
        ([PASS, NOT_LOCAL, NOT_DEPLOYED], True),  # paths this target does not have
        ([PASS, FAIL], False),
        ([PASS, SKIP], False),  # an alarm already in ALARM was not proven
    ],
)
def test_the_exit_is_0_only_if_every_path_passed(outcomes, passed):
    assert all_passed([PathResult(f"path {n}", outcome) for n, outcome in enumerate(outcomes)]) is passed


def test_temporary_names_fit_every_stack_and_match_only_their_own_stack():
    long_stack = "DeadlineNotifications-" + "a" * 40  # the longest studio name
    for stack in ("DeadlineNotifications-acme", long_stack, long_stack[:-1] + "b"):
        name = temporary_name(temporary_base(stack), new_run_id())
        assert len(name) <= NAME_LIMIT and is_temporary(name, temporary_base(stack))
    assert temporary_base(long_stack) != temporary_base(long_stack[:-1] + "b")
    base = temporary_base("DeadlineNotifications-acme")
    assert not is_temporary(f"{temporary_base('DeadlineNotifications-acme-2')}-0123abcd", base)  # another stack's
    assert not is_temporary(f"{base}-0123abcd-x", base) and not is_temporary(base, base)


@pytest.mark.parametrize(
    "protocol, endpoint, shown",
    [
        ("email", "render-alerts@acme.example", "r***@acme.example"),
        ("sms", "+15551234567", "***4567"),
        ("https", "https://events.example.com/integration/abc123secret?token=x", "https://events.example.com/..."),
        ("sqs", "arn:aws:sqs:eu-west-1:111111111111:q", "arn:aws:sqs:eu-west-1:111111111111:q"),
    ],
)
def test_the_recipients_list_hides_what_names_a_person_or_holds_a_secret(protocol, endpoint, shown):
    assert masked(protocol, endpoint) == shown


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_and_without_yes_verify_refuses_and_says_to_pass_yes():
    with pytest.raises(CommandError, match="pass --yes"):
        confirm(AWS_TARGET, False, io.StringIO("y\n"), io.StringIO())
    confirm(AWS_TARGET, True, io.StringIO(""), io.StringIO())  # --yes
    confirm(LOCAL_TARGET, False, io.StringIO(""), io.StringIO())  # nobody receives anything locally


def test_at_a_terminal_only_yes_goes_on():
    asked = io.StringIO()
    confirm(AWS_TARGET, False, _Terminal("y\n"), asked)
    assert "[y/N]" in asked.getvalue()
    with pytest.raises(CommandError, match="nothing was sent"):
        confirm(AWS_TARGET, False, _Terminal("\n"), io.StringIO())


def test_a_failed_alarm_action_names_the_likely_cause_and_keeps_aws_words():
    refused = (
        "User: arn:aws:sts::111111111111:assumed-role/x is not authorized to perform: SNS:Publish on resource: "
        "arn:aws:sns:eu-west-1:111111111111:t because no resource-based policy allows the SNS:Publish action"
    )
    action = {"HistorySummary": "Failed to execute action t", "HistoryData": json.dumps({"actionState": "Failed", "error": refused})}
    assert _failed(action) and _action_error(action) == refused
    cause = alarm_failure_cause(refused)
    assert cause.startswith("CloudWatch may not publish to the topic: the topic policy lacks cloudwatch.amazonaws.com")
    assert refused in cause
    assert alarm_failure_cause("KMS.AccessDeniedException: ...").startswith("CloudWatch may not use the topic's key")
    assert not _failed({"HistorySummary": "Successfully executed action t", "HistoryData": '{"actionState":"Succeeded"}'})
    assert _failed({"HistorySummary": "Failed to execute action t"})  # without HistoryData


def test_the_alarm_reason_says_it_is_a_test():
    assert ALARM_REASON.startswith("TEST") and len(ALARM_REASON) <= 1023  # SetAlarmState's limit


def test_the_job_alerts_statuses_come_from_the_template(pipeline_template):
    assert template_alert_statuses(pipeline_template) == ("Failed",)
    assert template_alert_statuses({"Resources": {}}) == ()


def test_the_temporary_queue_takes_only_tls_and_only_the_temporary_rule_and_the_topic():
    policy = queue_policy("arn:q", "arn:rule", "arn:topic")
    deny, *allows = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {(a["Principal"]["Service"], a["Condition"]["ArnEquals"]["aws:SourceArn"]) for a in allows} == {
        ("events.amazonaws.com", "arn:rule"),
        ("sns.amazonaws.com", "arn:topic"),
    }
    assert all(a["Action"] == "sqs:SendMessage" and a["Resource"] == "arn:q" for a in allows)
    assert len(queue_policy("arn:q", "arn:rule", "")["Statement"]) == 2  # locally: no topic


@pytest.mark.parametrize("code", ["AccessDenied", "AccessDeniedException", "AuthorizationError"])
def test_an_operator_without_a_permission_is_told_which_action_on_what(code):
    refused = ClientError({"Error": {"Code": code, "Message": "User: x is not authorized"}}, "SetAlarmState")
    action = ("verify", "cloudwatch:SetAlarmState", "alarm A")
    with pytest.raises(CommandError, match=r"^verify needs cloudwatch:SetAlarmState on alarm A: grant it"), needs(*action):
        raise refused
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "SetAlarmState")
    with pytest.raises(CommandError, match=r"^alarm A: Throttling: slow down"), needs(*action):  # AWS's words
        raise throttled
