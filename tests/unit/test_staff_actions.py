"""What staff mail does to a case: real staff emails in, kind, outcome, sections and dates out."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foi_mailbot.cases.lifecycle import Event, State
from foi_mailbot.cases.staff_actions import (
    ActionKind,
    Outcome,
    ReviewOutcome,
    StaffAction,
    cited_sections,
    event_for,
    infer_staff_action,
)
from foi_mailbot.clock import local_date
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.parsed import Address, ParsedMail

FIXTURES = Path(__file__).parent.parent / "fixtures" / "staff_actions"
K, Out, R = ActionKind, Outcome, ReviewOutcome


class Expected(NamedTuple):
    kind: ActionKind
    outcome: Outcome | None = None
    sections: tuple[str, ...] = ()
    new_due: date | None = None
    extension_days: int | None = None
    review_outcome: ReviewOutcome | None = None


EXPECTED: dict[str, Expected] = {
    "acknowledge_manual_receipt": Expected(K.ACKNOWLEDGE),
    "acknowledge_thanks_and_due_date": Expected(K.ACKNOWLEDGE),
    "clarify_eir_regulation_9": Expected(K.CLARIFY),
    "clarify_question_quoting_request": Expected(K.CLARIFY),
    "clarify_section_1_3_identify_and_locate": Expected(K.CLARIFY),
    "close_no_clarification_received": Expected(K.CLOSE),
    "close_withdrawn_by_applicant": Expected(K.CLOSE, Out.WITHDRAWN),
    "extend_eir_regulation_7_complex_voluminous": Expected(
        K.EXTEND, new_due=date(2026, 3, 2), extension_days=20
    ),
    "extend_further_working_days_no_date": Expected(K.EXTEND, extension_days=20),
    "extend_public_interest_with_date": Expected(
        K.EXTEND, sections=("section 43(2)",), new_due=date(2026, 2, 13), extension_days=20
    ),
    "extend_s17_notice_iso_date": Expected(
        K.EXTEND, sections=("section 36(2)(b)(ii)", "section 43(2)"), new_due=date(2026, 2, 20)
    ),
    "fees_notice_section_9": Expected(K.FEES),
    "fees_paid_payment_received_quoting_notice": Expected(K.PAID),
    "other_progress_update": Expected(K.HOLDING),
    "reopen_after_decision_notice": Expected(K.REOPEN),
    "respond_after_extension_no_new_date": Expected(K.RESPOND, Out.INFORMATION_PROVIDED),
    "respond_eir_exceptions_regulations": Expected(
        K.RESPOND,
        Out.PARTLY_PROVIDED,
        ("regulation 12(5)(e)", "regulation 13", "regulation 12(4)(d)"),
    ),
    "respond_information_provided_attached": Expected(K.RESPOND, Out.INFORMATION_PROVIDED),
    "respond_multipart_html_provided": Expected(K.RESPOND, Out.INFORMATION_PROVIDED),
    "respond_ncnd_s31_s40_5": Expected(
        K.RESPOND, Out.NEITHER_CONFIRM_NOR_DENY, ("section 31(3)", "section 40(5)")
    ),
    "respond_not_held": Expected(K.RESPOND, Out.NOT_HELD),
    "respond_partly_s40_redacted": Expected(K.RESPOND, Out.PARTLY_PROVIDED, ("section 40(2)",)),
    "respond_refused_s43_s36": Expected(
        K.RESPOND, Out.REFUSED, ("section 43(2)", "section 36(2)(c)")
    ),
    "respond_s12_cost_limit": Expected(K.RESPOND, Out.REFUSED, ("section 12(1)",)),
    "respond_vexatious_s14_quoted_printable_outlook_history": Expected(
        K.RESPOND, Out.REFUSED, ("section 14(1)",)
    ),
    "review_overturned_information_released": Expected(
        K.REVIEW_OUTCOME, sections=("section 41",), review_outcome=R.OVERTURNED
    ),
    "review_partially_upheld": Expected(
        K.REVIEW_OUTCOME, sections=("section 40(2)",), review_outcome=R.PARTLY
    ),
    "review_upheld": Expected(
        K.REVIEW_OUTCOME, sections=("section 43(2)",), review_outcome=R.UPHELD
    ),
    "tag_acknowledge_over_clarify_text": Expected(K.ACKNOWLEDGE),
    "tag_clarify_wins_over_response_text": Expected(K.CLARIFY),
    "tag_close_withdrawn": Expected(K.CLOSE, Out.WITHDRAWN),
    "tag_extend_past_date_falls_back_to_text": Expected(K.EXTEND, new_due=date(2026, 2, 20)),
    "tag_extend_with_date": Expected(K.EXTEND, new_due=date(2026, 2, 16)),
    "tag_extend_working_days": Expected(K.EXTEND, extension_days=20),
    "tag_fees": Expected(K.FEES),
    "tag_paid_uppercase_at_end": Expected(K.PAID),
    "tag_reopen": Expected(K.REOPEN),
    "tag_respond_partly_mid_subject": Expected(K.RESPOND, Out.PARTLY_PROVIDED),
    "tag_respond_refused_over_attached_text": Expected(K.RESPOND, Out.REFUSED, ("section 40(2)",)),
    "tag_review_outcome_overturned_wins_over_uphold_text": Expected(
        K.REVIEW_OUTCOME, review_outcome=R.OVERTURNED
    ),
    "tag_unknown_bracket_ignored": Expected(K.CLARIFY),
}


def _load(name: str) -> ParsedMail:
    return parse((FIXTURES / f"{name}.eml").read_bytes())


def _infer(mail: ParsedMail) -> StaffAction:
    # Each fixture is read on the day it was sent, as the daemon would.
    assert mail.date is not None
    return infer_staff_action(mail, today=local_date(mail.date))


def _mail(subject: str, body: str, *, quoted: str = "") -> ParsedMail:
    return ParsedMail(
        message_id="<t@example.gov.uk>",
        subject=subject,
        from_addr=Address("Jane Smith", "jane.smith@example.gov.uk"),
        text=body + quoted,
        new_text=body,
    )


TODAY = date(2026, 1, 12)


def test_every_fixture_has_an_expectation_and_comes_from_staff() -> None:
    """The fixture folder and the table agree, and every message is from a staff address."""

    names = {p.stem for p in FIXTURES.glob("*.eml")}

    assert set(EXPECTED) == names
    assert len(names) >= 25
    senders = {mail.from_addr for mail in map(_load, names)}

    assert {Address("Jane Smith", "jane.smith@example.gov.uk")} == senders


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_staff_email_is_read_as_what_it_is(name: str) -> None:
    """Kind, outcome, cited sections, new due date and review outcome match the fixture's name."""

    action = _infer(_load(name))

    assert EXPECTED[name] == Expected(
        action.kind,
        action.outcome,
        action.sections,
        action.new_due,
        action.extension_days,
        action.review_outcome,
    )
    assert action.reasons


