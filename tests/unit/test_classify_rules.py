"""Each classification rule on its own, and the order they run in, on real .eml files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from foi_mailbot.cases.reference import ReferenceCodec
from foi_mailbot.classify import GUARDS, READERS, RULES, classify
from foi_mailbot.classify.base import ClassifyContext, Kind, Rule, Verdict
from foi_mailbot.classify.correspondence import CaseCorrespondence, StaffSender
from foi_mailbot.classify.intake import CopiedOnly, NewRequest, NotFoi
from foi_mailbot.classify.loop_guards import (
    AutoReplyHeaders,
    AutoSubmitted,
    BulkPrecedence,
    DaemonSender,
    DeliveryReport,
    ListMail,
    NullReturnPath,
    OutOfOfficeText,
    OwnMail,
)
from foi_mailbot.classify.review import ReviewRequest
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.folding import fold_mail
from foi_mailbot.parsing.parsed import Address, ParsedMail

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CODEC = ReferenceCodec("IC", "test-secret")
CASE = CODEC.format(123)


def load(name: str) -> ParsedMail:
    return parse((FIXTURES / name).read_bytes())


def context(**overrides: Any) -> ClassifyContext:
    """The corpus context: our mailbox, the staff domain and the real reference codec."""
    settings: dict[str, Any] = {
        "mailbox_addresses": frozenset({"foi@example.gov.uk"}),
        "staff_domains": frozenset({"example.gov.uk"}),
        "find_references": CODEC.find,
    }
    settings.update(overrides)
    return ClassifyContext(**settings)


def with_headers(mail: ParsedMail, **headers: str) -> ParsedMail:
    """The same message with extra headers (names use _ for -)."""
    extra = {name.replace("_", "-").lower(): value for name, value in headers.items()}
    return replace(mail, headers={**mail.headers, **extra})


def check(rule: Rule, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
    """A reading rule's verdict on a message, its texts folded as `classify` folds them."""
    return rule.check(mail, fold_mail(mail), ctx)


PLAIN = "new_request_plain_foia.eml"


# The table itself


def test_rules_run_loop_guards_first_and_the_fallback_last() -> None:
    """The order reads top to bottom: loop guards, staff, case mail, intake, new requests, and
    last the rule for mail that asks for nothing."""
    names = [rule.name for rule in RULES]

    assert "own_mail" == names[0]
    assert ["new_request", "nothing_asked"] == names[-2:]
    assert names.index("regulator_mail") < names.index("case_correspondence")
    assert names.index("copied_only") < names.index("follow_up") < names.index("not_foi")
    assert names.index("out_of_office_text") < names.index("staff_sender")
    assert names.index("review_request") < names.index("case_correspondence")
    assert names.index("case_correspondence") < names.index("copied_only")
    assert len(names) == len(set(names))


def test_the_guards_decide_before_any_text_is_folded_for_the_reading_rules() -> None:
    """Loop guards, staff and regulator mail are told from headers, the sender and plain text;
    the texts are folded once, for the rules after them."""
    assert RULES == (*GUARDS, *READERS)
    assert [g.name for g in GUARDS][-2:] == ["staff_sender", "regulator_mail"]
    assert READERS[0].name == "review_request"


def test_classification_records_the_rules_passed_over() -> None:
    """Misses list every rule before the deciding one, in order."""
    result = classify(load(PLAIN), context())

    assert "new_request" == result.rule
    assert [r.name for r in RULES[:-2]] == list(result.misses)


# Loop guards


def test_own_x_loop_marks_our_mail_coming_back() -> None:
    """X-Loop naming our mailbox is our own automatic mail; the reason names X-Loop."""
    verdict = OwnMail().check(load("auto_reply_own_ack_looped.eml"), context())

    assert verdict is not None
    assert Kind.AUTO_REPLY == verdict.kind
    assert "X-Loop" in verdict.reasons[0]


def test_person_writing_from_our_mailbox_is_staff() -> None:
    """Mail from our own address without automatic headers is a person using the mailbox."""
    verdict = OwnMail().check(load("staff_sent_from_shared_mailbox.eml"), context())

    assert verdict is not None
    assert Kind.STAFF == verdict.kind


