"""The fixture corpus: every .eml in tests/fixtures is parsed and classified as its name says.

The file name prefix is the expected kind (`new_request_`, `clarification_`, ...). Files named
`malformed_` are parsed and classified for robustness but not scored. A message whose
In-Reply-To or References names an id at @example.gov.uk is treated as replying in the thread
of case IC-000123, as the matching stage would find it from our stored Message-IDs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from foi_mailbot.cases.reference import ReferenceCodec
from foi_mailbot.classify import classify
from foi_mailbot.classify.base import Classification, ClassifyContext, Kind
from foi_mailbot.parsing import parse

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CODEC = ReferenceCodec("IC", "test-secret")
KINDS = tuple(kind.value for kind in Kind)
ALL = sorted(FIXTURES.glob("*.eml"))
SCORED = [p for p in ALL if not p.name.startswith("malformed_")]


def expected_kind(path: Path) -> str:
    """The kind a fixture's name promises."""
    matches = [k for k in KINDS if path.name.startswith(f"{k}_")]
    if not matches:
        msg = f"{path.name} does not start with a kind"
        raise ValueError(msg)
    return max(matches, key=len)


def classify_file(path: Path) -> Classification:
    """Parse and classify one fixture in the corpus context."""
    mail = parse(path.read_bytes())
    ours = any(i.endswith("@example.gov.uk") for i in mail.thread_ids)
    ctx = ClassifyContext(
        mailbox_addresses=frozenset({"foi@example.gov.uk"}),
        staff_domains=frozenset({"example.gov.uk", "planning.example.gov.uk"}),  # listed
        find_references=CODEC.find,
        thread_case=CODEC.format(123) if ours else None,
    )
    return classify(mail, ctx)


def test_corpus_has_at_least_ten_fixtures_of_every_kind() -> None:
    """Each kind is covered by ten or more real messages, and malformed mail is present."""
    counts = Counter(expected_kind(p) for p in SCORED)

    assert all(counts[k] >= 10 for k in KINDS), counts
    assert len(ALL) - len(SCORED) >= 6


def test_corpus_accuracy_is_total_for_every_kind() -> None:
    """Per-kind accuracy over the corpus is 100%; the table is in the failure message."""
    totals: Counter[str] = Counter()
    right: Counter[str] = Counter()
    wrong: list[str] = []
    for path in SCORED:
        kind = expected_kind(path)
        got = classify_file(path).kind.value
        totals[kind] += 1
        right[kind] += got == kind
        if got != kind:
            wrong.append(f"{path.name}: {got}")
    table = "\n".join(f"{k:15} {right[k]:3}/{totals[k]:3}" for k in KINDS)
    print(f"\naccuracy per kind:\n{table}")  # shown with pytest -s or -rP

    assert [] == wrong, f"accuracy per kind:\n{table}"


@pytest.mark.parametrize("path", SCORED, ids=lambda p: p.name)
def test_fixture_is_classified_as_its_name_says(path: Path) -> None:
    """One fixture, its expected kind, and reasons that say why."""
    result = classify_file(path)

    assert expected_kind(path) == result.kind.value, result.reasons
    assert result.reasons


@pytest.mark.parametrize(
    "name",
    [p.name for p in SCORED if p.name.startswith("new_request_")],
)
def test_new_requests_have_a_law(name: str) -> None:
    """Every new request is put under FOIA or the EIR."""
    assert classify_file(FIXTURES / name).law is not None


@pytest.mark.parametrize(
    ("name", "law"),
    [
        ("new_request_wdtk_environmental_air_quality.eml", "eir"),
        ("new_request_environmental_planning.eml", "eir"),
        ("new_request_environmental_trees.eml", "eir"),
        ("new_request_environmental_flooding.eml", "eir"),
        ("new_request_eir_water_pollution.eml", "eir"),
        ("new_request_with_attachment_pdf.eml", "eir"),
        ("new_request_plain_foia.eml", "foia"),
        ("new_request_wdtk.eml", "foia"),
        ("new_request_scottish_foisa.eml", "foia"),
        ("new_request_waste_of_money_figurative.eml", "foia"),
    ],
)
def test_environmental_requests_fall_under_the_eir(name: str, law: str) -> None:
    """Environmental requests are EIR; others FOIA (the caller maps FOIA to FOISA in Scotland)."""
    result = classify_file(FIXTURES / name)

    assert law == (result.law.value if result.law else None)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("clarification_reference_in_subject.eml", 131),
        ("clarification_reference_in_body_en_dash.eml", 140),
        ("clarification_scottish_case.eml", 175),
        ("review_request_reference_in_subject.eml", 152),
        ("review_request_scotland_requirement_for_review.eml", 175),
        ("clarification_reply_quoting_ack.eml", 123),
        ("review_request_wdtk.eml", 123),
    ],
)
def test_case_mail_carries_its_reference(name: str, reference: int) -> None:
    """Clarifications and review requests name the case they are about."""
    assert CODEC.format(reference) == classify_file(FIXTURES / name).reference


@pytest.mark.parametrize("path", [p for p in ALL if p not in SCORED], ids=lambda p: p.name)
def test_malformed_fixture_parses_and_classifies(path: Path) -> None:
    """Broken mail is parsed and classified without raising, with reasons."""
    result = classify_file(path)

    assert result.kind in Kind
    assert result.reasons
