"""Commands written by a person in reply to triage mail, read from a message's text (pure).

A command is one line among the first lines of the reply, above any quoted history: Outlook's
"From:" block, "-----Original Message-----", "On ... wrote:", `>` quotes, a signature's `--` and
the daily summary's heading end the search. Case does not matter; a trailing full stop does not
either. What is read is a `Command` (verb and arguments) or an `Unknown` holding the line that
was not understood.

A reply to the daily summary settles several items at once: each line it holds above the quote
names its item, `<token> not foi` or `[FOI triage <token>] not foi` (`named_lines`). So does
`undo <token>`. The quoted summary carries every token and is never read.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, replace
from datetime import date
from typing import Final

FIRST_LINES: Final = 4
"""How many non-empty lines of a reply are read for a command (a greeting may come first)."""
SUMMARY_HEADING: Final = "Set-aside mail waiting for a look"
REMINDER_HEADING: Final = "Still waiting for a decision"
"""The first words of the daily summary and of the reminder, which name items line by line:
where their text starts in a reply, quoted or not, and reading stops."""

OUTCOMES: Final = {
    "provided": "information_provided", "granted": "information_provided",
    "disclosed": "information_provided", "partly": "partly_provided",
    "partial": "partly_provided", "refused": "refused", "not held": "not_held",
    "notheld": "not_held", "ncnd": "neither_confirm_nor_deny", "withdrawn": "withdrawn",
}
LAWS: Final = ("foia", "eir", "foisa", "sar")

_REF = r"([a-z]{1,10}-\d{1,12}-[a-z0-9]{2,8})"
_TOKEN = r"([0-9a-f]{20})"  # noqa: S105 - the shape of a triage token, not a secret
_DOMAIN = r"([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)"
_PATTERNS: Final = (
    ("new", re.compile(r"new(?:\s+(foia|eir|foisa|sar))?")),
    ("link", re.compile(rf"link(?:\s+to)?\s+{_REF}")),
    ("review", re.compile(rf"review(?:\s+of)?\s+{_REF}")),
    ("not_foi", re.compile(r"not\s+(?:an?\s+)?foi(?:\s+request)?")),
    ("ignore", re.compile(r"ignore")),
    ("close", re.compile(rf"close\s+{_REF}(?:\s+(.+))?")),
    ("reopen", re.compile(rf"reopen\s+{_REF}")),
    ("merge", re.compile(rf"merge\s+{_REF}\s+into\s+{_REF}")),
    ("received", re.compile(r"received(?:\s+on)?\s+(\d{4}-\d{2}-\d{2})")),
    ("law", re.compile(r"law\s+(foia|eir|foisa|sar)")),
    ("withdrawn", re.compile(r"withdrawn")),
    ("accept_sender", re.compile(r"accept\s+sender")),
    ("send", re.compile(r"send")),
    ("resume_replies", re.compile(rf"resume\s+replies(?:\s+to)?\s+{_DOMAIN}")),
    ("undo", re.compile(rf"undo\s+{_TOKEN}")),
)
HELP: Final = (
    ("new", "open it as a new request (new eir, new foisa or new sar for another law)"),
    ("link IC-000123-N1W5", "attach it to that case"),
    ("review IC-000123-N1W5", "open an internal review of that case"),
    ("not foi", "not a request: nothing is opened"),
    ("ignore", "nothing to do"),
    ("close IC-000123-N1W5 refused", "close the case with an outcome (provided, partly, "
                                     "refused, not held, ncnd, withdrawn)"),
    ("reopen IC-000123-N1W5", "reopen a closed case"),
    ("merge IC-000123-N1W5 into IC-000124-K2P3", "merge the first case into the second"),
    ("received 2026-12-01", "correct the date of receipt of the message's case"),
    ("law eir", "the message's case falls under another law"),
    ("withdrawn", "the requester withdrew the message's case"),
    ("accept sender", "the sender may act on the message's case"),
    ("send", "send the message's case's held letter"),
    ("resume replies example.org", "lift the loop breaker for a domain"),
    ("undo <token>", "put back what a command did"),
)

_QUOTE_STARTS: Final = (
    re.compile(r"^-{2,}\s*original message", re.IGNORECASE),
    re.compile(r"^(from|sent|de|von)\s*:", re.IGNORECASE),
    re.compile(r"^on .+ wrote:?$", re.IGNORECASE),
    re.compile(r"^_{5,}$"),
    re.compile(r"^--\s*$"),
    re.compile(r"^>"),
    re.compile(rf"^(?:{re.escape(SUMMARY_HEADING)}|{re.escape(REMINDER_HEADING)})",
               re.IGNORECASE),
)
# A token naming its item at the start of a line, bare or as the subject tag writes it.
_NAMED: Final = re.compile(rf"\[?\s*(?:foi\s+triage\s+)?{_TOKEN}\s*\]?\s*[:\-]?\s+(.+)")


@dataclass(frozen=True)
class Command:
    """A command understood: its verb and its arguments, in lower case as written."""

    verb: str
    args: tuple[str, ...] = ()
    line: str = ""

    def reference(self, index: int = 0) -> str:
        """The index-th case reference named, upper case."""
        return self.args[index].upper()

    def received_on(self) -> date:
        """The date given to `received` (raises ValueError for an impossible one)."""
        return date.fromisoformat(self.args[0])

    def outcome(self) -> str | None:
        """The outcome given to `close`, in the register's words (None: not one we know)."""
        said = (self.args[1] or "").strip() if len(self.args) > 1 else ""
        return OUTCOMES.get(said.replace("_", " ")) if said else "information_provided"