def test_sent_folder_copies_are_left_to_the_staff_rule() -> None:
    """Our Sent folder is staff mail, not a loop."""
    mail = load("staff_sent_from_shared_mailbox.eml")

    assert OwnMail().check(mail, context(from_sent_folder=True)) is None
    assert "staff_sender" == classify(mail, context(from_sent_folder=True)).rule


def test_auto_submitted_other_than_no_is_an_auto_reply() -> None:
    """RFC 3834: any Auto-Submitted value but "no" is automatic; the reason quotes it."""
    mail = load(PLAIN)
    verdict = AutoSubmitted().check(with_headers(mail, auto_submitted="auto-replied"), context())

    assert verdict is not None
    assert "Auto-Submitted: auto-replied" in verdict.reasons[0]
    assert AutoSubmitted().check(with_headers(mail, auto_submitted="no"), context()) is None


@pytest.mark.parametrize(
    ("header", "value", "shown"),
    [
        ("x_autoreply", "yes", "X-Autoreply"),
        ("x_autorespond", "", "X-Autorespond"),
        ("x_auto_response_suppress", "DR, OOF, AutoReply", "X-Auto-Response-Suppress"),
        ("x_auto_response_suppress", "All", "X-Auto-Response-Suppress"),
    ],
)
def test_auto_reply_headers_decide(header: str, value: str, shown: str) -> None:
    """Vendor auto-reply headers mark automatic mail; the reason names the header."""
    verdict = AutoReplyHeaders().check(with_headers(load(PLAIN), **{header: value}), context())

    assert verdict is not None
    assert shown in verdict.reasons[0]


def test_auto_response_suppress_for_receipts_only_is_not_an_auto_reply() -> None:
    """X-Auto-Response-Suppress without All/OOF/AutoReply does not decide."""
    mail = with_headers(load(PLAIN), x_auto_response_suppress="DR, RN, NRN")

    assert AutoReplyHeaders().check(mail, context()) is None


@pytest.mark.parametrize("value", ["bulk", "junk", "list", "auto_reply"])
def test_bulk_precedence_is_an_auto_reply(value: str) -> None:
    """Precedence bulk, junk, list and auto_reply decide; the reason quotes the value."""
    verdict = BulkPrecedence().check(with_headers(load(PLAIN), precedence=value), context())

    assert verdict is not None
    assert f"Precedence: {value}" in verdict.reasons[0]


def test_first_class_precedence_is_not_bulk() -> None:
    """Other Precedence values do not decide."""
    mail = with_headers(load(PLAIN), precedence="first-class")

    assert BulkPrecedence().check(mail, context()) is None


def test_multipart_report_is_a_delivery_report() -> None:
    """A DSN (multipart/report) is caught, and the reason names the content type."""
    verdict = DeliveryReport().check(load("auto_reply_bounce_exchange_undeliverable.eml"), context())

    assert verdict is not None
    assert "multipart/report" in verdict.reasons[0]


def test_x_failed_recipients_is_a_bounce() -> None:
    """X-Failed-Recipients marks a bounce even without a report part."""
    mail = with_headers(load(PLAIN), x_failed_recipients="someone@example.org")
    verdict = DeliveryReport().check(mail, context())

    assert verdict is not None
    assert "X-Failed-Recipients" in verdict.reasons[0]


def test_null_return_path_is_an_auto_reply() -> None:
    """Return-Path <> is the null sender; the reason quotes it."""
    verdict = NullReturnPath().check(load("auto_reply_null_return_path_ooo.eml"), context())

    assert verdict is not None
    assert "Return-Path: <>" in verdict.reasons[0]
    assert NullReturnPath().check(load(PLAIN), context()) is None


def test_mailer_daemon_sender_is_a_mail_system() -> None:
    """MAILER-DAEMON is not a person; the reason names the sender."""
    verdict = DaemonSender().check(load("auto_reply_bounce_qmail_plain.eml"), context())

    assert verdict is not None
    assert "mailer-daemon@mail.smallisp.net" in verdict.reasons[0]


