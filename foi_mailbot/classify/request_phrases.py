"""Phrase lists for telling a request from other mail: what asks for information, what is
plainly other business, what follows up earlier mail, and more subject access and environmental
wording. Matched as `phrases.matches` matches (whole words, case-blind, optional plural).
"""

from __future__ import annotations

import re
from typing import Final

from foi_mailbot.classify.phrases import ACTS_NAMED

# Asking for recorded information in words that mean little else. Enough even beside other
# business: a complaint that also asks a question is a request.
ASK_STRONG: Final = (
    *ACTS_NAMED,
    "request for information",
    "recorded information",
    "information held",
    "information you hold",
    "please provide",
    "please disclose",
    "please send me",
    "please supply",
    "please tell me",
    "please state",
    "please confirm how many",
    "can you provide",
    "could you provide me",
    "could you send me",
    "could you please send me",
    "can you send me",
    "could you tell me",
    "can you tell me",
    "can i have copies",
    "can i have a copy",
    "send me copies",
    "send me a copy",
    "send me the",
    "send me all",
    "grateful if you could send",
    "grateful if you could provide",
    "i would like to request",
    "i would like to know",
    "i would like to see",
    "i would like a copy",
    "i request",
    "i am requesting",
    "we would like the",
    "copies of",
    "a copy of the",
    "how many",
    "how much",
    "the number of",
    "a breakdown",
    "broken down by",
)

# Weaker signs of a question; they make a request only where nothing says other business.
ASK_WEAK: Final = (
    "what is the",
    "what was the",
    "what are the",
    "what were the",
    "when was",
    "which",
    "whether",
    "details of",
    "list of",
    "i would like",
    "we would like",
    "could you",
    "can you",
    "the following",
)

# The marker of an item of a numbered or lettered list ("1.", "2)", "(b)") at a line's start.
# It opens with the line break rather than "^" in multi-line mode, which `re` would try at
# every position.
_ITEM: Final = re.compile(r"\n[ \t]*\(?([1-9a-h])[.)][ \t]+\S")


def numbered(text: str) -> bool:
    """True when the text holds a list of at least two items numbered 1, 2 or lettered a, b."""
    markers = {m.group(1) for m in _ITEM.finditer(f"\n{text}")}
    return {"1", "2"} <= markers or {"a", "b"} <= markers


# Credential phishing and account scams: decisive whatever else the text says.
PHISHING: Final = (
    "verify your mailbox",
    "verify your account",
    "verify your email",
    "confirm your account",
    "validate your mailbox",
    "mailbox has exceeded",
    "exceeded its storage limit",
    "storage quota",
    "account will be suspended",
    "account being deactivated",
    "will result in your account",
    "password expires today",
    "password expiry",
    "keep current password",
    "keep your current password",
    "shared a file with you",
    "shared a document with you",
    "sign in with your microsoft",
    "sign in to view",
    "sign in and confirm",
)

# Other business, beyond `phrases.NOT_FOI`: decisive unless the text also asks (ASK_STRONG).
OTHER_BUSINESS: Final = (
    # complaints and service reports
    "make a formal complaint",
    "formal complaint",
    "i have reported it",
    "i reported it",
    "please get someone to",
    "needs to be done",
    "has been out for",
    "want to report a noise",
    "report a noise problem",
    "dumped",
    "can it be cleared",
    "i expect an apology",
    # objections and representations
    "we wish to object",
    "i wish to object",
    "i object to",
    "we object to",
    "objection to planning application",
    "objection to the",
    "take our objection into account",
    "take my objection into account",
    "following representation",
    "make representations on",
    "representation on the draft",
    # petitions
    "we the undersigned",
    "petition has been signed",
    "signatures",
    # invoices and supplier mail
    "please find attached invoice",
    "bank details have changed",
    "change of bank details",
    "update your supplier records",
    "accounts payable",
    "remain unpaid",
    "arrange payment",
    "overdue account",
    "due for payment",
    # marketing and newsletters
    "book your place",
    "early bird",
    "delegate passes",
    "to stop receiving these emails",
    "read more",
    "you are receiving this because",
    # job applications
    "apply for the",
    "covering letter",
    "hiring manager",
    "vacancy",
    # press releases
    "press release",
    "embargoed",
    "notes to editors",
    "for media enquiries",
)

# Follow-ups on earlier mail, in the writer's words; read in the new text only.
FOLLOW_UP: Final = (
    "further to my request",
    "further to my email",
    "further to my previous",
    "further to our conversation",
    "my request of",
    "my previous request",
    "my original request",
    "my earlier request",
    "i made a request",
    "i sent a request",
    "the request i made",
    "any update on",
    "any update please",
    "any news on my request",
    "still waiting for",
    "i am still waiting",
    "i'm still waiting",
    "have heard nothing",
    "have not received an answer",
    "have still not received",
    "chasing",
    "my request below",
    "i should have said",
    "just to add",
    "to clarify my request",
)

# What our own letters say, seen quoted back (a chaser forwarding our acknowledgement).
OUR_LETTER: Final = (
    "thank you for your request for information",
    "your reference is",
    "we will respond by",
)

# A person's own data, in the words people use (beyond `phrases.SUBJECT_ACCESS`).
SUBJECT_ACCESS_MORE: Final = (
    "article 15 of the uk gdpr",
    "article 15 of the gdpr",
    "all personal data the council holds about me",
    "personal data the council holds about me",
    "personal data you hold",
    "sent about me",
    "written about me",
    "emails about me",
    "records about me",
    "everything you have got on me",
    "everything you have on me",
    "you hold on me",
    "held on me",
    "my housing file",
    "my social care file",
    "my file",
    "my records",
    "my council tax records",
)

# More environmental wording (EIR reg 2(1)): nature surveys, monitoring, development control.
ENVIRONMENTAL_MORE: Final = (
    "felling",
    "felled",
    "arboricultural",
    "tree survey",
    "bat survey",
    "bat",
    "ecologist",
    "ecology",
    "ecological",
    "diffusion tube",
    "no2",
    "air monitoring",
    "monitoring site",
    "flood defence",
    "embankment",
    "planning officer",
    "pre-application",
    "planning committee",
    "planning decision",
    "redevelopment",
    "hedgerow removal",
)
