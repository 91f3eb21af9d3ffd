"""Statements and the container's memory, before any request (notification_processor/statements.py, memory.py)."""

from __future__ import annotations

from notification_processor.memory import StoredItems
from notification_processor.notifications import TASK, parse_record
from notification_processor.roles import TABLE_ROLES
from notification_processor.statements import MAX_STATEMENT_CHARACTERS, Answer, Stored, read_answer, statement
from tests.unit.processor_support import DOCUMENTED_TASK_TICKS, sqs_record, task_body

ROLE = TABLE_ROLES[TASK]


def notification(template: dict, **extra_fields):
    return parse_record(sqs_record(task_body(template, "job", 0, DOCUMENTED_TASK_TICKS, "Rendering") | extra_fields))


def test_an_unknown_key_is_inserted_whole(documented_task_message):
    new = notification(documented_task_message)
    sent = statement("tasks", ROLE, new, None)

    assert sent is not None
    assert sent["Statement"].startswith('INSERT INTO "tasks" VALUE {\'')
    assert sent["Parameters"] == list(new.item.values())


def test_a_known_key_sets_every_attribute_and_removes_what_the_new_item_lacks(documented_task_message):
    new = notification(documented_task_message)
    known = Stored(new.order - 1, frozenset(new.item) | {"Gone", "AlsoGone"})
    sent = statement("tasks", ROLE, new, known)

    assert sent is not None
    text = sent["Statement"]
    assert text.startswith('UPDATE "tasks" SET ')
    assert 'REMOVE "AlsoGone" REMOVE "Gone" WHERE "job_id" = ? AND "task_id" = ? AND "o" = ? AND "o" < ?' in text
    assert 'SET "job_id"' not in text and 'SET "task_id"' not in text
    assert sent["Parameters"][-2:] == [{"N": str(known.order)}, new.item["o"]]
    assert len(sent["Parameters"]) == text.count("?")


def test_names_that_cannot_be_quoted_and_long_statements_take_the_put_item_path(documented_task_message):
    new = notification(documented_task_message)
    assert statement("tasks", ROLE, notification(documented_task_message, **{'a"b': 1}), None) is None
    assert statement("tasks", ROLE, new, Stored(1, frozenset({"it's"}))) is None
    long_names = {f"field_{number:04}_{'x' * 40}": number for number in range(MAX_STATEMENT_CHARACTERS // 40)}
    assert statement("tasks", ROLE, notification(documented_task_message, **long_names), None) is None


def test_answers(documented_task_message):
    new = notification(documented_task_message)
    newer_item = new.item | {"o": {"N": str(new.order + 1)}}
    older_item = new.item | {"o": {"N": str(new.order - 1)}}
    legacy_item = {name: value for name, value in new.item.items() if name != "o"}

    def answer(inserted: bool, error: dict | None) -> Answer:
        return read_answer(new, inserted, {"Error": error} if error else {}).answer

    assert answer(True, None) is Answer.STORED
    assert answer(True, {"Code": "DuplicateItem"}) is Answer.EXISTS
    assert answer(False, {"Code": "ConditionalCheckFailed"}) is Answer.ABSENT
    assert answer(False, {"Code": "ConditionalCheckFailed", "Item": newer_item}) is Answer.NOT_NEWER
    assert answer(False, {"Code": "ConditionalCheckFailed", "Item": new.item}) is Answer.NOT_NEWER
    assert answer(False, {"Code": "ConditionalCheckFailed", "Item": older_item}) is Answer.CHANGED
    assert answer(False, {"Code": "ConditionalCheckFailed", "Item": legacy_item}) is Answer.OTHER
    assert answer(False, {"Code": "ThrottlingError"}) is Answer.RETRY
    assert answer(False, {"Code": "ValidationError"}) is Answer.OTHER


def test_the_memory_forgets_the_least_recently_used_key_first():
    memory = StoredItems(capacity=2)
    for number in range(3):
        memory.learn("t", (number,), Stored(number, frozenset({"a"})))
        memory.get("t", (0,))  # key 0 stays in use

    assert memory.get("t", (0,)) == Stored(0, frozenset({"a"}))
    assert memory.get("t", (1,)) is None
    assert memory.get("t", (2,)) == Stored(2, frozenset({"a"}))
    memory.learn("t", (2,), None)
    assert memory.get("t", (2,)) is None