@dataclass(frozen=True)
class Unknown:
    """A reply whose first lines hold no command we understand."""

    line: str


def reply_lines(text: str, limit: int | None = FIRST_LINES) -> list[str]:
    """The first non-empty lines a person wrote above any quoted history or signature (all of
    them when `limit` is None)."""
    lines: list[str] = []
    for raw in text.replace("\r", "").split("\n"):
        line = raw.strip().replace("\u00a0", " ")
        if any(p.search(line) for p in _QUOTE_STARTS):
            break
        if line:
            lines.append(line)
        if limit is not None and len(lines) >= limit:
            break
    return lines


def _normal(line: str) -> str:
    text = " ".join(line.lower().split()).strip(" .!;:")
    return text.replace("\u2013", "-").replace("\u2014", "-")


def parse_line(line: str) -> Command | None:
    """The command a single line holds, if it holds exactly one."""
    text = _normal(line)
    for verb, pattern in _PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            return Command(verb, tuple(g for g in found.groups() if g is not None), line)
    return None


# Each byte that can be a hex digit as "x", every other as a space.
_HEX_AS_X: Final = bytes(0x78 if chr(b) in string.hexdigits else 0x20 for b in range(256))
_TOKEN_SHAPE: Final = b"x" * 20


def holds_token_shape(text: str) -> bool:
    """True when `text` has a run of twenty hex digits, as every triage token is; nearly no
    mail has one, and it is told without reading it line by line."""
    # One pass in C: a pattern tries every position, about fifteen times slower on a long text.
    return _TOKEN_SHAPE in text.encode("utf-8", "surrogatepass").translate(_HEX_AS_X)


def named_lines(text: str) -> list[tuple[str, Command | Unknown]]:
    """Each line above the quoted history that names an item by its token, with what it says:
    `<token> not foi`, `[FOI triage <token>] not foi` or `undo <token>`, in the reply's order."""
    found: list[tuple[str, Command | Unknown]] = []
    if not holds_token_shape(text):
        return found  # every such line carries a token: nearly all mail is told at once
    for line in reply_lines(text, limit=None):
        named = _NAMED.fullmatch(_normal(line))
        if named is not None:
            command = parse_line(named.group(2))
            found.append((named.group(1), replace(command, line=line) if command
                          else Unknown(line[:200])))
            continue
        command = parse_line(line)
        if command is not None and command.verb == "undo":
            found.append((command.args[0], command))
    return found


def parse_reply(text: str) -> Command | Unknown:
    """The command in a reply's first lines, or Unknown holding its first line."""
    lines = reply_lines(text)
    for line in lines:
        command = parse_line(line)
        if command is not None:
            return command
    return Unknown(lines[0][:200] if lines else "")


def help_text() -> str:
    """What is understood, one command a line with an example."""
    width = max(len(example) for example, _ in HELP)
    return "\n".join(f"  {example.ljust(width)}  {what}" for example, what in HELP)


__all__ = ["HELP", "LAWS", "OUTCOMES", "REMINDER_HEADING", "SUMMARY_HEADING", "Command",
           "Unknown", "help_text", "holds_token_shape", "named_lines", "parse_line", "parse_reply",
           "reply_lines"]
