"""Case references like `IC-000123-N1W5`: minting, and finding them in free text (pure).

The number is a never-reused sequence; the suffix (letter-digit-letter-digit) is a keyed hash of
prefix and number, so references can't be guessed and a mistyped one is caught rather than matched
to someone else's case.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache

from foi_mailbot.classify.base import FoundRef

# No I, L or O: they are read as 1 and 0 when quoted back by phone or retyped from paper.
LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"
DIGITS = "0123456789"
_DASH = r"[\s\-\u2010-\u2015\u2212_]{0,3}"
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")


@lru_cache(maxsize=8)
def _patterns(prefix: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The reference pattern for upper-cased text, and a case-blind one for any text.

    Neither opens with a look-behind: that would make `re` try every position of the text
    rather than skip to the prefix; the character before a match is checked by the caller.
    """
    shape = rf"{_DASH}(\d{{1,12}}){_DASH}([A-Z][0-9][A-Z][0-9])(?![A-Z0-9])"
    quick = re.compile(re.escape(prefix.upper()) + shape)
    any_case = re.compile(re.escape(prefix) + shape, re.IGNORECASE)
    return quick, any_case


@dataclass(frozen=True)
class ReferenceCodec:
    """Mints and recognises references for one prefix and secret."""

    prefix: str
    secret: str

    def suffix(self, number: int) -> str:
        """The four-character check suffix for a sequence number."""
        key = self.secret.encode()
        digest = hmac.new(key, f"{self.prefix.upper()}:{number}".encode(), hashlib.sha256).digest()
        value = int.from_bytes(digest[:8], "big")
        chars = []
        for alphabet in (LETTERS, DIGITS, LETTERS, DIGITS):
            value, index = divmod(value, len(alphabet))
            chars.append(alphabet[index])
        return "".join(chars)

    def format(self, number: int) -> str:
        """The reference for a sequence number, e.g. `IC-000123-N1W5`."""
        if number < 1:
            msg = "reference numbers start at 1"
            raise ValueError(msg)
        return f"{self.prefix.upper()}-{number:06d}-{self.suffix(number)}"

    def find(self, text: str) -> list[FoundRef]:
        """Every reference-shaped string in `text`, in order, each marked valid or mistyped."""
        found: list[FoundRef] = []
        seen: set[str] = set()
        quick, any_case = _patterns(self.prefix)
        upper = text.upper()
        # Upper-cased text lets `re` jump from one occurrence of the prefix to the next; where
        # upper-casing changed the length (a German sharp s, a ligature), positions would not
        # line up, and the slower case-blind pattern reads the text as it is.
        pattern, haystack = (quick, upper) if len(upper) == len(text) else (any_case, text)
        for match in pattern.finditer(haystack):
            start = match.start()
            if start and _ASCII_ALNUM.match(text, start - 1):
                continue  # inside a longer word or number
            number, given = int(match.group(1)), match.group(2).upper()
            if number < 1:
                continue
            canonical = f"{self.prefix.upper()}-{number:06d}-{given}"
            if canonical in seen:
                continue
            seen.add(canonical)
            valid = hmac.compare_digest(given, self.suffix(number))
            found.append(FoundRef(text=text[start : match.end()], reference=canonical,
                                  valid=valid))
        return found

    def number_of(self, reference: str) -> int | None:
        """The sequence number of a valid reference, else None."""
        hits = self.find(reference)
        if len(hits) != 1 or not hits[0].valid:
            return None
        return int(hits[0].reference.split("-")[1])
