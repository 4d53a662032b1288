"""The staff corpus, table-driven: each labelled staff email is read as the action, outcome and
sections its label says. The tuned part must be right throughout; the held-out part, never
used to shape the phrases, must be at least 90% right on the action."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from foi_mailbot.cases.staff_actions import ActionKind, StaffAction, infer_staff_action
from foi_mailbot.parsing import parse

FIXTURES = Path(__file__).parent.parent / "fixtures"
TUNED = FIXTURES / "staff_corpus"
HELD_OUT = FIXTURES / "staff_corpus_heldout"
_WITH_OUTCOME = {"respond", "review_outcome", "close"}


def _labels(folder: Path) -> dict[str, dict[str, Any]]:
    labels: dict[str, dict[str, Any]] = json.loads((folder / "labels.json").read_text())
    return labels


def _read(path: Path) -> StaffAction:
    mail = parse(path.read_bytes())
    assert mail.date is not None
    return infer_staff_action(mail, today=mail.date.date())


def _agrees(action: StaffAction, label: dict[str, Any]) -> list[str]:
    """What differs between the reading and the label (empty when they agree)."""
    wrong = []
    if action.kind.value != label["action"]:
        wrong.append(f"action {action.kind.value} != {label['action']}")
    elif label["action"] in _WITH_OUTCOME and action.outcome_value != label["outcome"]:
        wrong.append(f"outcome {action.outcome_value} != {label['outcome']}")
    elif label["sections"] and list(action.sections) != label["sections"]:
        wrong.append(f"sections {list(action.sections)} != {label['sections']}")
    return wrong


@pytest.mark.parametrize("folder", [TUNED, HELD_OUT], ids=["tuned", "held_out"])
def test_every_corpus_file_is_labelled_with_known_values(folder: Path) -> None:
    labels = _labels(folder)
    files = {p.name for p in folder.glob("*.eml")}

    assert files == set(labels)
    assert {label["action"] for label in labels.values()} <= {k.value for k in ActionKind}


def test_the_corpus_has_sixty_emails_and_a_fifth_held_out() -> None:
    tuned, held = len(_labels(TUNED)), len(_labels(HELD_OUT))

    assert tuned + held >= 60
    assert held >= (tuned + held) // 5


@pytest.mark.parametrize("name", sorted(_labels(TUNED)))
def test_each_tuned_staff_email_is_read_as_labelled(name: str) -> None:
    action = _read(TUNED / name)

    assert _agrees(action, _labels(TUNED)[name]) == []
    assert action.reasons


def test_held_out_staff_emails_are_read_right_at_least_nine_times_in_ten() -> None:
    labels = _labels(HELD_OUT)
    readings = {name: _read(HELD_OUT / name) for name in labels}
    actions_right = sum(readings[n].kind.value == label["action"] for n, label in labels.items())
    stated = [n for n, label in labels.items() if label["outcome"] is not None]
    outcomes_right = sum(readings[n].outcome_value == labels[n]["outcome"] for n in stated)

    assert actions_right / len(labels) >= 0.9
    # A floor against regressions: the bar for outcomes is the tuned part, where every stated
    # outcome must be right; held-out outcomes were 8 of 10 right when last measured.
    assert outcomes_right / len(stated) >= 0.8
