"""What one run of `foi-mailbot once` did, in words: the register's figures before and after.

Counting from the database rather than from the loop keeps the summary true whatever path a
message took (stored in this run, or left pending by an earlier one and finished now).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from foi_mailbot.cli.common import plural

if TYPE_CHECKING:
    from foi_mailbot.bootstrap import App
    from foi_mailbot.metrics import Figures


@dataclass
class CycleSummary:
    """The change in the register's figures over a run; empty until the run has ended."""

    stored: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    cases_opened: int = 0
    acknowledgements_sent: int = 0
    needing_person: int = 0

    def lines(self) -> list[str]:
        """One sentence of totals, then the new messages by kind, as `ingest` prints them."""
        head = (f"Stored {plural(self.stored, 'new message')}; "
                f"opened {plural(self.cases_opened, 'case')}; "
                f"sent {plural(self.acknowledgements_sent, 'acknowledgement')}; "
                f"flagged {self.needing_person} for a person.")
        return [head, *(f"  {kind}: {n}" for kind, n in sorted(self.by_kind.items()) if n)]


def _figures(app: App) -> Figures:
    from foi_mailbot.metrics import read_figures
    from foi_mailbot.storage.db import session_scope

    with session_scope(app.factory) as session:
        return read_figures(session)


@contextmanager
def cycle_summary(app: App) -> Iterator[CycleSummary]:
    """Yield a summary that is filled in with what changed once the block has run."""
    before = _figures(app)
    summary = CycleSummary()
    yield summary
    after = _figures(app)
    kinds = set(before.messages_by_kind) | set(after.messages_by_kind)
    summary.by_kind = {
        k: after.messages_by_kind.get(k, 0) - before.messages_by_kind.get(k, 0) for k in kinds
    }
    summary.stored = sum(after.messages_by_kind.values()) - sum(before.messages_by_kind.values())
    summary.cases_opened = after.cases_opened - before.cases_opened
    summary.acknowledgements_sent = after.acknowledgements_sent - before.acknowledgements_sent
    summary.needing_person = max(0, after.messages_needing_person
                                 - before.messages_needing_person)
