"""Benchmark corpus: a seeded, realistic mix of the mail an FOI mailbox receives, put into IMAP.

Message `i` of seed `s` is a pure function of `(s, i)`: its own `random.Random` picks the kind
(new requests, clarifications, internal reviews, auto-replies, bounces, list mail, staff mail,
other business, subject access requests, copies), the sender, the shape (plain, multipart
alternative, HTML only, Latin-1 or UTF-8 text) and, for about one in eight, attachments of
100 KB to 3.6 MB (up to 4.9 MB encoded). Sizes follow a real FOI mailbox's mix: median about
20 KB, about 1.4 GB for 10,000 messages. Clarifications and reviews answer an earlier request
of the same mix, by the same applicant, under the same subject. Every message is built with
`email.message.EmailMessage`; `seed_folder` builds them in worker processes and appends them in
order, so UIDs follow the index.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from imapclient import IMAPClient

from bench import mailtext as text
from bench.mailtext import Person

FULL_SIZE = 10_000
CORPUS_VERSION = 1  # bump when the mix changes, so cached copies are rebuilt
MAILBOX = "foi@example.gov.uk"
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
APPLICANTS = 2_500
APPEND_GROUP_BYTES = 8_000_000

KINDS = (
    ("new_request", 37), ("new_request_eir", 6), ("clarification", 9), ("internal_review", 3),
    ("auto_reply", 10), ("bounce", 5), ("list_mail", 9), ("staff", 9), ("not_foi", 7),
    ("subject_access", 2), ("copied", 3),
)
_NAMES, _WEIGHTS = zip(*KINDS, strict=True)
_REQUESTS = ("new_request", "new_request_eir")
_NO_ATTACHMENTS = ("auto_reply", "bounce")
ATTACHMENT_SHARE = 0.145  # of the kinds that may carry attachments: about 1 in 8 overall


@dataclass(frozen=True)
class Identity:
    """What later messages need to know about message `index`: kind, sender, topic."""

    kind: str
    applicant: int
    topic: int


def _rng(seed: int, index: int) -> random.Random:
    return random.Random(f"foi-bench:{seed}:{index}")


def identity(seed: int, index: int) -> Identity:
    """The first draws of message `index`: its kind, applicant number and topic number."""
    rng = _rng(seed, index)
    kind = rng.choices(_NAMES, _WEIGHTS)[0]
    return Identity(kind, rng.randrange(APPLICANTS), rng.randrange(len(text.TOPICS)))


def applicant(number: int) -> Person:
    """Applicant `number` of the pool; about one in six has a non-ASCII name."""
    rng = random.Random(f"applicant:{number}")
    if rng.random() < 0.17:
        first, last = rng.choice(text.ACCENTED_NAMES)
    else:
        first, last = rng.choice(text.FIRST_NAMES), rng.choice(text.LAST_NAMES)
    local = text.ascii_fold(f"{first}.{last}").lower().replace(" ", "").replace("'", "")
    domain = rng.choice(text.APPLICANT_DOMAINS)
    return Person(f"{first} {last}", f"{local}{number}@{domain}")


def request_subject(topic: int) -> str:
    """The subject a request on `topic` is sent under."""
    return f"Freedom of Information request - {text.TOPICS[topic][0]}"


def message_id(seed: int, index: int, domain: str) -> str:
    """A Message-ID shaped like a mail client's, unique per (seed, index)."""
    token = hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:32].upper()
    return f"<{token}@{domain}>"


def arrival(index: int) -> datetime:
    """When message `index` reached the server (one every 20 seconds)."""
    return START + timedelta(seconds=20 * index)


def _earlier_request(seed: int, index: int, rng: random.Random) -> int | None:
    """A recent earlier request of the mix, which a clarification or review answers."""
    start = index - rng.randint(1, 150)
    for candidate in range(start, max(-1, start - 40), -1):
        if candidate >= 0 and identity(seed, candidate).kind in _REQUESTS:
            return candidate
    return None