@pytest.mark.parametrize(
    "name",
    [
        "clarify_question_quoting_request",
        "fees_paid_payment_received_quoting_notice",
        "respond_not_held",
        "close_no_clarification_received",
        "other_progress_update",
        "respond_vexatious_s14_quoted_printable_outlook_history",
        "acknowledge_manual_receipt",
    ],
)
def test_quoted_history_is_ignored_even_when_parsing_could_not_split_it(name: str) -> None:
    """With new_text empty the full body is read, and the quoted request still changes nothing."""

    mail = _load(name)
    unsplit = dataclasses.replace(mail, new_text="")

    assert _infer(mail) == _infer(unsplit)


def test_reasons_name_the_phrase_that_decided() -> None:
    """An untagged message says which words decided it and where the due date came from."""

    action = _infer(_load("extend_public_interest_with_date"))

    assert (
        '"section 10(3)" in the new text',
        'new due date 2026-02-13 from "13th february 2026"',
        'extension of 20 working days from "further 20 working days"',
    ) == action.reasons
    assert action.tag is None


@pytest.mark.parametrize(
    ("subject", "body", "kind"),
    [
        ("[clarify] Re: IC-000001-A1B2", "The information you requested is attached.", K.CLARIFY),
        ("[extend] Re: x", "We do not hold this information.", K.EXTEND),
        ("[fees] Re: x", "We have received your payment, thank you.", K.FEES),
        ("[paid] Re: x", "This email is a fees notice under section 9.", K.PAID),
        ("[respond] Re: x", "Could you please clarify your request?", K.RESPOND),
        ("[close] Re: x", "We have reopened your request.", K.CLOSE),
        ("[reopen] Re: x", "We have now closed your request.", K.REOPEN),
        ("[review-outcome] Re: x", "We need more time.", K.REVIEW_OUTCOME),
        ("[ack] Re: x", "This is our refusal notice.", K.ACKNOWLEDGE),
        ("Re: x [Review Outcome: upheld]", "Please clarify.", K.REVIEW_OUTCOME),
        ("RE: [OFFICIAL] [EXTEND 2026-02-02] x", "Please find attached.", K.EXTEND),
    ],
)
def test_a_subject_tag_wins_over_contrary_text(subject: str, body: str, kind: ActionKind) -> None:
    """Whatever the body says, the tag decides the kind, and the reasons name the tag."""

    action = infer_staff_action(_mail(subject, body), today=TODAY)

    assert kind == action.kind
    assert action.reasons[0].startswith("subject tag ")
    assert action.tag is not None


