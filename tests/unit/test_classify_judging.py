"""The rules that judge mail as an FOI officer would, one behaviour each, on corpus messages."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from foi_mailbot.cases.reference import ReferenceCodec
from foi_mailbot.classify import classify
from foi_mailbot.classify.base import Classification, ClassifyContext, Kind
from foi_mailbot.classify.references import other_references
from foi_mailbot.classify.regulator import regulator_deadline
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.parsing import parse

CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus"
CODEC = ReferenceCodec("IC", "test-secret")
CTX = ClassifyContext(mailbox_addresses=frozenset({"foi@example.gov.uk"}),
                      staff_domains=frozenset({"example.gov.uk"}), find_references=CODEC.find)


def judge(name: str, ctx: ClassifyContext = CTX) -> Classification:
    """Classify one corpus message."""
    return classify(parse((CORPUS / name).read_bytes()), ctx)


def test_mail_that_asks_for_nothing_is_not_foi_with_its_reason() -> None:
    """A street light report asks for no recorded information."""
    result = judge("not_foi_complaint_streetlight_out.eml")

    assert Kind.NOT_FOI is result.kind
    assert "no recorded information" in " ".join(result.reasons)


def test_a_complaint_that_also_asks_a_question_is_a_request() -> None:
    """Losing a request is worse than a false case."""
    assert Kind.NEW_REQUEST is judge("new_request_complaint_with_question_potholes.eml").kind


def test_credential_phishing_is_not_foi_and_says_so() -> None:
    """'Verify your mailbox' with a sign-in link."""
    result = judge("not_foi_phishing_verify_mailbox_link.eml")

    assert Kind.NOT_FOI is result.kind
    assert "phishing" in result.flags


def test_a_reply_shaped_chaser_from_a_sender_with_an_open_case_is_correspondence() -> None:
    """'Re: Your FOI request' with no thread we know: a clarification, which case unknown."""
    ctx = replace(CTX, sender_open_cases=(CODEC.format(157),))
    result = judge("clarification_re_your_foi_request_any_update_open_case.eml", ctx)

    assert Kind.CLARIFICATION is result.kind
    assert result.reference is None
    assert "which_case" in result.flags


def test_further_to_my_request_is_a_follow_up_even_with_no_open_case_known() -> None:
    """The writer says they made a request before: never a second request."""
    assert Kind.CLARIFICATION is judge("clarification_further_to_my_request_no_thread.eml").kind


def test_a_chaser_quoting_another_systems_reference_reports_it_and_opens_nothing() -> None:
    """'Your ref: FOI/2025/0412' is found and reported; the reference of ours stays null."""
    result = judge("clarification_chaser_old_system_reference.eml")

    assert Kind.CLARIFICATION is result.kind
    assert result.reference is None
    assert "FOI/2025/0412" == result.other_references[0]


def test_a_request_to_a_director_with_our_mailbox_in_cc_is_a_request() -> None:
    """Addressed to someone at the authority and asking: not merely copied."""
    assert Kind.NEW_REQUEST is judge("new_request_cc_foi_to_director_of_housing.eml").kind


def test_thanks_to_a_director_with_our_mailbox_in_cc_is_copied() -> None:
    """Addressed to someone at the authority but asking for nothing."""
    assert Kind.COPIED is judge("copied_to_director_no_question_thanks.eml").kind


def test_an_ico_letter_names_our_case_flags_the_regulator_and_its_deadline() -> None:
    """Attached to the case it names, never a request, the deadline in the reasons."""
    result = judge("clarification_regulator_ico_investigation_letter.eml")

    assert Kind.CLARIFICATION is result.kind
    assert CODEC.format(160) == result.reference
    assert {"regulator", "regulator_deadline"} <= set(result.flags)
    assert "mistyped_reference" not in result.flags
    assert "IC-384512-T7K3" in result.other_references


def test_an_ico_ic_reference_is_told_from_ours_by_its_check_suffix() -> None:
    """IC-402219-B6R1 has our shape; its suffix is not ours, so it is the ICO's."""
    result = judge("clarification_regulator_ico_reference_only_their_suffix.eml")

    assert result.reference is None
    assert "IC-402219-B6R1" == result.other_references[0]
    assert "which_case" in result.flags


def test_an_environmental_request_not_naming_the_eir_is_eir_and_says_which_words() -> None:
    """Tree felling: the reasons name the words found."""
    result = judge("new_request_env_tree_felling_park.eml")

    assert Law.EIR is result.law
    assert "'felling'" in " ".join(result.reasons)


def test_foi_send_me_all_the_emails_about_me_is_a_subject_access_request() -> None:
    """However it is labelled, a request for one's own data runs under UK GDPR."""
    result = judge("not_foi_sar_under_foi_all_emails_about_me.eml")

    assert Kind.NOT_FOI is result.kind
    assert Law.SAR is result.law
    assert "subject_access" in result.flags


def test_how_many_internal_reviews_is_a_new_request_not_a_review() -> None:
    """Internal reviews as the subject of a request."""
    assert Kind.NEW_REQUEST is judge("new_request_about_internal_reviews_count.eml").kind


def test_references_are_found_only_in_labelled_places() -> None:
    """A date or a count is no reference; 'ref:' and a bracketed subject token are."""
    found = other_references("Re: [Ref: 2025-FOI-1187] placements",
                             "my request of 4 March about 120 homes; Our ref: EC/FOI/25/0977",
                             set())

    assert ["2025-FOI-1187", "EC/FOI/25/0977"] == [r.text for r in found]


def test_the_regulators_deadline_is_read_as_written() -> None:
    """Working days, calendar days, or a date."""
    assert "within 20 working days" in (regulator_deadline(
        "Please respond within 20 working days of the date of this letter.") or "")
    assert "by 14 May 2026" == regulator_deadline("send them by 14 May 2026.")
    assert regulator_deadline("Thank you for your letter.") is None
