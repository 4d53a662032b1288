"""A message's texts folded for phrase matching: lower case, straight apostrophes, one space
between words; with the set of its words.

Folding a long message is most of what reading phrases in it costs, and the rules read the
same few texts many times: each is folded once (`fold_mail`), into a value handed to the rules
that read them beside the message; nothing is kept on the message. In a backlog the second
parsing process folds it (`parsing.pool`); else classification does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from foi_mailbot.parsing.parsed import ParsedMail

_WORD_RUN: Final = re.compile(r"\w+")
# Every ASCII byte that is not a word character, as a space; other bytes (UTF-8's) kept.
_NOT_WORD: Final = bytes(
    b if b >= 0x80 or re.fullmatch(r"\w", chr(b)) else 0x20 for b in range(256)
)


def normalise(text: str) -> str:
    """Lower-cased text with straight apostrophes and single spaces, ready for matching."""
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").lower().split())


def words(text: str) -> frozenset[str]:
    """The runs of word characters in a text (`\\w+`)."""
    # Splitting at spaces after blanking ASCII's other characters in one pass over the bytes
    # is about three times quicker than the pattern; pieces with other characters are split
    # by the pattern itself (a piece holds whole runs: it ends only at a non-word character).
    pieces = set(text.encode("utf-8", "surrogatepass").translate(_NOT_WORD).decode(
        "utf-8", "surrogatepass").split())
    for piece in [piece for piece in pieces if not piece.isascii()]:
        pieces.discard(piece)
        pieces.update(_WORD_RUN.findall(piece))
    return frozenset(pieces)


@dataclass(frozen=True)
class Folded:
    """A text as phrases are matched in it (`text`, normalised), and its words."""

    text: str
    words: frozenset[str]


def fold(text: str) -> Folded:
    """`text` normalised, with its words."""
    folded = normalise(text)
    return Folded(folded, words(folded))


def joined(first: Folded, second: Folded) -> Folded:
    """The fold of the two texts with a line break between them, from their folds."""
    # Whitespace splits words and folds to one space: nothing crosses the join, so the words
    # are the two texts' words, known already.
    both = " ".join(part for part in (first.text, second.text) if part)
    return Folded(both, first.words | second.words)


@dataclass(frozen=True)
class FoldedMail:
    """A message's subject and texts folded once, as the classification rules read them.

    `subject_text` and `subject_new_text` are the subject, then the body (or its new text),
    as one text. A reply that quotes nothing has one text, not two: `new_text` is then the
    same fold as `text`.
    """

    subject: Folded
    text: Folded
    new_text: Folded
    subject_text: Folded
    subject_new_text: Folded


def fold_mail(mail: ParsedMail) -> FoldedMail:
    """The message's subject, text and new text folded, alone and after the subject."""
    subject, new_text = fold(mail.subject), fold(mail.new_text)
    subject_new_text = joined(subject, new_text)
    if mail.new_text == mail.text:
        return FoldedMail(subject, new_text, new_text, subject_new_text, subject_new_text)
    text = _fold_from(mail.text, mail.new_text, new_text)
    return FoldedMail(subject, text, new_text, joined(subject, text), subject_new_text)


def _fold_from(text: str, opening: str, opening_fold: Folded) -> Folded:
    """`text` folded, from the fold of its `opening` when the two part at whitespace."""
    # The new text is most often the text's opening (the quoted history and signature follow):
    # folded once, it is not folded again. At whitespace nothing crosses the join, as in
    # `joined`; elsewhere (a word or a final sigma's context spanning it) the whole is folded.
    rest = text[len(opening):]
    if text.startswith(opening) and (opening[-1:].isspace() or rest[:1].isspace()):
        return joined(opening_fold, fold(rest))
    return fold(text)
