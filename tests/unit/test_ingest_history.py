"""`ingest` of old mail: files that are not mail are named and skipped, old mail is never
acknowledged by itself, `--history` holds its cases to confirm, and a held letter a person
releases says it is late and apologises."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from typer.testing import CliRunner

from foi_mailbot.cli import app
from foi_mailbot.sources.files import arrival, iter_paths, not_mail

FIXTURES = Path(__file__).parents[1] / "fixtures"
runner = CliRunner()


def _env(tmp_path: Path) -> dict[str, str]:
    return {"FOI_MAILBOT_PATHS__DATA_DIR": str(tmp_path / "data"),
            "FOI_MAILBOT_MAILBOX__MAILDIR": str(tmp_path / "maildir")}


def _export(tmp_path: Path) -> Path:
    """A folder as an old mailbox export looks: mail, and things that are not mail."""
    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(FIXTURES / "new_request_plain_foia.eml", folder / "request-1.eml")
    shutil.copy(FIXTURES / "new_request_journalist.eml", folder / "request-2.eml")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4\n\x00\x01\x02binary")
    (folder / "broken.eml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "empty.eml").write_bytes(b"")
    (folder / "pyproject.toml").write_text('[project]\nname = "x"\n')
    return folder


def test_a_folder_is_walked_for_mail_and_everything_else_is_named_as_skipped(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["ingest", str(_export(tmp_path))], env=_env(tmp_path))

    assert 0 == result.exit_code, result.output
    assert "2 stored" in result.output
    for name, why in [("scan.pdf", "not an .eml file"), ("broken.eml", "binary"),
                      ("empty.eml", "empty"), ("pyproject.toml", "not an .eml file")]:
        assert f"skipped {tmp_path / 'export' / name}: {why}" in result.output


def test_a_toml_file_named_as_mail_has_no_header_block(tmp_path: Path) -> None:
    odd = tmp_path / "settings.eml"
    odd.write_text('[mailbox]\nhost = "imap.example.org"\n\n[smtp]\n')

    assert "no mail header block" in (not_mail(odd) or "")


def test_an_mbox_of_year_old_requests_sends_nothing_and_holds_each_letter(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    export = tmp_path / "last-year.mbox"
    shutil.copy(FIXTURES / "sources" / "three_requests.mbox", export)
    # Its third message has no date on its From_ line: the export's file time, a year ago.
    year_ago = datetime(2026, 1, 7, 12, 0, tzinfo=UTC).timestamp()
    os.utime(export, (year_ago, year_ago))
    result = runner.invoke(app, ["ingest", str(export)], env=env)
    listed = json.loads(runner.invoke(app, ["cases", "list", "--json"], env=env).output)
    triage = runner.invoke(app, ["triage"], env=env).output

    assert 0 == result.exit_code, result.output
    assert [] == list((tmp_path / "data" / "outgoing").glob("*.eml"))
    assert 3 == len(listed)
    assert {"letter held"} == {case["hold"] for case in listed}
    assert "letter held: its due date 2026-" in triage


def test_a_held_letter_released_by_a_person_says_it_is_late_and_apologises(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    runner.invoke(app, ["ingest", str(FIXTURES / "new_request_plain_foia.eml")], env=env)
    [case] = json.loads(runner.invoke(app, ["cases", "list", "--json"], env=env).output)

    sent = runner.invoke(app, ["cases", "send", case["reference"]], env=env)
    again = runner.invoke(app, ["cases", "send", case["reference"]], env=env)

    assert 0 == sent.exit_code, sent.output
    assert "says the response is late" in sent.output
    assert "already acknowledged" in again.output
    [letter] = list((tmp_path / "data" / "outgoing").glob("*.eml"))
    message = message_from_bytes(letter.read_bytes(), policy=policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    text = " ".join(str(body.get_content()).split())
    assert "We are sorry that this letter comes so late" in text
    assert "now overdue by" in text
    assert "m.okafor@gmail.com" == message["To"].addresses[0].addr_spec


def test_history_opens_cases_held_to_confirm_until_a_person_confirms_them(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    runner.invoke(app, ["ingest", "--history", str(_export(tmp_path))], env=env)
    before = json.loads(runner.invoke(app, ["cases", "list", "--json"], env=env).output)
    confirmed = runner.invoke(app, ["cases", "confirm", "--all"], env=env)
    after = json.loads(runner.invoke(app, ["cases", "list", "--json"], env=env).output)

    assert 2 == len(before)
    assert {"to confirm"} == {case["hold"] for case in before}
    assert "Confirmed 2 cases." in confirmed.output
    assert {None} == {case["hold"] for case in after}
    assert [] == list((tmp_path / "data" / "outgoing").glob("*.eml"))


def test_a_files_arrival_is_its_latest_received_header_else_date_else_file_time(
    tmp_path: Path,
) -> None:
    raw = (FIXTURES / "new_request_plain_foia.eml").read_bytes()
    no_received = b"".join(
        line for line in raw.splitlines(keepends=True)
        if not line.startswith((b"Received", b"\t", b" ")))
    bare = tmp_path / "bare.eml"
    bare.write_bytes(b"From: a@example.com\nSubject: hello\n\nHello\n")
    [from_file] = iter_paths([bare])

    assert ("2026-01-12T09:14:07+00:00", "its most recent Received header") == (
        arrival(raw, from_file.arrived_at)[0].isoformat(), arrival(raw, from_file.arrived_at)[1])
    assert "its Date header" in arrival(no_received, from_file.arrived_at)[1]
    assert "the file's time" in arrival(bare.read_bytes(), from_file.arrived_at)[1]


def test_the_late_and_due_soon_wording_renders_in_both_parts() -> None:
    from dataclasses import replace
    from datetime import date

    from foi_mailbot.deadlines.laws import Law
    from foi_mailbot.outbound.render import AckContext, make_environment, render_pair

    base = AckContext(organisation="Example Council", reference="IC-000123-N1W5", law=Law.FOIA,
                      law_name="the Freedom of Information Act 2000", applicant_name="A. Sample",
                      subject="Bins", received=date(2026, 1, 5), due=date(2026, 2, 2))
    env = make_environment(None)

    on_time = render_pair(env, "acknowledgement/new_request", base)
    late = render_pair(env, "acknowledgement/new_request",
                       replace(base, lateness="late", working_days_late=1))
    soon = render_pair(env, "acknowledgement/new_request",
                       replace(base, lateness="due_soon", working_days_left=4))

    assert "sorry" not in on_time.text
    assert "overdue by 1 working day." in " ".join(late.text.split())
    assert "overdue by 1 working day." in " ".join(late.html.split())
    assert "due soon, within 4 working days." in " ".join(soon.text.split())
