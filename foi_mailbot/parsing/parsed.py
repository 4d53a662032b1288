"""What parsing yields: frozen, plain data the pure core reads (no library objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Headers added at each hop, of which every value is kept: only the receiving server's own one
# (the topmost with its id) is believed (`cases.senders`).
REPEATED = frozenset({"authentication-results", "x-ms-exchange-organization-authas"})


@dataclass(frozen=True)
class Address:
    """One mailbox: display name (CR/LF removed) and lower-cased address."""

    name: str
    email: str

    @property
    def domain(self) -> str:
        """The part after the @, lower-cased."""
        return self.email.rpartition("@")[2]


@dataclass(frozen=True)
class AttachmentInfo:
    """An attachment's name, type and decoded size in bytes (never its content)."""

    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class ParsedMail:
    """A message as the core sees it. Header values are decoded and free of CR/LF."""

    message_id: str | None
    subject: str
    from_addr: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    date: datetime | None = None
    # Lower-cased header name -> first value, decoded; for the loop guards.
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"
    text: str = ""
    new_text: str = ""
    attachments: tuple[AttachmentInfo, ...] = ()
    defects: tuple[str, ...] = ()
    size: int = 0
    # Every value, topmost first, of the trace headers the sender rules read (`REPEATED`).
    repeated: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def header(self, name: str) -> str:
        """A header's decoded value, or '' when absent."""
        return self.headers.get(name.lower(), "")

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of a header in `REPEATED`, topmost (added last on the way) first."""
        return self.repeated.get(name.lower(), ())

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message replies to, nearest first."""
        return tuple(dict.fromkeys((*self.in_reply_to, *reversed(self.references))))
