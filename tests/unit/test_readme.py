"""README.md and docs/ stay true to the code: every command they show exists and takes the options shown,
every make target is one `make help` lists, every output key is an output of the synthesized stack and
every config key is a config key.

The commands, targets, outputs and keys are read from the pages and checked against the code (the
`deadline-sqs` parser, `make help`, the template, StudioConfig), so a command, option or key added
or renamed in either place is checked without changing this test. Commands that need AWS (`aws`, and
`npx cdk` other than synth) are not run; their CDK context keys are still checked.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deadline_sqs import cli
from stacks.config import CONFIG_FILE_KEY, FIELD_NAMES
from stacks.synth import synthesize_template

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
# The CDK CLI's verbs the pages may show; all but synth reach AWS.
CDK_VERBS = {"synth": False, "diff": True, "deploy": True, "destroy": True, "bootstrap": True, "import": True}
NEEDS_AWS_PROGRAMS = {"aws"}


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    words: list[str]

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {shlex.join(self.words)}"


def fenced_blocks(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """(language, first line number, lines) of every fenced code block."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = re.match(r"\s*```(\w*)\s*$", lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        yield opening[1], index + 2, [line.strip() for line in lines[index + 1 : end]]
        index = end + 1


def block_commands(page: Path) -> list[Command]:
    """The commands in a page's code blocks: every line of a shell block, and the `$ ` lines of a text block."""
    commands = []
    for language, first, lines in fenced_blocks(page.read_text()):
        if language not in ("sh", "text"):
            continue
        pending, start = "", first
        for number, line in enumerate(lines, first):
            if language == "text":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            if re.fullmatch(r"[A-Z_]+=\S*", line):  # a shell variable for the next lines
                continue
            if not pending:
                start = number
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            try:
                words = shlex.split(pending + line, comments=True)
            except ValueError:  # a quoted argument over several lines
                pending += line + " "
                continue
            pending = ""
            while words:  # `a && b`: two commands
                end = words.index("&&") if "&&" in words else len(words)
                commands.append(Command(page.name, start, words[:end]))
                words = words[end + 1 :]
    return commands


def split_words(page: Path, line: int, text: str, comments: bool = False) -> list[str]:
    try:
        return shlex.split(text, comments=comments)
    except ValueError as error:
        raise AssertionError(f"{page.name}:{line}: {text!r} is not a shell command line ({error})") from None


def inline_commands(page: Path) -> list[Command]:
    """The commands named in a page's prose, in backticks: `make ...`, `deadline-sqs ...`, `npx cdk ...`."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    commands = []
    for match in re.finditer(r"`((?:make|deadline-sqs|npx cdk) [^`]*|deadline-sqs)`", text):
        line = text.count("\n", 0, match.start()) + 1
        commands.append(Command(page.name, line, split_words(page, line, match[1])))
    return commands


def every_command() -> list[Command]:
    return [command for page in PAGES for command in block_commands(page) + inline_commands(page)]


@pytest.fixture(scope="module")
def make_targets() -> set[str]:
    listed = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
    return set(re.findall(r"^\s+make (\S+)", listed, flags=re.MULTILINE))


def make_variables() -> set[str]:
    return set(re.findall(r"^([A-Z_]+) \??:?=", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))


def check_make(command: Command, targets: set[str]) -> list[str]:
    arguments = command.words[1:]
    variables = [word.split("=", 1)[0] for word in arguments if "=" in word]
    named = [word for word in arguments if "=" not in word and not word.startswith("-")]
    problems = [f"{command}: no target {target!r} in `make help`" for target in named if target not in targets]
    problems += [f"{command}: no variable {name} in the Makefile" for name in variables if name not in make_variables()]
    if not problems:  # a dry run: every prerequisite and recipe line resolves, nothing is run
        dry = subprocess.run(["make", "-n", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=60)
        if dry.returncode:
            problems.append(f"{command}: `make -n` fails: {dry.stderr.strip()}")
    return problems


def subcommand_options() -> dict[str, set[str]]:
    """Each `deadline-sqs` command's option strings, from the real parser."""
    parser = cli.build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return {name: set(sub._option_string_actions) for name, sub in commands.choices.items()}


def check_deadline_sqs(command: Command, capsys) -> list[str]:
    """Parsed by the real parser: the command exists and takes every option and argument shown."""
    try:
        cli.build_parser().parse_args(command.words[1:])
    except SystemExit as exit_info:
        shown = capsys.readouterr()
        if exit_info.code != 0:  # --help and --version exit 0
            return [f"{command}: {shown.err.strip().splitlines()[-1]}"]
    return []


def check_deadline_sqs_named(command: Command, options: dict[str, set[str]]) -> list[str]:
    """Named in prose (`deadline-sqs generate`, `deadline-sqs demo --help`): the command and its options exist."""
    words = command.words[1:]
    if not words or words[0] in ("--help", "--version"):
        return []
    if words[0] not in options:
        return [f"{command}: no command {words[0]!r} (deadline-sqs --help lists them)"]
    flags = [word.split("=", 1)[0] for word in words[1:] if word.startswith("--")]
    return [f"{command}: {flag} is not an option of {words[0]}" for flag in flags if flag not in options[words[0]]]


def check_paths(command: Command) -> list[str]:
    """A repository tool (`.venv/bin/pytest tests/x`, `git diff tests/x`): it is installed, the paths it names exist."""
    program = command.words[0]
    problems = [] if program == "git" or (ROOT / program).is_file() else [f"{command}: {program} is not installed"]
    paths = [word for word in command.words[1:] if "/" in word and not word.startswith("-")]
    return problems + [f"{command}: {path} does not exist" for path in paths if not (ROOT / path).exists()]


def context_keys(words: list[str]) -> list[str]:
    return [value.split("=", 1)[0] for flag, value in itertools.pairwise(words) if flag == "-c"]


def check_cdk(command: Command) -> list[str]:
    verb = command.words[2] if len(command.words) > 2 else ""
    if verb not in CDK_VERBS:
        return [f"{command}: not a CDK CLI verb this project uses ({', '.join(CDK_VERBS)})"]
    keys = context_keys(command.words)
    return [f"{command}: {key!r} is not a config key" for key in keys if key not in (*FIELD_NAMES, CONFIG_FILE_KEY)]


def check_files(command: Command) -> list[str]:
    """`cp SOURCE DEST` and `. FILE`: the file they start from exists."""
    source = command.words[1]
    return [] if (ROOT / source).exists() else [f"{command}: {source} does not exist"]


def test_every_command_the_pages_show_exists_and_takes_the_options_shown(make_targets, capsys):
    options = subcommand_options()
    problems = []
    for page in PAGES:
        for command in block_commands(page):
            problems += check_command(command, make_targets, capsys)
        for command in inline_commands(page):
            if command.words[0] == "deadline-sqs":
                problems += check_deadline_sqs_named(command, options)
            else:
                problems += check_command(command, make_targets, capsys)
    assert not problems, "\n".join(problems)


def check_command(command: Command, make_targets: set[str], capsys) -> list[str]:
    words = command.words
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VARIABLE=value before the program
        words = words[1:]
    command = Command(command.page, command.line, words)
    program = words[0]
    if program == "make":
        return check_make(command, make_targets)
    if program == "deadline-sqs":
        return check_deadline_sqs(command, capsys)
    if words[:2] == ["npx", "cdk"]:
        return check_cdk(command)
    if program in ("cp", "."):
        return check_files(command)
    if program == "git" or program.startswith(".venv/bin/"):
        return check_paths(command)
    if program in NEEDS_AWS_PROGRAMS or program == "export":
        return []
    return [f"{command}: a command this test has no rule for: add one"]


def test_every_deadline_sqs_command_named_runs(capsys):
    named = {
        command.words[1]
        for command in every_command()
        if command.words[0] == "deadline-sqs" and len(command.words) > 1 and not command.words[1].startswith("-")
    }
    assert {"demo", "smoke", "status", "history"} <= named
    for name in sorted(named):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([name, "--help"])
        assert exit_info.value.code == 0, name
        assert f"usage: deadline-sqs {name}" in capsys.readouterr().out


def test_every_make_target_named_anywhere_is_in_make_help(make_targets):
    for page in PAGES:
        named = set(re.findall(r"`make ([a-z-]+)", page.read_text()))
        named |= set(re.findall(r"^\$? ?make ([a-z-]+)", page.read_text(), flags=re.MULTILINE))
        assert named <= make_targets, f"{page.name}: {sorted(named - make_targets)} not in `make help`"


# --- outputs ----------------------------------------------------------------------------------


def listed_outputs(text: str) -> dict[str, str]:
    """The output keys in the page's table of outputs (first column `output`), each with its row's text."""
    rows, in_table = {}, False
    for line in text.splitlines():
        if re.match(r"\|\s*output\s*\|", line):
            in_table = True
        elif in_table and line.startswith("|"):
            for key in re.findall(r"`(\w+)`", line.split("|")[1]):
                rows[key] = line
        else:
            in_table = False
    return rows


def named_outputs(text: str) -> set[str]:
    """Output keys named in prose: "the stack's `QueueUrl` output", "output `HistoryTableName`"."""
    return set(re.findall(r"`(\w+)`\s+outputs?\b", text)) | set(re.findall(r"\boutputs?\s+`(\w+)`", text))


@pytest.fixture(scope="module")
def templates(pipeline_template) -> dict[str, dict]:
    """The default template, and one per option a row of the outputs table says its output comes with."""
    options = set()
    for page in PAGES:
        for row in listed_outputs(page.read_text()).values():
            options |= set(re.findall(r"with `(\w+)` on", row))
    return {"": pipeline_template} | {option: synthesize_template({option: "true"}) for option in sorted(options)}


def test_the_outputs_table_lists_exactly_the_stacks_outputs(templates):
    rows = listed_outputs(README.read_text())
    every_output = {key for template in templates.values() for key in template["Outputs"]}
    assert set(rows) == every_output, "README's outputs table and the stack's outputs differ"
    for key, row in rows.items():
        option = (re.findall(r"with `(\w+)` on", row) or [""])[0]
        assert key in templates[option]["Outputs"], f"{key}: not an output of the stack{f' with {option} on' * bool(option)}"
        if option:
            assert key not in templates[""]["Outputs"], f"{key}: an output without {option} too"


def test_every_output_key_the_pages_name_is_an_output(templates):
    every_output = {key for template in templates.values() for key in template["Outputs"]}
    for page in PAGES:
        text = page.read_text()
        named = set(listed_outputs(text)) | named_outputs(text)
        assert named <= every_output, f"{page.name}: {sorted(named - every_output)} are not outputs of the stack"


# --- config keys ------------------------------------------------------------------------------


def names_code(name: str) -> bool:
    """A package or module of the repository (README names `notification_processor`, say)."""
    return any((ROOT / base / name).is_dir() or (ROOT / base / f"{name}.py").is_file() for base in (".", "lambda_src"))


def readme_config_keys() -> set[str]:
    """The config keys README.md names: backticked or <placeholder> snake_case names, `"key":` and `-c key=`."""
    text = README.read_text()
    snake = set(re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`", text)) | set(re.findall(r"<([a-z]+(?:_[a-z]+)+)>", text))
    return {name for name in snake if not names_code(name) or name in FIELD_NAMES} | page_config_keys(text)


def table_keys(text: str) -> set[str]:
    """The first column of every table whose first column is headed `key`."""
    keys, in_table = set(), False
    for line in text.splitlines():
        if re.match(r"\|\s*key\s*\|", line):
            in_table = True
        elif in_table and line.startswith("|"):
            keys |= set(re.findall(r"`(\w+)`", line.split("|")[1]))
        else:
            in_table = False
    return keys


def page_config_keys(text: str) -> set[str]:
    """Config keys any page names as such: `-c key=value`, `"key": value` in prose, the rows of a table of keys."""
    keys = {key for key, value in re.findall(r"-c ([a-z_]+)=([^\s`]+)", text) if value != "value"}  # not the pattern
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    keys |= set(re.findall(r'`"([a-z_]+)": [^`]*`', prose))
    return (keys | table_keys(text)) - {CONFIG_FILE_KEY}


def test_every_config_key_the_readme_names_is_a_config_key():
    named = readme_config_keys()
    assert {"batch_size", "max_receive_count", "alarm_email", "sandbox"} <= named  # the README was read
    assert named <= set(FIELD_NAMES), f"not config keys: {sorted(named - set(FIELD_NAMES))}"


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda page: page.name)
def test_every_config_key_a_docs_page_names_is_a_config_key(page):
    named = page_config_keys(page.read_text())
    assert named <= set(FIELD_NAMES), f"{page.name}: not config keys: {sorted(named - set(FIELD_NAMES))}"


def test_the_configuration_page_lists_every_key():
    rows = table_keys((ROOT / "docs" / "configuration.md").read_text())
    assert set(FIELD_NAMES) <= rows, f"missing from docs/configuration.md: {sorted(set(FIELD_NAMES) - rows)}"


# --- the deploy path and the length -----------------------------------------------------------


def deploy_commands() -> list[str]:
    section = README.read_text().split("## Deploying", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]


def test_the_fork_steps_start_from_the_starter_and_use_the_checked_make_targets():
    commands = deploy_commands()
    (copy,) = [command for command in commands if command.startswith("cp ")]
    source, studio = copy.split()[1:]
    assert source == "studios/starter.json" and (ROOT / source).is_file()
    assert f"make diff   STUDIO={studio}" in commands and f"make deploy STUDIO={studio}" in commands


def test_the_readme_stays_short():
    assert len(README.read_text().splitlines()) <= 300
