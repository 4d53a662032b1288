"""Answering the daily summary of set-aside mail, through a real Dovecot and a real SMTP server:
a person replies with a line per message (its token and a command) above the quoted summary;
each message named is settled once and confirmed, and the quoted summary, which names every
message, settles nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage
from foi_mailbot.triage.items import open_items
from tests.integration.harness import MONDAY, Harness, body_text, fixture_mail, running
from tests.integration.triage_mail import (
    AUTHSERV_ID,
    STAFF,
    TEAM,
    confirmations_to,
    notices_to_team,
    reply_in_sent,
    reply_to_summary,
    summaries_to_team,
    sweep,
    token_of,
    tokens_in_summary,
)
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = pytest.mark.dovecot

TUESDAY = MONDAY + timedelta(days=1)
INVOICE = "accounts@northshire-print.co.uk"
SEO = "rahul@rankfirst-digital.co"
POTHOLE = "steverigby@sky.com"


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings], dovecot: Dovecot, smtp_sink: SmtpSink, db_url: str,
) -> Iterator[Harness]:
    """A daemon on Dovecot and the SMTP sink, its clock at Monday 12 January 2026, believing
    the DMARC verdicts our own mail server writes."""
    with running(make_settings, dovecot, smtp_sink, db_url, authserv_id=AUTHSERV_ID) as h:
        yield h


def _set_aside_monday(h: Harness) -> dict[str, str]:
    """An invoice, an SEO pitch and a pothole report arrive on Monday, all set aside as not
    FOI; the sweep an hour later sends one summary and no notice. Each one's token, by sender."""
    for fixture in ("not_foi_invoice.eml", "not_foi_marketing_seo.eml",
                    "not_foi_pothole_report.eml"):
        h.deliver(fixture_mail(fixture), at=MONDAY)
    h.cycle()
    sweep(h, MONDAY + timedelta(hours=1))
    (summary,) = summaries_to_team(h)
    assert [] == notices_to_team(h)
    tokens = tokens_in_summary(summary)
    assert {INVOICE, SEO, POTHOLE} == set(tokens)
    return tokens


def _open_senders(h: Harness) -> set[str]:
    with session_scope(h.app.factory) as session:
        return {item.sender for item in open_items(session)}


def _mail_from(h: Harness, sender: str) -> InboundMessage:
    with session_scope(h.app.factory) as session:
        row = session.scalars(select(InboundMessage).where(
            InboundMessage.from_email == sender)).one()
        session.expunge(row)
        return row


def _cases(h: Harness) -> int:
    with session_scope(h.app.factory) as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def test_a_reply_to_the_summary_settles_each_message_it_names_once_and_nothing_it_quotes(
    harness: Harness,
) -> None:
    """Filed in Sent: a line for the invoice, one for the SEO pitch in the subject tag's form,
    and the invoice named again with `new`. The invoice is set aside as not FOI (its first line
    only: no case opens), the pitch ignored; the pothole report, named only in the quoted
    summary, stays open. One answer lists both with their undo lines; `undo` answers to it."""
    h = harness
    tokens = _set_aside_monday(h)
    (summary,) = summaries_to_team(h)
    said = body_text(summary)
    assert f"[FOI triage {tokens[INVOICE]}] not foi" in said  # the other form that works

    reply_to_summary(h, summary, [f"{tokens[INVOICE]} not foi",
                                  f"[FOI triage {tokens[SEO]}] ignore",
                                  f"{tokens[INVOICE]} new"], TUESDAY)

    assert {POTHOLE} == _open_senders(h)
    invoice, seo = _mail_from(h, INVOICE), _mail_from(h, SEO)
    assert "not an FOI request" in (invoice.effect or "")
    assert "nothing to do" in (seo.effect or "")
    assert 0 == _cases(h)
    (answer,) = confirmations_to(h, TEAM)
    text = body_text(answer)
    assert "2 items named: 2 done" in text
    assert f"undo {tokens[INVOICE]}" in text and f"undo {tokens[SEO]}" in text
    assert f"{tokens[INVOICE]} new" in text.split("Named again", 1)[1]
    assert tokens[POTHOLE] not in text

    reply_in_sent(h, answer, f"undo {tokens[INVOICE]}", TUESDAY + timedelta(hours=1))

    assert {POTHOLE, INVOICE} == _open_senders(h)
    undone = confirmations_to(h, TEAM)[-1]
    assert "undone" in body_text(undone) and token_of(undone) != tokens[INVOICE]


def test_a_colleague_s_html_reply_to_the_summary_is_applied_only_when_our_server_vouches(
    harness: Harness,
) -> None:
    """From Jane's own inbox, in HTML with the summary quoted below: while our server says her
    DMARC failed, nothing is applied and the reply waits for a person; with a pass, both lines
    settle their messages and Jane gets one answer."""
    h = harness
    tokens = _set_aside_monday(h)
    (summary,) = summaries_to_team(h)
    lines = [f"[FOI triage {tokens[INVOICE]}] not foi", f"{tokens[POTHOLE]}: not foi"]

    reply_to_summary(h, summary, lines, TUESDAY, dmarc="fail")

    assert {INVOICE, SEO, POTHOLE, STAFF} == _open_senders(h)
    assert [] == confirmations_to(h, STAFF)

    reply_to_summary(h, summary, lines, TUESDAY + timedelta(hours=1), dmarc="pass")

    assert {SEO, STAFF} == _open_senders(h)
    assert "not_foi" == _mail_from(h, POTHOLE).kind
    (answer,) = confirmations_to(h, STAFF)
    assert "2 items named: 2 done" in body_text(answer)
    assert [] == confirmations_to(h, TEAM)