@dataclass
class Draft:
    """A message before it is assembled: headers, text, and what shape to give it."""

    sender: Person
    subject: str
    body: str
    to: str = MAILBOX
    headers: dict[str, str] = field(default_factory=dict)
    html_only: bool = False
    alternative: bool = True
    charset: str = "utf-8"


def _draft(seed: int, index: int, who: Identity, rng: random.Random) -> Draft:
    """The kind-specific part: sender, subject, text and special headers."""
    person = applicant(who.applicant)
    topic, size = text.TOPICS[who.topic], text.body_size(rng)
    if who.kind in ("clarification", "internal_review"):
        earlier = _earlier_request(seed, index, rng)
        if earlier is not None:
            return _reply_draft(seed, earlier, who.kind, rng, size)
        who = Identity("new_request", who.applicant, who.topic)
    if who.kind in _REQUESTS:
        eir = who.kind == "new_request_eir"
        return Draft(person, request_subject(who.topic),
                     text.request_text(rng, topic, person.name, size, eir=eir))
    if who.kind == "staff":
        officer = text.staff_member(rng)
        return Draft(officer, f"{rng.choice(text.STAFF_SUBJECTS)} - {topic[0]}",
                     text.filler(rng, size, sign_off=officer.name), to=MAILBOX)
    if who.kind == "copied":
        councillor = text.staff_member(rng, domain="councillors.example.gov.uk")
        return Draft(person, f"Re: {topic[0]}", text.filler(rng, size, sign_off=person.name),
                     to=councillor.header(), headers={"Cc": MAILBOX})
    return _other_draft(who, rng, person, size)


