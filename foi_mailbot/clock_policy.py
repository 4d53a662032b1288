"""The statutory clock's choices, from the `[clock]` section of the configuration.

Kept apart from the composition root so that `foi-mailbot deadline` can build the policy without
loading the database, the mail sources or the outbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from foi_mailbot.deadlines.statutory import ClockPolicy

if TYPE_CHECKING:
    from foi_mailbot.settings import Settings


def clock_policy(settings: Settings) -> ClockPolicy:
    """The statutory clock's options from configuration."""
    clock = settings.clock
    return ClockPolicy(
        receipt_on_non_working_day=clock.receipt_on_non_working_day,
        foisa_fees_notice_day=clock.foisa_fees_notice_day,
        sar_holiday_region=clock.sar_holiday_region,
        clarification_closure_months=clock.clarification_closure_months,
        extra_holidays=tuple(
            (h.date, h.name, frozenset(h.regions)) for h in clock.extra_holidays
        ),
    )
