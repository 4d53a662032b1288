"""A message's texts folded for phrase matching: lower case, straight apostrophes, one space
between words; with the set of its words.

Folding a long message is most of what reading phrases in it costs, and the rules read the
same few texts many times: each is folded once and kept on the message (`ParsedMail.folded`).
(Doing it in the second parsing process, `parsing.pool`, instead was tried: with the work it
already has, the loop then waits for it about as long as folding takes here.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Final, Literal

from foi_mailbot.parsing.parsed import ParsedMail

Field = Literal["subject", "text", "new_text"]

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

    @cached_property
    def words(self) -> frozenset[str]:
        """The runs of word characters in the text (found on first use)."""
        return words(self.text)


def fold(text: str) -> Folded:
    """`text` normalised."""
    return Folded(normalise(text))


def joined(first: Folded, second: Folded) -> Folded:
    """The fold of the two texts with a line break between them, from their folds."""
    # Whitespace splits words and folds to one space: nothing crosses the join.
    both = Folded(" ".join(part for part in (first.text, second.text) if part))
    # Its words are the two texts' words, known already (set where cached_property keeps them).
    both.__dict__["words"] = first.words | second.words
    return both


def folded(mail: ParsedMail, name: Field) -> Folded:
    """The message's subject, text or new text folded (once per message)."""
    name = _source(mail, name)
    found = mail.folded.get(name)
    if found is None:
        found = mail.folded[name] = fold(getattr(mail, name))
    return found


def headed(mail: ParsedMail, body: Field) -> Folded:
    """The subject, then the message's text or new text, folded as one (once per message)."""
    key = f"subject+{_source(mail, body)}"
    found = mail.folded.get(key)
    if found is None:
        found = mail.folded[key] = joined(folded(mail, "subject"), folded(mail, body))
    return found


def _source(mail: ParsedMail, name: Field) -> Field:
    """The field whose text `name` is: a reply that quotes nothing has one text, not two."""
    return "text" if name == "new_text" and mail.new_text == mail.text else name
