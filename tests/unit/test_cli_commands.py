"""The command line as a person meets it: quick to start, plain help, clear errors and summaries."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foi_mailbot.cli import app
from foi_mailbot.cli import cases as cases_cmds
from foi_mailbot.clock_policy import clock_policy
from foi_mailbot.deadlines.statutory import ClockPolicy
from foi_mailbot.settings import CONFIG_ENV, ENV_PREFIX, Settings
from tests.conftest import FIXTURES

runner = CliRunner()
HEAVY = ("sqlalchemy", "alembic", "mailparser", "imapclient", "apscheduler")


def _loaded_after(*args: str) -> set[str]:
    """Top-level modules loaded by running the command line with `args` in a fresh interpreter."""
    code = (
        "import json, sys\n"
        f"sys.argv = ['foi-mailbot', *{list(args)!r}]\n"
        "from foi_mailbot.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    return {name.split(".")[0] for name in json.loads(done.stderr.splitlines()[-1])}


@pytest.mark.parametrize("args", [
    ("--help",),
    ("deadline", "--law", "foia", "--received", "2021-07-07"),
])
def test_help_and_deadline_load_no_database_mail_or_scheduler_library(args: tuple[str, ...]) -> None:
    """Starting the program costs about what typer costs: the application loads per command."""
    loaded = _loaded_after(*args)

    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_deadline_without_configuration_uses_the_configured_defaults() -> None:
    """The quick path of `deadline` gives exactly what loading empty settings would."""
    assert ClockPolicy() == clock_policy(Settings())
    assert (CONFIG_ENV, f"{ENV_PREFIX}CLOCK") == (cases_cmds.CONFIG_ENV, cases_cmds.CLOCK_ENV)


def test_a_clock_setting_in_the_environment_is_still_read_by_deadline() -> None:
    """FOI_MAILBOT_CLOCK__* changes the count: a Saturday request is received on Monday."""
    args = ["deadline", "--law", "foia", "--received", "2026-01-03", "--json"]

    default = runner.invoke(app, args)
    code_style = runner.invoke(
        app, args, env={"FOI_MAILBOT_CLOCK__RECEIPT_ON_NON_WORKING_DAY": "next_working_day"}
    )

    assert "2026-01-30" == json.loads(default.output)["due"]
    assert "2026-02-02" == json.loads(code_style.output)["due"]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "foi-mailbot.toml"
    path.write_text(
        f'[organisation]\nreference_secret = "s"\nmailbox_address = "foi@example.gov.uk"\n'
        f'staff_domains = ["example.gov.uk"]\n[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[mailbox]\nmaildir = "{tmp_path / "maildir"}"\nstart = "all"\n[health]\nport = 0\n',
        encoding="utf-8",
    )
    return path


def test_config_is_accepted_before_or_after_the_command(tmp_path: Path) -> None:
    """`foi-mailbot --config F cases list` and `foi-mailbot cases list --config F` agree."""
    config = str(_config(tmp_path))
    runner.invoke(app, ["ingest", str(FIXTURES / "new_request_plain_foia.eml"), "-c", config])

    before = runner.invoke(app, ["--config", config, "cases", "list", "--json"])
    after = runner.invoke(app, ["cases", "list", "--json", "--config", config])

    assert 0 == before.exit_code, before.output
    assert 1 == len(json.loads(before.output))
    assert before.output == after.output


def test_help_shows_plain_labels_not_python_types() -> None:
    """Arguments and options are named for what they are (PATH..., FILE, DATE)."""
    ingest = runner.invoke(app, ["ingest", "--help"])
    deadline = runner.invoke(app, ["deadline", "--help"])
    top = runner.invoke(app, ["--help"])

    assert "ingest [OPTIONS] PATH...\n" in ingest.output
    assert "--config FILE" in ingest.output and "--received DATE" in deadline.output
    for output in (ingest.output, deadline.output, top.output):
        assert "<" not in output and "list[" not in output, output


def test_an_unknown_case_state_is_an_error_naming_the_states(tmp_path: Path) -> None:
    """A typo in --status is not an empty list."""
    result = runner.invoke(app, ["cases", "list", "--status", "bogus", "-c", str(_config(tmp_path))])

    assert 2 == result.exit_code
    assert "'bogus' is not a case state" in result.output
    assert "awaiting_clarification" in result.output


def test_ingest_of_one_message_says_message(tmp_path: Path) -> None:
    """One message is "1 message", not "1 messages"."""
    result = runner.invoke(
        app, ["ingest", str(FIXTURES / "new_request_plain_foia.eml"), "-c", str(_config(tmp_path))]
    )

    assert 0 == result.exit_code, result.output
    assert "Read 1 message: 1 stored, 0 already stored." in result.output


def test_once_prints_what_the_cycle_did(tmp_path: Path) -> None:
    """`once` says how many messages it stored, cases it opened, letters it sent, flags it set."""
    config = _config(tmp_path)
    new = tmp_path / "maildir" / "new"
    for sub in ("new", "cur", "tmp"):
        (tmp_path / "maildir" / sub).mkdir(parents=True)
    shutil.copy(FIXTURES / "new_request_plain_foia.eml", new / "1.eml")
    shutil.copy(FIXTURES / "auto_reply_outlook_ooo.eml", new / "2.eml")

    result = runner.invoke(app, ["once", "--config", str(config)])

    assert 0 == result.exit_code, result.output
    assert ("Stored 2 new messages; opened 1 case; sent 1 acknowledgement; "
            "flagged 0 for a person.") in result.output
    assert "  new_request: 1" in result.output and "  auto_reply: 1" in result.output


def test_report_text_has_headings_and_csv_is_one_table_at_a_time(tmp_path: Path) -> None:
    """The terminal table is labelled; each CSV is one table a spreadsheet opens as it is."""
    config = str(_config(tmp_path))
    runner.invoke(app, ["ingest", str(FIXTURES / "new_request_plain_foia.eml"), "-c", config])

    text = runner.invoke(app, ["report", "-c", config])
    cases = runner.invoke(app, ["report", "--format", "csv", "-c", config])
    yearly = runner.invoke(app, ["report", "--format", "csv", "--table", "compliance", "-c", config])

    assert 0 == text.exit_code, text.output
    heading = text.stdout.splitlines()[2].split()
    assert ["Reference", "Law", "Status", "Received", "Completed"] == heading[:5]
    case_rows = list(csv.reader(io.StringIO(cases.stdout)))
    assert "Case reference" in case_rows[0] and 2 == len(case_rows)
    assert all(case_rows)  # no blank row: one table only
    assert "Financial year" == next(csv.reader(io.StringIO(yearly.stdout)))[0]


def test_alembic_start_up_lines_are_not_logged_but_migrations_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """"Context impl SQLiteImpl" and "Will assume ... DDL" at every start say nothing useful."""
    from foi_mailbot.bootstrap import build
    from foi_mailbot.logconfig import configure

    configure(json=True)
    build(Settings(paths={"data_dir": tmp_path})).close()  # type: ignore[arg-type]
    logged = capsys.readouterr().err

    assert "Running upgrade" in logged
    assert "Context impl" not in logged and "Will assume" not in logged


def test_run_says_where_to_drop_mail_where_letters_appear_and_the_health_url(
    tmp_path: Path,
) -> None:
    """The embedded default names its two folders and the health page as the daemon starts."""
    from foi_mailbot.cli.daemon_cmds import where_to_look

    local = Settings(paths={"data_dir": tmp_path})  # type: ignore[arg-type]
    served = Settings(mailbox={"host": "imap.example.org"}, smtp={"host": "smtp.example.org"})  # type: ignore[arg-type]

    assert [f"Mailbox: drop .eml files into {tmp_path / 'maildir' / 'new'}",
            f"Letters: written as .eml files to {tmp_path / 'outgoing'}",
            "Health: http://127.0.0.1:8025/healthz"] == where_to_look(local)
    assert ["Health: http://127.0.0.1:8025/healthz"] == where_to_look(served)