@pytest.mark.parametrize(
    ("tag", "outcome"),
    [
        ("[respond: refused]", Out.REFUSED),
        ("[respond:not held]", Out.NOT_HELD),
        ("[respond not-held]", Out.NOT_HELD),
        ("[Respond: NCND]", Out.NEITHER_CONFIRM_NOR_DENY),
        ("[respond: provided]", Out.INFORMATION_PROVIDED),
        ("[respond: partial]", Out.PARTLY_PROVIDED),
    ],
)
def test_a_respond_tag_can_state_the_outcome(tag: str, outcome: Outcome) -> None:
    """The outcome given in the tag beats what the text suggests."""

    mail = _mail(f"{tag} Re: IC-000001-A1B2", "Please find attached the requested information.")

    assert outcome == infer_staff_action(mail, today=TODAY).outcome


@pytest.mark.parametrize(
    ("tag", "review"),
    [
        ("[review-outcome: upheld]", R.UPHELD),
        ("[review_outcome overturned]", R.OVERTURNED),
        ("[review outcome: partly upheld]", R.PARTLY),
    ],
)
def test_a_review_outcome_tag_can_state_the_decision(tag: str, review: ReviewOutcome) -> None:
    """Spellings with a hyphen, underscore or space all name the review outcome tag."""

    action = infer_staff_action(_mail(tag, "Outcome attached."), today=TODAY)

    assert (K.REVIEW_OUTCOME, review) == (action.kind, action.review_outcome)


@pytest.mark.parametrize(
    ("tag", "new_due", "days"),
    [
        ("[extend 2026-01-15]", date(2026, 1, 15), None),
        ("[extend 15/01/2026]", date(2026, 1, 15), None),
        ("[extend: 15 January 2026]", date(2026, 1, 15), None),
        ("[extend 20wd]", None, 20),
        ("[extend 2025-12-15]", None, None),
        ("[extend soon]", None, None),
    ],
)
def test_an_extend_tag_carries_a_future_date_or_a_length(
    tag: str, new_due: date | None, days: int | None
) -> None:
    """A date before today or an argument we cannot read is ignored, with a reason."""

    action = infer_staff_action(_mail(tag, "Letter attached."), today=TODAY)

    assert (new_due, days) == (action.new_due, action.extension_days)
    assert len(action.reasons) == 2


def test_an_unknown_argument_on_a_plain_tag_is_noted_not_fatal() -> None:
    """`[fees £20]` is still a fees tag; the argument is recorded as ignored."""

    action = infer_staff_action(_mail("[fees £20] Re: x", ""), today=TODAY)

    assert K.FEES == action.kind
    assert 'tag argument "£20" ignored' in action.reasons


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("We will now respond by 15 January 2026.", date(2026, 1, 15)),
        ("We will now respond by 15th January 2026.", date(2026, 1, 15)),
        ("We will now respond by Thursday, 15th of January 2026.", date(2026, 1, 15)),
        ("We will now respond by 15/01/2026.", date(2026, 1, 15)),
        ("We will now respond by 15.01.26.", date(2026, 1, 15)),
        ("We will now respond by 2026-01-15.", date(2026, 1, 15)),
        ("We will now respond by 15 Jan 2026.", date(2026, 1, 15)),
        ("We will now respond by 3 February.", date(2026, 2, 3)),
        ("We will now respond by 5 January.", date(2027, 1, 5)),
        ("We will now respond by 15 January 2025.", None),
        ("We will now respond by 30 February 2026.", None),
    ],
)
def test_the_new_due_date_is_read_in_uk_formats_and_never_in_the_past(
    sentence: str, expected: date | None
) -> None:
    """Day-month-year in words or digits, ISO dates, and a yearless date's next occurrence."""

    mail = _mail("Re: IC-000001-A1B2", f"Under section 10(3) we need more time. {sentence}")

    assert expected == infer_staff_action(mail, today=TODAY).new_due


