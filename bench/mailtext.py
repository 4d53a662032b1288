"""The words of the benchmark mix: names, topics, sentences and headers that `bench.seed` draws on.

Kept apart from the assembly in `bench.seed` so each stays readable; every function takes the
message's own `random.Random`, so the text is as deterministic as the rest of the mix.
"""

from __future__ import annotations

import math
import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape


@dataclass(frozen=True)
class Person:
    """A correspondent: display name (perhaps non-ASCII) and address."""

    name: str
    email: str

    def header(self) -> str:
        """The address as a header value."""
        return f"{self.name} <{self.email}>"


FIRST_NAMES = ("Michael", "Sarah", "David", "Emma", "James", "Olivia", "Mohammed", "Aisha",
               "Thomas", "Chloe", "Daniel", "Priya", "Rhys", "Megan", "Callum", "Fiona", "Tom",
               "Hannah", "Oliver", "Grace", "Kwame", "Amara", "Liam", "Niamh")
LAST_NAMES = ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
              "Okafor", "Patel", "Khan", "Thomas", "Roberts", "Walker", "Wright", "Hughes",
              "MacLeod", "Campbell", "O'Neill", "Murphy", "Edwards", "Green", "Hall", "Lewis")
ACCENTED_NAMES = (("Zoë", "Brontë"), ("José", "Álvarez"), ("Siobhán", "Ní Bhriain"),
                  ("Łukasz", "Wójcik"), ("Antonín", "Dvořák"), ("Søren", "Kierkegård"),
                  ("François", "Lefèvre"), ("Çağla", "Yıldız"), ("Björn", "Müller"),
                  ("Ana", "Conceição"), ("Dafydd", "ap Siôn"), ("Renée", "Côté"))
APPLICANT_DOMAINS = ("gmail.com", "gmail.com", "outlook.com", "hotmail.co.uk", "btinternet.com",
                     "yahoo.co.uk", "icloud.com", "whatdotheyknow.com", "bbc.co.uk", "proton.me")
TOPICS = (
    ("agency staff spending", ("the total spent on agency staff",
                               "the five agencies paid the most", "agency workers over a year")),
    ("pothole repairs", ("potholes reported", "potholes repaired within 28 days",
                         "compensation claims for pothole damage")),
    ("parking fines", ("penalty charge notices issued", "notices cancelled on appeal",
                       "income from parking enforcement")),
    ("consultancy contracts", ("contracts with management consultants", "the value of each",
                               "the procurement route used")),
    ("council tax arrears", ("households in arrears", "liability orders obtained",
                             "cases passed to enforcement agents")),
    ("temporary accommodation", ("households in temporary accommodation",
                                 "the average length of stay", "spending on bed and breakfast")),
    ("IT systems", ("the case management systems in use", "annual licence costs",
                    "contract end dates")),
    ("senior salaries", ("posts paid over 100,000 pounds", "bonuses paid",
                         "severance payments")),
    ("school transport", ("pupils given free transport", "the cost per pupil",
                          "complaints about late buses")),
    ("library closures", ("libraries closed since 2020", "visitor numbers", "volunteer hours")),
    ("air quality monitoring", ("air quality monitoring stations", "nitrogen dioxide readings",
                                "air pollution action plans")),
    ("flooding and drainage", ("properties flooded", "drainage works completed",
                               "flood risk assessments")),
    ("tree felling", ("street trees felled", "tree preservation orders",
                      "replacement planting")),
    ("waste and recycling", ("household waste collected", "recycling rates",
                             "fly-tipping incidents")),
)
STAFF_SUBJECTS = ("Note for file", "Search completed", "Draft response attached",
                  "Question about exemption", "Information from Finance", "Handover")
OUR_SUBJECTS = ("Your request for information", "Your information request",
                "Internal review of your request")
NEWSLETTER_SUBJECTS = ("Public Sector Weekly: procurement news", "Local Government Digest",
                       "Information Rights Bulletin - this month", "Webinar: records management")
NOT_FOI_SUBJECTS = ("Invoice 48213 - payment is now overdue", "Remittance advice",
                    "I wish to complain about my bin collection", "Quick question about SEO",
                    "Job application - Information Governance Officer")
LISTS = (Person("Public Sector Weekly", "news@publicsectorweekly.example.net"),
         Person("Information Rights Forum", "forum@inforights.example.org"))
COMPANIES = (Person("Accounts Receivable", "ar@supplier.example.com"),
             Person("Growth Marketing", "hello@seo-agency.example.com"),
             Person("Resident Services", "resident@example.org"))