def test_list_headers_mark_list_mail() -> None:
    """List-Id marks mailing-list mail; the reason names the header."""
    verdict = ListMail().check(load("auto_reply_list_newsletter.eml"), context())

    assert verdict is not None
    assert "List-ID" in verdict.reasons[0]


def test_out_of_office_subject_without_headers_is_an_auto_reply() -> None:
    """"Out of Office:" in the subject decides; the reason quotes the opening."""
    verdict = OutOfOfficeText().check(load("auto_reply_ooo_no_headers.eml"), context())

    assert verdict is not None
    assert "'out of office'" in verdict.reasons[0]


def test_out_of_office_body_phrase_in_a_short_message_is_an_auto_reply() -> None:
    """"I am on annual leave until" in a short message decides; the reason quotes it."""
    verdict = OutOfOfficeText().check(load("auto_reply_ooo_body_only.eml"), context())

    assert verdict is not None
    assert "'i am on annual leave'" in verdict.reasons[0]


def test_away_wording_without_a_return_date_is_a_person_writing() -> None:
    """"I am out of the office today, but ..." from a person is not an out-of-office notice."""
    text = "I am out of the office today, but to answer your question: 2023 only.\n\nSam"
    mail = replace(load(PLAIN), new_text=text, text=text)

    assert OutOfOfficeText().check(mail, context()) is None


def test_annual_leave_request_subject_is_not_out_of_office() -> None:
    """A request titled "Annual leave: ..." is not an out-of-office notice."""
    mail = replace(load(PLAIN), subject="Annual leave: days taken by staff in 2025")

    assert OutOfOfficeText().check(mail, context()) is None


def test_out_of_hours_in_a_subject_is_not_out_of_office() -> None:
    """A request about an "Out of hours" service is not an out-of-office notice."""
    assert OutOfOfficeText().check(load("new_request_out_of_hours_noise_subject.eml"), context()) is None


def test_out_of_office_phrase_in_a_long_letter_does_not_decide() -> None:
    """In a long message, "I am away from the office" is the applicant's own news."""
    mail = load(PLAIN)
    long_text = "I am away from the office next week.\n" + mail.new_text * 5
    mail = replace(mail, new_text=long_text, text=long_text)

    assert OutOfOfficeText().check(mail, context()) is None


def test_extra_auto_reply_phrases_extend_the_defaults() -> None:
    """Configured phrases count like the built-in ones."""
    mail = replace(load(PLAIN), subject="Abwesenheitsnotiz: FOI")

    assert OutOfOfficeText().check(mail, context()) is None
    assert OutOfOfficeText().check(mail, context(extra_auto_reply_phrases=("abwesenheitsnotiz",)))


# Staff


def test_a_subdomain_of_a_staff_domain_is_staff_only_when_listed() -> None:
    """planning.example.gov.uk is not example.gov.uk; listed itself, it is staff."""
    mail = load("staff_subdomain_sender.eml")
    assert StaffSender().check(mail, context()) is None

    listed = replace(context(), staff_domains=frozenset({"planning.example.gov.uk"}))
    verdict = StaffSender().check(mail, listed)

    assert verdict is not None
    assert "planning.example.gov.uk" in verdict.reasons[0]


def test_mail_with_no_from_is_never_staff() -> None:
    """No usable From: not staff, whatever the lists say."""
    mail = replace(load(PLAIN), from_addr=None)
    assert StaffSender().check(mail, context()) is None


def test_lookalike_domain_is_not_staff() -> None:
    """"notexample.gov.uk" and "example.gov.uk.evil.test" are not the staff domain."""
    mail = load(PLAIN)
    for email in ("x@notexample.gov.uk", "x@example.gov.uk.evil.test"):
        assert StaffSender().check(replace(mail, from_addr=Address("X", email)), context()) is None


def test_listed_staff_address_outside_the_domain_is_staff() -> None:
    """A named staff address counts even outside the staff domain."""
    mail = load(PLAIN)
    ctx = context(staff_addresses=frozenset({"m.okafor@gmail.com"}))

    assert StaffSender().check(mail, ctx) is not None


def test_staff_forward_is_flagged_for_a_person() -> None:
    """A staff member forwarding mail is staff, flagged so a person can open a case."""
    result = classify(load("staff_internal_forward.eml"), context())

    assert Kind.STAFF == result.kind
    assert "forwarded_by_staff" in result.flags


