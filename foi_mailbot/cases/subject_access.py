"""Subject access requests (UK GDPR Art 15) that arrive in the FOI mailbox: the copy for the
data protection officer, who answers for them.

The case itself is opened by `service` with the one-month clock (`deadlines.subject_access`);
here the DPO is told, in the same transaction, so the copy goes if and only if the case opens.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from foi_mailbot.clock import as_utc
from foi_mailbot.outbound.outbox import enqueue
from foi_mailbot.outbound.staff_mail import staff_message
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.storage.models import Case, InboundMessage

if TYPE_CHECKING:
    from foi_mailbot.cases.service import Services

# Enough of the request for the DPO to act on; the whole message is in the register.
_QUOTED_CHARS = 4000


def dpo_notice(case: Case, mail: ParsedMail, organisation: str) -> str:
    """The text of the DPO's copy: the case, the due date, and the request as written."""
    sender = mail.from_addr.email if mail.from_addr else "an unknown sender"
    quoted = "\n".join(f"> {line}" for line in mail.text[:_QUOTED_CHARS].splitlines())
    return (
        f"A subject access request (UK GDPR Art 15) reached the {organisation} FOI mailbox.\n\n"
        f"Reference: {case.reference}\nFrom: {sender}\nSubject: {mail.subject}\n"
        f"Received: {case.received_on.isoformat()}\n"
        f"Due: {case.due_on.isoformat() if case.due_on else 'to be confirmed'} "
        "(one month; UK GDPR Art 12(3))\n\n"
        "The requester has been sent an acknowledgement. The request as written:\n\n"
        f"{quoted}\n"
    )


def copy_to_dpo(
    session: Session,
    services: Services,
    case: Case,
    row: InboundMessage,
    mail: ParsedMail,
    now: datetime,
    dpo_address: str,
) -> None:
    """Queue the DPO's copy of a subject access request (once per case)."""
    org = services.settings.organisation
    message, message_id = staff_message(
        services.settings, to=dpo_address,
        subject=f"[{case.reference}] Subject access request received",
        text=dpo_notice(case, mail, org.name), html=None, now=as_utc(now))
    enqueue(
        session,
        key=f"case:{case.reference}:dpo_copy",
        message=message,
        message_id=message_id,
        to_email=dpo_address,
        purpose="dpo_copy",
        now=now,
        case=case,
        caused_by=row.id,
    )
