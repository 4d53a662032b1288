"""Scoring classification against hand-labelled mail: accuracy per kind, the confusion table,
unsafe decisions and lost requests.

A labels file maps each `.eml` file name to what a person decided it is: `kind`, and where it
matters `law`, `reference` (our case reference the message names, or null), `flags` the
verdict must carry (e.g. `regulator`, `subject_access`), `other_reference` (another system's
reference it quotes) and `context` (facts the pipeline would know: `sender_open_cases`,
`thread_case`). A message is right when every labelled fact matches.

Two mistakes are worse than others and are counted on their own: an *unsafe* decision answers
mail that must not be answered (an automatic reply, a phishing mail, a follow-up given a second
acknowledgement), and a *lost* request is a request (or a subject access request) that gets no
case and no acknowledgement.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from foi_mailbot.classify.base import Classification, ClassifyContext, Kind

# Kinds the pipeline answers with an acknowledgement (a case is opened for them).
ANSWERED: frozenset[str] = frozenset({Kind.NEW_REQUEST.value, Kind.REVIEW_REQUEST.value})


@dataclass(frozen=True)
class Scored:
    """One message: what it should be, what it was found to be, and what differs."""

    name: str
    expected: str
    got: str
    wrong: tuple[str, ...]
    unsafe: bool
    lost: bool
    other_reference: str | None = None
    other_found: bool = False


@dataclass
class Evaluation:
    """Every message scored, with the summary figures."""

    scored: list[Scored] = field(default_factory=list)

    @property
    def right(self) -> int:
        """Messages where every labelled fact matched."""
        return sum(not s.wrong for s in self.scored)

    @property
    def accuracy(self) -> float:
        """The share of messages right (1.0 for an empty set)."""
        return self.right / len(self.scored) if self.scored else 1.0

    def per_kind(self) -> dict[str, tuple[int, int]]:
        """Labelled kind -> (right, total)."""
        totals: Counter[str] = Counter(s.expected for s in self.scored)
        right: Counter[str] = Counter(s.expected for s in self.scored if not s.wrong)
        return {kind: (right[kind], totals[kind]) for kind in sorted(totals)}

    def confusion(self) -> dict[tuple[str, str], int]:
        """(labelled kind, found kind) -> how many."""
        return dict(Counter((s.expected, s.got) for s in self.scored))

    @property
    def unsafe(self) -> list[Scored]:
        """Messages answered that must not be."""
        return [s for s in self.scored if s.unsafe]

    @property
    def lost(self) -> list[Scored]:
        """Requests that were given no case."""
        return [s for s in self.scored if s.lost]

    def report(self) -> str:
        """The figures as plain text, for a terminal."""
        lines = [f"accuracy: {self.right}/{len(self.scored)} ({self.accuracy:.1%})", "",
                 "per kind:"]
        lines += [f"  {k:15} {r:3}/{t:3}" for k, (r, t) in self.per_kind().items()]
        kinds = sorted({s.expected for s in self.scored} | {s.got for s in self.scored})
        width = max(len(k) for k in kinds) if kinds else 8
        lines += ["", "confusion (rows: labelled, columns: found):",
                  " " * (width + 2) + " ".join(f"{k[:6]:>6}" for k in kinds)]
        table = self.confusion()
        for row in kinds:
            cells = " ".join(f"{table.get((row, col), 0) or '.':>6}" for col in kinds)
            lines.append(f"  {row:{width}} {cells}")
        others = [s for s in self.scored if s.other_reference]
        lines += ["", f"unsafe decisions: {len(self.unsafe)}",
                  *(f"  {s.name}: {s.expected} answered as {s.got}" for s in self.unsafe),
                  f"lost requests: {len(self.lost)}",
                  *(f"  {s.name}: {s.expected} found as {s.got}" for s in self.lost),
                  f"other systems' references found: {sum(s.other_found for s in others)}"
                  f"/{len(others)}"]
        wrong = [s for s in self.scored if s.wrong]
        if wrong:
            lines += ["", "wrong:", *(f"  {s.name}: {'; '.join(s.wrong)}" for s in wrong)]
        return "\n".join(lines)


def load_labels(path: Path) -> dict[str, dict[str, Any]]:
    """The labels file: file name -> its labels."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        msg = f"{path}: the labels must be a JSON object of file name -> labels"
        raise ValueError(msg)
    return data


def labelled_context(base: ClassifyContext, labels: dict[str, Any]) -> ClassifyContext:
    """The context a message is classified in: the base one and the label's `context`."""
    extra = labels.get("context") or {}
    return replace(
        base,
        sender_open_cases=tuple(extra.get("sender_open_cases", ())),
        thread_case=extra.get("thread_case"),
    )


def score(name: str, labels: dict[str, Any], verdict: Classification) -> Scored:
    """One message's verdict against its labels."""
    expected, got = str(labels["kind"]), verdict.kind.value
    wrong: list[str] = []
    if got != expected:
        wrong.append(f"kind {got}, labelled {expected}")
    law = verdict.law.value if verdict.law else None
    if "law" in labels and labels["law"] != law:
        wrong.append(f"law {law}, labelled {labels['law']}")
    if "reference" in labels and labels["reference"] != verdict.reference:
        wrong.append(f"reference {verdict.reference}, labelled {labels['reference']}")
    missing = [f for f in labels.get("flags", ()) if f not in verdict.flags]
    if missing:
        wrong.append(f"flags {', '.join(missing)} missing")
    sar = "subject_access" in labels.get("flags", ())
    unsafe = got in ANSWERED and expected not in ANSWERED
    lost = (expected in ANSWERED and got not in ANSWERED) or (
        sar and "subject_access" not in verdict.flags
    )
    other = str(labels.get("other_reference") or "")
    found = bool(other) and _normal(other) in {_normal(r) for r in verdict.other_references}
    return Scored(name, expected, got, tuple(wrong), unsafe, lost, other or None, found)


def evaluate(
    directory: Path,
    labels: dict[str, dict[str, Any]],
    classify_file: Callable[[Path, ClassifyContext], Classification],
    base: ClassifyContext,
) -> Evaluation:
    """Classify every labelled file in `directory` and score it."""
    result = Evaluation()
    for name in sorted(labels):
        entry = labels[name]
        verdict = classify_file(directory / name, labelled_context(base, entry))
        result.scored.append(score(name, entry, verdict))
    return result


def unlabelled(directory: Path, labels: Iterable[str]) -> list[str]:
    """`.eml` files in `directory` that have no labels (a labels file must cover them all)."""
    known = set(labels)
    return sorted(p.name for p in directory.glob("*.eml") if p.name not in known)


def _normal(reference: str) -> str:
    return "".join(ch for ch in reference.upper() if ch.isalnum())