# Review requests and case correspondence


def test_review_wording_on_a_case_thread_is_a_review_request() -> None:
    """Loose wording ("appeal") is enough on a message in a case's thread."""
    result = classify(load("review_request_appeal_wording_threaded.eml"), context(thread_case=CASE))

    assert Kind.REVIEW_REQUEST == result.kind
    assert CASE == result.reference
    assert any("'appeal'" in r for r in result.reasons)


def test_strong_review_wording_without_a_case_is_still_a_review_request() -> None:
    """"Request an internal review" decides alone; the reference is left to a person."""
    result = classify(load("review_request_no_reference_strong_phrase.eml"), context())

    assert Kind.REVIEW_REQUEST == result.kind
    assert result.reference is None


def test_loose_review_wording_without_a_case_is_a_new_request() -> None:
    """A new request about "internal reviews" and "appeals" is not a review request."""
    result = classify(load("new_request_about_internal_reviews_stats.eml"), context())

    assert Kind.NEW_REQUEST == result.kind


def test_review_wording_only_in_our_quoted_letter_is_not_a_review() -> None:
    """The review procedure quoted from our own letter does not count."""
    mail = load("clarification_quotes_review_procedure.eml")

    assert check(ReviewRequest(), mail, context(thread_case=CASE)) is None
    assert Kind.CLARIFICATION == classify(mail, context(thread_case=CASE)).kind


def test_mail_on_a_case_already_under_review_is_correspondence() -> None:
    """Asking again for a review that is under way is correspondence on the review."""
    mail = load("review_request_appeal_wording_threaded.eml")
    result = classify(mail, context(thread_case=CASE, thread_case_is_review=True))

    assert Kind.CLARIFICATION == result.kind
    assert any("already under internal review" in r for r in result.reasons)


def test_extra_review_phrases_decide_like_strong_ones() -> None:
    """A configured review phrase decides even without a case."""
    mail = replace(load(PLAIN), new_text="Please look again at my case, formally.")

    assert check(ReviewRequest(), mail, context()) is None
    assert check(ReviewRequest(), mail, context(extra_review_phrases=("look again at my case",)))


def test_thread_case_makes_correspondence_with_its_reference() -> None:
    """A message in a case's thread is correspondence on that case."""
    verdict = check(CaseCorrespondence(), load("clarification_outlook_html_reply.eml"), context(thread_case=CASE))

    assert verdict is not None
    assert Kind.CLARIFICATION == verdict.kind
    assert any(CASE in r for r in verdict.reasons)


def test_valid_reference_in_subject_makes_correspondence() -> None:
    """A correct reference in the subject links the message to that case."""
    result = classify(load("clarification_reference_in_subject.eml"), context())

    assert Kind.CLARIFICATION == result.kind
    assert CODEC.format(131) == result.reference


def test_reference_typed_with_en_dashes_in_lower_case_is_found() -> None:
    """The codec is tolerant: "ic–000140–z9m4" is reference IC-000140-Z9M4."""
    result = classify(load("clarification_reference_in_body_en_dash.eml"), context())

    assert CODEC.format(140) == result.reference


def test_mistyped_reference_never_links_a_case_and_is_flagged() -> None:
    """A reference with a wrong check suffix matches nothing and is flagged."""
    mail = replace(load(PLAIN), subject="Re: my request IC-000123-G7H9")
    result = classify(mail, context())

    assert Kind.NEW_REQUEST == result.kind
    assert result.reference is None
    assert "mistyped_reference" in result.flags
    assert any("IC-000123-G7H9" in r for r in result.reasons)


def test_mistyped_reference_in_a_threaded_reply_keeps_the_thread() -> None:
    """The thread still links the reply; the wrong reference is flagged."""
    result = classify(load("clarification_mistyped_reference_threaded.eml"), context(thread_case=CASE))

    assert Kind.CLARIFICATION == result.kind
    assert CASE == result.reference
    assert "mistyped_reference" in result.flags


# Intake