ATTACHMENT_TYPES = (
    ("request-{n}.pdf", "application", "pdf", b"%PDF-1.7\n"),
    ("scan-{n}.pdf", "application", "pdf", b"%PDF-1.4\n"),
    ("IMG_{n}.jpg", "image", "jpeg", b"\xff\xd8\xff\xe0"),
    ("letter-{n}.docx", "application",
     "vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04"),
    ("figures-{n}.xlsx", "application",
     "vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
)
SENTENCES = (
    "I hope this message finds you well.",
    "Thank you for your help with this matter.",
    "Please let me know if anything is unclear.",
    "I have copied in the relevant team for information.",
    "The figures for the last three financial years would be most helpful.",
    "If the information is held in a spreadsheet, I would be grateful to receive it in that form.",
    "I understand that some of this may already be published on your website.",
    "If so, please point me to the exact page rather than the home page.",
    "We discussed this briefly at the meeting last Tuesday.",
    "The attached notes set out the position as it stood at the end of the quarter.",
    "I would prefer to receive the response by email.",
    "Please treat this as a matter of routine business.",
    "Our records show the account remains open.",
    "We will be in touch again once the review is complete.",
    "The deadline for comments is the end of next week.",
    "The service team has confirmed the numbers quoted above.",
)
NON_ASCII = ("£4,500", "café", "naïve", "résumé", "façade", "–", "“quoted”", "Zoë", "€120",
             "Ysgol Gymraeg Bro Ddyfi", "Llanelli – Pen-y-bont", "50 °C", "±5%")


def ascii_fold(value: str) -> str:
    """Letters without accents, for building addresses from names."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return folded.replace("ł", "l").replace("Ł", "L") or "user"


def body_size(rng: random.Random) -> int:
    """Characters of text in a message: log-normal, so most are short and a few long."""
    return min(200_000, max(400, int(rng.lognormvariate(math.log(11_000), 0.7))))


def filler(rng: random.Random, size: int, sign_off: str | None = None) -> str:
    """Paragraphs of ordinary correspondence, about `size` characters."""
    paragraphs: list[str] = []
    length = 0
    while length < size:
        paragraph = " ".join(rng.choices(SENTENCES, k=rng.randint(2, 6)))
        paragraphs.append(_wrap(paragraph))
        length += len(paragraph) + 2
    if sign_off:
        paragraphs.append(f"Kind regards,\n\n{sign_off}")
    return "\n\n".join(paragraphs) + "\n"


def _wrap(paragraph: str, width: int = 76) -> str:
    lines, line = [], ""
    for word in paragraph.split():
        if line and len(line) + len(word) >= width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


def request_text(rng: random.Random, topic: tuple[str, tuple[str, ...]], name: str, size: int,
                 *, eir: bool = False) -> str:
    """A request for information on `topic`, with numbered questions."""
    law = ("the Environmental Information Regulations 2004" if eir
           else rng.choice(("the Freedom of Information Act 2000", "the FOI Act")))
    questions = "\n".join(f"{n}. {q.capitalize()} for each of the last three years."
                          for n, q in enumerate(topic[1], 1))
    opening = f"Dear Sir or Madam,\n\nUnder {law}, please provide the following information " \
              f"about {topic[0]}:\n\n{questions}\n\n"
    return opening + filler(rng, max(0, size - len(opening)), sign_off=name)


def clarification_text(rng: random.Random, name: str) -> str:
    """An applicant narrowing their request, as asked."""
    period = rng.choice(("the last two financial years", "2024/25 only", "the period since 2022"))
    return (f"Dear FOI team,\n\nThank you for your email. To clarify, I am asking about "
            f"{period}, and only about the services your council runs directly.\n\n"
            f"Kind regards,\n{name}")


def review_text(rng: random.Random, name: str) -> str:
    """An applicant asking for an internal review."""
    reason = rng.choice(("the exemption applied", "the late reply", "the missing figures"))
    return (f"Dear FOI team,\n\nI am writing to request an internal review of your response "
            f"to my request, because of {reason}.\n\nYours faithfully,\n{name}")


def subject_access_text(rng: random.Random, name: str, size: int) -> str:
    """A request for one's own personal data."""
    return ("Dear Data Protection Officer,\n\nThis is a subject access request for all "
            "personal data you hold about me.\n\n" + filler(rng, size // 3, sign_off=name))


def out_of_office(rng: random.Random, name: str) -> str:
    """An automatic reply."""
    back = rng.choice(("Monday", "the 14th", "next week"))
    return (f"This is an automatic reply. I am out of the office until {back} with limited "
            f"access to email.\n\n{name}\n")


def staff_member(rng: random.Random, domain: str = "example.gov.uk") -> Person:
    """Someone at the authority (or a councillor)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return Person(f"{first} {last}", f"{first}.{last}@{domain}".lower().replace("'", ""))


def with_non_ascii(rng: random.Random, body: str, *, latin1: bool = False) -> str:
    """The text with currency signs, accents and typographic dashes sprinkled in."""
    choices = [w for w in NON_ASCII if not latin1 or max(map(ord, w)) < 256]
    words = body.split(" ")
    for _ in range(max(3, len(words) // 60)):
        spot = rng.randrange(len(words))
        words[spot] = f"{words[spot]} {rng.choice(choices)}"
    return " ".join(words)


def to_html(body: str) -> str:
    """The HTML alternative a desktop client would send with this text."""
    paragraphs = "\n".join(
        f'<p class="MsoNormal"><span style="font-size:11.0pt;font-family:Calibri,sans-serif">'
        f"{escape(p).replace(chr(10), '<br>')}</span></p>"
        for p in body.split("\n\n")
    )
    style = ("<style><!-- @font-face {font-family:Calibri;} p.MsoNormal, li.MsoNormal "
             "{margin:0cm;font-size:11.0pt;font-family:Calibri,sans-serif;} --></style>")
    return (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
            f'{style}</head><body lang="EN-GB"><div class="WordSection1">\n{paragraphs}\n'
            "</div></body></html>\n")


def transport_headers(rng: random.Random, domain: str, when: datetime) -> list[tuple[str, str]]:
    """Return-Path, Received hops and a DKIM signature, as a relay chain adds them."""
    hops = []
    for hop in range(rng.randint(2, 5)):
        stamp = format_datetime(when - timedelta(seconds=hop))
        relay = f"mail-{rng.randrange(10**6):06x}.{domain}"
        hops.append(("Received", f"from {relay} ({relay} [10.{hop}.{rng.randrange(256)}."
                                 f"{rng.randrange(256)}]) by mx1.example.gov.uk with ESMTPS id "
                                 f"{rng.randrange(16**12):012X}; {stamp}"))
    signature = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                                    k=344))
    dkim = (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s1; "
            f"h=from:to:subject:date:message-id; bh={signature[:44]}; b={signature}")
    return [("Return-Path", f"<bounce@{domain}>"), *hops, ("DKIM-Signature", dkim)]
