"""Corrections as labelled data: a person corrects what staff mail was read as doing, by
command; the correction is applied where it can be, exported, counted in the digest, and the
management report's outcomes follow the readings and their corrections."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from foi_mailbot.bootstrap import App, build
from foi_mailbot.cli import app as cli
from foi_mailbot.clock import FixedClock
from foi_mailbot.jobs.digest import build_digest, render_digest
from foi_mailbot.jobs.report import build_report
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage
from tests.integration.harness import feed, fixture_mail

MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
WEDNESDAY = MONDAY + timedelta(days=2)


def _feed(app: App, raw: bytes, key: str, *, at: datetime, sent: bool = False) -> InboundMessage:
    return feed(app, raw, key, at=at, sent=sent)


def _case_with_staff_mail(app: App, staff_fixture: str) -> tuple[Case, InboundMessage]:
    request = _feed(app, fixture_mail("new_request_plain_foia.eml"), "req", at=MONDAY)
    with session_scope(app.factory) as session:
        case = session.get(Case, request.case_id)
        assert case is not None
        reference = case.reference
    staff = _feed(app, fixture_mail(f"staff_corpus/{staff_fixture}",
                                    From="Example Council FOI <foi@example.gov.uk>",
                                    Subject=f"RE: {reference}", Message_ID="<s1@example.gov.uk>"),
                  "staff", at=WEDNESDAY, sent=True)
    return _case(app, reference), staff


def _case(app: App, reference: str) -> Case:
    with session_scope(app.factory) as session:
        case = session.query(Case).filter_by(reference=reference).one()
        session.expunge(case)
        return case


def _env(settings: Settings) -> dict[str, str]:
    assert settings.database.url is not None
    return {"FOI_MAILBOT_DATABASE__URL": settings.database.url.get_secret_value(),
            "FOI_MAILBOT_ORGANISATION__REFERENCE_SECRET": "test-secret",
            "FOI_MAILBOT_ORGANISATION__STAFF_DOMAINS": '["example.gov.uk"]'}


def test_staff_mail_corrected_by_command_is_applied_and_exported(settings: Settings) -> None:
    app = build(settings, clock=FixedClock(WEDNESDAY))
    case, staff = _case_with_staff_mail(app, "none_note_to_colleague.eml")
    assert staff.needs_person and "acknowledged" == case.status

    corrected = CliRunner().invoke(cli, ["cases", "correct", str(staff.id), "--action",
                                         "clarify", "--by", "priya.nair"], env=_env(settings))
    exported = CliRunner().invoke(cli, ["corrections", "export", "--format", "jsonl"],
                                  env=_env(settings))

    assert 0 == corrected.exit_code, corrected.output
    after = _case(app, case.reference)
    assert "awaiting_clarification" == after.status
    assert after.due_on is None
    assert 0 == exported.exit_code, exported.output
    rows = [json.loads(line) for line in exported.output.splitlines()]
    assert 1 == len(rows)
    assert (staff.id, case.reference, "staff_action", "priya.nair", "cli") == (
        rows[0]["message"], rows[0]["case"], rows[0]["kind"], rows[0]["by"], rows[0]["via"])
    assert "none" == rows[0]["decided"]["action"]
    assert {"action": "clarify", "outcome": None} == rows[0]["said"]
    with session_scope(app.factory) as session:
        row = session.get(InboundMessage, staff.id)
        assert row is not None and row.resolved_at is not None
    app.close()


def test_a_wrong_action_or_outcome_is_one_sentence_and_exit_2(settings: Settings) -> None:
    result = CliRunner().invoke(cli, ["cases", "correct", "1", "--action", "respond",
                                      "--outcome", "upheld"], env=_env(settings))

    assert 2 == result.exit_code
    assert "'upheld' is not an outcome of 'respond'" in result.output


def test_the_report_takes_outcomes_from_the_readings_and_their_corrections(
    settings: Settings,
) -> None:
    app = build(settings, clock=FixedClock(WEDNESDAY))
    case, staff = _case_with_staff_mail(app, "respond_attached_only_no_outcome.eml")
    assert ("responded", None) == (case.status, case.outcome)  # "please find attached" alone

    result = CliRunner().invoke(cli, ["cases", "correct", str(staff.id), "--action", "respond",
                                      "--outcome", "refused"], env=_env(settings))

    assert 0 == result.exit_code, result.output
    with session_scope(app.factory) as session:
        report = build_report(session, app.services.calendars, start=None, end=None,
                              today=date(2026, 1, 14))
    row = next(r for r in report.rows if r.reference == case.reference)
    assert "refused" == row.decision
    app.close()


def test_the_digest_counts_the_weeks_decisions_corrected_by_kind(settings: Settings) -> None:
    app = build(settings, clock=FixedClock(WEDNESDAY))
    _case, staff = _case_with_staff_mail(app, "none_note_to_colleague.eml")
    CliRunner().invoke(cli, ["cases", "correct", str(staff.id), "--action", "holding"],
                       env=_env(settings))

    with session_scope(app.factory) as session:
        digest = build_digest(session, app.settings, app.services.calendars,
                              MONDAY + timedelta(days=7), anchor=date(2026, 1, 19))
    text, html = render_digest(app.services.acks.env, digest)

    by_kind = {c.kind: (c.corrected, c.decided) for c in digest.corrections}
    assert (1, 1) == by_kind["staff_action"]
    assert (0, 2) == by_kind["kind"]
    assert "1 of 1 corrected" in text
    assert "Automatic decisions corrected by a person" in html
    app.close()


def test_a_reading_only_proposed_changes_nothing_until_a_person_confirms_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the staff rule says propose (`staff.may_apply`), the case waits for a person;
    `cases correct` with the proposed action applies it."""
    monkeypatch.setattr("foi_mailbot.cases.staff.may_apply", lambda _flags: False)
    app = build(settings, clock=FixedClock(WEDNESDAY))
    case, staff = _case_with_staff_mail(app, "clarify_which_station_road.eml")
    assert ("acknowledged", True) == (case.status, staff.needs_person)
    assert "confirm the proposed clarify" in (staff.attention_reason or "")

    result = CliRunner().invoke(cli, ["cases", "correct", str(staff.id), "--action", "clarify"],
                                env=_env(settings))

    assert 0 == result.exit_code, result.output
    assert "awaiting_clarification" == _case(app, case.reference).status
    app.close()
