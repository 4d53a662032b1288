"""`foi-mailbot classify --evaluate DIR LABELS.json` on the labelled corpus, and its scoring.

`tests/fixtures/corpus/` is the part the rules were tuned on: every message must be classified
as labelled. `tests/fixtures/corpus_heldout/` was written with its labels before the rules
changed and never tuned on: at least 95% must be right, with no unsafe decision and no lost
request.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from foi_mailbot.classify.base import Classification, Kind
from foi_mailbot.classify.evaluation import score
from foi_mailbot.cli import app

FIXTURES = Path(__file__).parents[1] / "fixtures"
runner = CliRunner()


def evaluate(folder: str, tmp_path: Path, *extra: str) -> tuple[int, str]:
    """Run the command on one labelled folder; its exit code and output."""
    directory = FIXTURES / folder
    result = runner.invoke(
        app,
        ["classify", "--mailbox", "foi@example.gov.uk", "--staff-domain", "example.gov.uk",
         "--evaluate", str(directory), str(directory / "labels.json"), *extra],
        env={"FOI_MAILBOT_PATHS__DATA_DIR": str(tmp_path),
             "FOI_MAILBOT_ORGANISATION__REFERENCE_SECRET": "test-secret"},
    )
    return result.exit_code, result.output


def test_every_message_of_the_tuned_corpus_is_classified_as_labelled(tmp_path: Path) -> None:
    """100% on the tuned part: kind, law, reference and flags; nothing unsafe, nothing lost."""
    code, output = evaluate("corpus", tmp_path, "--json")
    figures = json.loads(output)

    assert {} == figures["wrong"], output
    assert [] == figures["unsafe"]
    assert [] == figures["lost"]
    assert [] == figures["unlabelled"]
    assert 0 == code


def test_the_held_out_corpus_is_at_least_95_percent_right_with_nothing_unsafe_or_lost(
    tmp_path: Path,
) -> None:
    """The held-out part, never tuned on: 95% or better, 0 unsafe, 0 lost."""
    _code, output = evaluate("corpus_heldout", tmp_path, "--json")
    figures = json.loads(output)

    assert figures["accuracy"] >= 0.95, figures["wrong"]
    assert [] == figures["unsafe"]
    assert [] == figures["lost"]


def test_the_corpus_has_fifteen_messages_of_each_kind_and_a_fifth_held_out() -> None:
    """At least 80 messages, 15 of each kind across both parts, a fifth of them held out."""
    tuned = json.loads((FIXTURES / "corpus" / "labels.json").read_text())
    held = json.loads((FIXTURES / "corpus_heldout" / "labels.json").read_text())
    kinds = [v["kind"] for v in (*tuned.values(), *held.values())]

    assert len(kinds) >= 80
    assert all(kinds.count(k) >= 15 for k in set(kinds)), kinds
    assert len(held) >= len(kinds) // 5
    assert all(name.startswith(f"{labels['kind']}_")
               for name, labels in (*tuned.items(), *held.items()))


def test_the_report_names_accuracy_per_kind_the_confusion_table_unsafe_and_lost(
    tmp_path: Path,
) -> None:
    """The plain report carries every figure a person reads."""
    code, output = evaluate("corpus", tmp_path)

    assert 0 == code, output
    for heading in ("accuracy: ", "per kind:", "confusion", "unsafe decisions: 0",
                    "lost requests: 0", "other systems' references found"):
        assert heading in output


def test_a_phishing_mail_answered_is_unsafe_and_a_request_set_aside_is_lost() -> None:
    """The two worst mistakes are counted on their own."""
    answered = Classification(Kind.NEW_REQUEST, "new_request", ("x",))
    set_aside = Classification(Kind.NOT_FOI, "not_foi", ("x",))

    phishing = score("phishing.eml", {"kind": "not_foi"}, answered)
    request = score("request.eml", {"kind": "new_request"}, set_aside)
    sar = score("sar.eml", {"kind": "not_foi", "flags": ["subject_access"]}, set_aside)

    assert (True, False) == (phishing.unsafe, phishing.lost)
    assert (False, True) == (request.unsafe, request.lost)
    assert sar.lost and sar.wrong


def test_evaluate_wants_a_folder_and_its_labels(tmp_path: Path) -> None:
    """A wrong argument is one sentence and exit 2."""
    result = runner.invoke(app, ["classify", "--evaluate", str(tmp_path)],
                           env={"FOI_MAILBOT_PATHS__DATA_DIR": str(tmp_path)})

    assert 2 == result.exit_code
    assert "labels file" in result.output
