"""A deadline as plain data: what the case row stores and what `--json` prints (pure)."""

from __future__ import annotations

from typing import Any

from foi_mailbot.deadlines.laws import Deadline


def deadline_json(deadline: Deadline) -> dict[str, Any]:
    """A deadline's explanation in a stored, showable form."""
    return {
        "law": deadline.law.value,
        "due": deadline.due.isoformat() if deadline.due else None,
        "basis": deadline.basis,
        "start": deadline.start.isoformat(),
        "steps": [{"day": s.day.isoformat(), "note": s.note} for s in deadline.steps],
        "holiday_notes": list(deadline.holiday_notes),
        "stopped_reason": deadline.stopped_reason,
        "explanation": deadline.explanation(),
    }