def test_mailbox_only_in_cc_is_copied() -> None:
    """Our mailbox in Cc and not in To means we were copied in."""
    verdict = check(CopiedOnly(), load("copied_councillor_correspondence.eml"), context())

    assert verdict is not None
    assert "only in Cc" in verdict.reasons[0]


def test_mailbox_in_to_and_cc_is_not_copied() -> None:
    """Addressed to us as well as copied: not copied mail."""
    mail = load("copied_councillor_correspondence.eml")
    mail = replace(mail, to=(*mail.to, Address("", "foi@example.gov.uk")))

    assert check(CopiedOnly(), mail, context()) is None


def test_subject_access_request_is_not_foi_and_flagged() -> None:
    """A request for one's own personal data is set aside with the subject_access flag."""
    result = classify(load("not_foi_subject_access_request.eml"), context())

    assert Kind.NOT_FOI == result.kind
    assert ("subject_access",) == result.flags
    assert any("'make a subject access request'" in r for r in result.reasons)


def test_marketing_without_foi_wording_is_not_foi() -> None:
    """Marketing wording decides when nothing asks for recorded information."""
    verdict = check(NotFoi(), load("not_foi_marketing_seo.eml"), context())

    assert verdict is not None
    assert "'seo services'" in verdict.reasons[0]


def test_foi_wording_vetoes_other_business() -> None:
    """A journalist's request under the Act stays a request."""
    mail = load("new_request_journalist.eml")
    mail = replace(mail, new_text=mail.new_text + "\nDeadline for comment is Friday.")

    assert check(NotFoi(), mail, context()) is None


def test_extra_not_foi_phrases_extend_the_defaults() -> None:
    """Configured phrases count like the built-in ones."""
    mail = replace(load(PLAIN), subject="Tender", new_text="Our tender submission is attached.")

    assert check(NotFoi(), mail, context()) is None
    assert check(NotFoi(), mail, context(extra_not_foi_phrases=("tender submission",)))


def test_new_request_is_foia_without_environmental_words() -> None:
    """The fallback always matches; without environmental wording the law is FOIA."""
    result = classify(load(PLAIN), context())

    assert (Kind.NEW_REQUEST, Law.FOIA) == (result.kind, result.law)


def test_environmental_request_is_eir_and_names_the_words() -> None:
    """Environmental wording puts a new request under the EIR; the reason names the words."""
    result = classify(load("new_request_wdtk_environmental_air_quality.eml"), context())

    assert Law.EIR == result.law
    assert any("'air quality'" in r and "'nitrogen dioxide'" in r for r in result.reasons)


def test_one_loose_environmental_word_is_not_enough() -> None:
    """"A waste of money" alone does not make a request environmental."""
    result = classify(load("new_request_waste_of_money_figurative.eml"), context())

    assert Law.FOIA == result.law


def test_two_loose_environmental_words_are_enough() -> None:
    """Two different loose words together ("energy", "waste") mean environmental."""
    mail = replace(load(PLAIN), new_text="How much energy does the waste depot use?")
    verdict = check(NewRequest(), mail, context())

    assert verdict is not None
    assert Law.EIR == getattr(verdict, "law", None)


def test_extra_environmental_phrases_extend_the_defaults() -> None:
    """A configured environmental phrase puts a request under the EIR."""
    mail = replace(load(PLAIN), new_text="Please send the heat network tariffs.")

    assert Law.FOIA == classify(mail, context()).law
    assert Law.EIR == classify(mail, context(extra_environmental_phrases=("heat network",))).law


def test_forwarded_request_is_read_in_full_for_the_law() -> None:
    """For a forward, the forwarded request decides the law, not just the covering note."""
    mail = load("new_request_forwarded_by_applicant.eml")
    mail = replace(mail, text=mail.text.replace("school meals", "air quality"))

    assert Law.EIR == classify(mail, context()).law


def test_noreply_sender_is_flagged_but_not_dropped() -> None:
    """A no-reply sender may be a web form: still classified, flagged for a person."""
    mail = replace(load(PLAIN), from_addr=Address("Web form", "noreply@forms.example.org"))
    result = classify(mail, context())

    assert Kind.NEW_REQUEST == result.kind
    assert "noreply_sender" in result.flags