def _other_draft(who: Identity, rng: random.Random, person: Person, size: int) -> Draft:
    if who.kind == "auto_reply":
        return Draft(person, f"Automatic reply: {rng.choice(text.OUR_SUBJECTS)}",
                     text.out_of_office(rng, person.name),
                     headers={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"},
                     alternative=rng.random() < 0.5)
    if who.kind == "list_mail":
        sender = rng.choice(text.LISTS)
        return Draft(sender, rng.choice(text.NEWSLETTER_SUBJECTS), text.filler(rng, size * 2),
                     headers={"List-Id": f"<{sender.email.split('@')[0]}.lists.example.net>",
                              "List-Unsubscribe": f"<mailto:leave@{sender.email.split('@')[1]}>",
                              "Precedence": "bulk"},
                     html_only=rng.random() < 0.5)
    if who.kind == "subject_access":
        return Draft(person, "Subject access request",
                     text.subject_access_text(rng, person.name, size))
    company = rng.choice(text.COMPANIES)
    return Draft(company, rng.choice(text.NOT_FOI_SUBJECTS),
                 text.filler(rng, size, sign_off=company.name))


def _reply_draft(seed: int, earlier: int, kind: str, rng: random.Random, size: int) -> Draft:
    """A clarification or internal review from the applicant of request `earlier`."""
    first = identity(seed, earlier)
    person, subject = applicant(first.applicant), request_subject(first.topic)
    original = text.request_text(_rng(seed, earlier), text.TOPICS[first.topic], person.name,
                                 size // 2, eir=first.kind == "new_request_eir")
    parent = message_id(seed, earlier, person.email.split("@")[1])
    if kind == "clarification":
        reply, title = text.clarification_text(rng, person.name), f"Re: {subject}"
    else:
        reply, title = text.review_text(rng, person.name), f"Internal review of {subject}"
    quoted = "\n".join(f"> {line}" for line in original.splitlines())
    stamp = format_datetime(arrival(earlier))
    return Draft(person, title, f"{reply}\n\nOn {stamp}, {person.name} wrote:\n{quoted}\n",
                 headers={"In-Reply-To": parent, "References": parent})


def _shape(draft: Draft, rng: random.Random, who: Identity) -> Draft:
    """Pick the MIME shape and charset: HTML only, plain, alternative; UTF-8 or Latin-1."""
    roll = rng.random()
    if who.kind not in ("bounce", "list_mail") and roll < 0.1:
        draft.html_only = True
    elif roll < 0.55:
        draft.alternative = False
    if rng.random() < 0.15:
        latin1 = rng.random() < 0.3
        draft.body = text.with_non_ascii(rng, draft.body, latin1=latin1)
        if latin1 and _encodes(draft.body, "iso-8859-1"):
            draft.charset = "iso-8859-1"
    return draft


def _encodes(value: str, charset: str) -> bool:
    try:
        value.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def build(seed: int, index: int) -> bytes:
    """Message `index` of the mix for `seed`, as raw bytes."""
    rng = _rng(seed, index)
    who = identity(seed, index)
    for _ in range(3):
        rng.random()  # the three draws `identity` made
    if who.kind == "bounce":
        msg = _bounce(rng, index)
    else:
        draft = _shape(_draft(seed, index, who, rng), rng, who)
        msg = _assemble(draft, seed, index, rng)
        if who.kind not in _NO_ATTACHMENTS and rng.random() < ATTACHMENT_SHARE:
            _attach(msg, rng)
    return msg.as_bytes()


def new_request(seed: int, index: int) -> bytes:
    """A new FOIA request from applicant `index` (distinct for each index below APPLICANTS)."""
    rng = _rng(seed, -1 - index)
    person, topic = applicant(index), rng.randrange(len(text.TOPICS))
    body = text.request_text(rng, text.TOPICS[topic], person.name, text.body_size(rng))
    draft = Draft(person, request_subject(topic), body, alternative=rng.random() < 0.5)
    return _assemble(draft, seed, -1 - index, rng).as_bytes()


def _assemble(draft: Draft, seed: int, index: int, rng: random.Random) -> EmailMessage:
    msg = EmailMessage()
    domain = draft.sender.email.split("@")[1]
    for name, value in text.transport_headers(rng, domain, arrival(index)):
        msg[name] = value
    msg["From"] = draft.sender.header()
    msg["To"] = draft.to
    msg["Subject"] = draft.subject
    msg["Date"] = format_datetime(arrival(index) - timedelta(seconds=rng.randint(2, 90)))
    msg["Message-ID"] = message_id(seed, index, domain)
    for name, value in draft.headers.items():
        msg[name] = value
    cte = "quoted-printable" if draft.charset != "utf-8" else None
    html = text.to_html(draft.body)
    if draft.html_only:
        msg.set_content(html, subtype="html", charset=draft.charset, cte=cte)
    else:
        msg.set_content(draft.body, charset=draft.charset, cte=cte)
        if draft.alternative:
            msg.add_alternative(html, subtype="html", charset=draft.charset, cte=cte)
    return msg


def _attach(msg: EmailMessage, rng: random.Random) -> None:
    """One attachment (sometimes two): random bytes behind a plausible file type."""
    for _ in range(2 if rng.random() < 0.15 else 1):
        name, maintype, subtype, magic = rng.choice(text.ATTACHMENT_TYPES)
        raw = min(3_600_000, max(100_000, int(rng.lognormvariate(math.log(450_000), 0.8))))
        data = magic + rng.randbytes(raw - len(magic))
        msg.add_attachment(data, maintype=maintype, subtype=subtype,
                           filename=name.format(n=rng.randint(1, 999)))


def _bounce(rng: random.Random, index: int) -> EmailMessage:
    """A delivery status notification (RFC 3464) carrying one of our acknowledgements."""
    lost = applicant(rng.randrange(APPLICANTS))
    ours = EmailMessage()
    ours["From"] = f"Example Council FOI <{MAILBOX}>"
    ours["To"] = lost.email
    ours["Subject"] = "Your request for information"
    ours["Message-ID"] = f"<ack-{index}@example.gov.uk>"
    ours["Auto-Submitted"] = "auto-replied"
    ours.set_content(text.filler(rng, 1_500))
    msg = EmailMessage()
    for name, value in text.transport_headers(rng, "mx1.example.gov.uk", arrival(index)):
        msg[name] = value
    msg["From"] = "Mail Delivery System <MAILER-DAEMON@mx1.example.gov.uk>"
    msg["To"] = MAILBOX
    msg["Subject"] = "Undelivered Mail Returned to Sender"
    msg["Date"] = format_datetime(arrival(index))
    msg["Message-ID"] = f"<bounce-{index}@mx1.example.gov.uk>"
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(f"I'm sorry to have to inform you that your message could not\nbe "
                    f"delivered to one or more recipients.\n\n<{lost.email}>: 552 5.2.2 "
                    "Mailbox full\n")
    msg.make_mixed()
    msg.set_type("multipart/report")
    msg.set_param("report-type", "delivery-status")
    status = EmailMessage()
    status["Content-Type"] = "message/delivery-status"
    for fields in ({"Reporting-MTA": "dns; mx1.example.gov.uk"},
                   {"Final-Recipient": f"rfc822; {lost.email}", "Action": "failed",
                    "Status": "5.2.2", "Diagnostic-Code": "smtp; 552 5.2.2 Mailbox full"}):
        block = EmailMessage()
        for name, value in fields.items():
            block[name] = value
        status.attach(block)
    msg.attach(status)
    msg.add_attachment(ours)
    return msg


@dataclass
class Corpus:
    """What was seeded: counts by kind, sizes and how long building and appending took."""

    count: int = 0
    total_bytes: int = 0
    with_attachments: int = 0
    sizes: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, kind: str, raw: bytes) -> None:
        """Count one message of the mix."""
        self.count += 1
        self.total_bytes += len(raw)
        self.sizes.append(len(raw))
        self.kinds[kind] += 1
        self.with_attachments += b"filename=" in raw

    def summary(self) -> str:
        """One paragraph describing the mix."""
        median = statistics.median(self.sizes) if self.sizes else 0
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items(), key=lambda x: -x[1]))
        return (f"{self.count:,} messages, {self.total_bytes / 1e9:.2f} GB, median "
                f"{median / 1e3:.1f} KB, {self.with_attachments:,} with attachments "
                f"({self.with_attachments / max(1, self.count):.1%}); {kinds}")


