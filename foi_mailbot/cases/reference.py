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

from foi_mailbot.classify.base import FoundRef

# No I, L or O: they are read as 1 and 0 when quoted back by phone or retyped from paper.
LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"
DIGITS = "0123456789"
_DASH = r"[\s\-\u2010-\u2015\u2212_]{0,3}"


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

    def _pattern(self) -> re.Pattern[str]:
        return re.compile(
            rf"(?<![A-Za-z0-9]){re.escape(self.prefix)}{_DASH}(\d{{1,12}}){_DASH}"
            r"([A-Za-z][0-9][A-Za-z][0-9])(?![A-Za-z0-9])",
            re.IGNORECASE,
        )

    def find(self, text: str) -> list[FoundRef]:
        """Every reference-shaped string in `text`, in order, each marked valid or mistyped."""
        found: list[FoundRef] = []
        seen: set[str] = set()
        for match in self._pattern().finditer(text):
            number, given = int(match.group(1)), match.group(2).upper()
            if number < 1:
                continue
            canonical = f"{self.prefix.upper()}-{number:06d}-{given}"
            if canonical in seen:
                continue
            seen.add(canonical)
            valid = hmac.compare_digest(given, self.suffix(number))
            found.append(FoundRef(text=match.group(0), reference=canonical, valid=valid))
        return found

    def number_of(self, reference: str) -> int | None:
        """The sequence number of a valid reference, else None."""
        hits = self.find(reference)
        if len(hits) != 1 or not hits[0].valid:
            return None
        return int(hits[0].reference.split("-")[1])