def test_a_past_date_and_an_unintroduced_date_are_not_taken_as_the_new_due_date() -> None:
    """Only a future date introduced by 'by', 'until'... or the only future date counts."""

    body = (
        "Your request of 3 December 2025 needs more time under section 10(3). We met on "
        "20 January 2026 and again on 22 January 2026."
    )

    assert infer_staff_action(_mail("Re: x", body), today=TODAY).new_due is None


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("We have not yet received your payment of £18.40.", K.NONE),
        ("If we do not hear from you, we will treat your request as withdrawn.", K.NONE),
        (
            "Could you clarify the dates? If not, we will treat your request as withdrawn.",
            K.CLARIFY,
        ),
        ("If we need more time to consider the public interest, we will tell you.", K.NONE),
        (
            "Where the original decision is upheld after internal review, you may go to the ICO.",
            K.NONE,
        ),
        ("Thank you for your request. We will respond within 20 working days.", K.ACKNOWLEDGE),
        ("We need more time. Please find attached a partial response.", K.EXTEND),
        (
            "Under section 10(3) we took longer. Please find attached the requested information.",
            K.RESPOND,
        ),
        (
            "Please find attached the information. Could you clarify what you meant by Q3?",
            K.CLARIFY,
        ),
        ("Payment received with thanks, as set out in our fees notice.", K.PAID),
    ],
)
def test_denials_conditions_and_mixed_messages_are_read_in_order(
    body: str, kind: ActionKind
) -> None:
    """A denied or conditional phrase does not count; mixed messages follow the documented order."""

    assert kind == infer_staff_action(_mail("Re: IC-000001-A1B2", body), today=TODAY).kind


def test_quoted_lines_in_the_new_text_are_skipped() -> None:
    """'>' lines left inside the new text are the applicant's words, not ours."""

    body = "Noted, thank you.\n> Could you clarify why my fee of £10 was not refunded?\n"

    assert K.NONE == infer_staff_action(_mail("Re: x", body), today=TODAY).kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Section 43(2) and s.36(2)(c) apply.", ("section 43(2)", "section 36(2)(c)")),
        ("exempt under S. 43 (2) ( b )", ("section 43(2)(b)",)),
        (
            "sections 40(2) and 41, and ss.21, 22 & 31(1)(a)",
            ("section 40(2)", "section 41", "section 21", "section 22", "section 31(1)(a)"),
        ),
        ("section 40 and then section 40(2)", ("section 40(2)",)),
        ("s43 and section 22A", ("section 43", "section 22A")),
        ("section 40(5B)(a)(i)", ("section 40(5B)(a)(i)",)),
        (
            "regulation 12(5)(e), reg 13 and reg. 12(4)(b)",
            ("regulation 12(5)(e)", "regulation 13", "regulation 12(4)(b)"),
        ),
        ("regulations 12(4)(a) and 13", ("regulation 12(4)(a)", "regulation 13")),
        ("section 1(3), section 10(3), s.17(2), regulation 7 and regulation 9", ()),
        ("section 43 and 12 months later; it's 12 pages; chapters 40", ("section 43",)),
        ("Regulations 2004 and the Act 2000", ()),
    ],
)
def test_cited_sections_are_normalised(text: str, expected: tuple[str, ...]) -> None:
    """Exemptions and exceptions are kept in first-mention order; procedural sections are not."""

    assert expected == cited_sections(text)


@pytest.mark.parametrize(
    ("kind", "state", "event"),
    [
        (K.CLARIFY, State.ACKNOWLEDGED, Event.CLARIFICATION_SOUGHT),
        (K.EXTEND, State.ACKNOWLEDGED, Event.EXTENDED),
        (K.FEES, State.ACKNOWLEDGED, Event.FEES_NOTICE),
        (K.PAID, State.ON_HOLD_FEES, Event.FEES_PAID),
        (K.RESPOND, State.EXTENDED, Event.RESPONDED),
        (K.CLOSE, State.ACKNOWLEDGED, Event.CLOSED),
        (K.CLOSE, State.AWAITING_CLARIFICATION, Event.CLOSED_NO_CLARIFICATION),
        (K.REOPEN, State.CLOSED, Event.REOPENED),
        (K.REVIEW_OUTCOME, State.ACKNOWLEDGED, Event.REVIEW_OUTCOME),
        (K.ACKNOWLEDGE, State.REQUESTED, Event.ACKNOWLEDGED),
        (K.NONE, State.RESPONDED, Event.CORRESPONDENCE),
    ],
)
def test_each_action_maps_to_a_lifecycle_event(
    kind: ActionKind, state: State, event: Event
) -> None:
    """A close while awaiting clarification is the closure for want of clarification."""

    assert event == event_for(StaffAction(kind=kind, reasons=("test",)), state)


@settings(max_examples=150, deadline=None)
@given(subject=st.text(max_size=80), body=st.text(max_size=600))
def test_any_text_yields_an_action_with_reasons(subject: str, body: str) -> None:
    """Inference never raises, whatever the subject and body hold."""

    action = infer_staff_action(_mail(subject, body), today=TODAY)

    assert action.reasons