def _built(job: tuple[int, int]) -> tuple[int, bytes]:
    seed, index = job
    return index, build(seed, index)


def generate(seed: int, count: int, workers: int = 2) -> Iterator[tuple[int, bytes]]:
    """Every message of the mix in index order, built by `workers` processes."""
    jobs = ((seed, i) for i in range(count))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_built, jobs, chunksize=8)


def messages(seed: int, count: int, cache_dir: Path | None) -> Iterator[tuple[int, bytes]]:
    """The mix in index order, read from `cache_dir` when an earlier run saved it there.

    Building takes minutes for the full mix (the email package is slow at writing MIME), and
    the bytes never change for a (seed, count), so they are kept as length-prefixed records.
    """
    if cache_dir is None:
        yield from generate(seed, count)
        return
    path = cache_dir / f"mix-seed{seed}-n{count}-v{CORPUS_VERSION}.bin"
    if path.is_file():
        with path.open("rb") as handle:
            for index in range(count):
                size = int.from_bytes(handle.read(8), "big")
                yield index, handle.read(size)
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        for index, raw in generate(seed, count):
            handle.write(len(raw).to_bytes(8, "big"))
            handle.write(raw)
            yield index, raw
    partial.replace(path)


def seed_folder(
    client: IMAPClient, folder: str, seed: int, count: int, cache_dir: Path | None = None
) -> Corpus:
    """Append the mix to `folder` in index order (MULTIAPPEND in groups of a few MB)."""
    started = time.perf_counter()
    corpus = Corpus()
    if not client.folder_exists(folder):
        client.create_folder(folder)
    group: list[dict[str, object]] = []
    pending = 0
    for index, raw in messages(seed, count, cache_dir):
        corpus.add(identity(seed, index).kind, raw)
        group.append({"msg": raw, "date": arrival(index)})
        pending += len(raw)
        if pending >= APPEND_GROUP_BYTES or len(group) >= 100:
            client.multiappend(folder, group)
            group, pending = [], 0
    if group:
        client.multiappend(folder, group)
    corpus.seconds = time.perf_counter() - started
    return corpus
