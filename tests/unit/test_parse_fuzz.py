"""Mutated and random mail through parse and classify: nothing may escape as an exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foi_mailbot.cases.reference import ReferenceCodec
from foi_mailbot.classify import classify
from foi_mailbot.classify.base import Classification, ClassifyContext
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.parsed import ParsedMail

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml")) if p.stat().st_size]
CODEC = ReferenceCodec("IC", "test-secret")
CONTEXT = ClassifyContext(
    mailbox_addresses=frozenset({"foi@example.gov.uk"}),
    staff_domains=frozenset({"example.gov.uk"}),
    find_references=CODEC.find,
)
NASTY = [b"\r", b"\n", b"\x00", b"\xff", b"=?", b"?=", b"--", b"<", b">", b":", b"\xc3", b"=\n"]


@st.composite
def flipped(draw: st.DrawFn) -> bytes:
    """A fixture with some bytes replaced."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 30))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    """A fixture cut off anywhere."""
    data = draw(st.sampled_from(SEEDS))
    return data[: draw(st.integers(0, len(data)))]


@st.composite
def duplicated_headers(draw: st.DrawFn) -> bytes:
    """A fixture with one header line repeated many times, at the top."""
    data = draw(st.sampled_from(SEEDS))
    head, _, body = data.partition(b"\n\n")
    lines = head.split(b"\n")
    line = draw(st.sampled_from(lines))
    copies = draw(st.integers(2, 200))
    return b"\n".join([line] * copies + lines) + b"\n\n" + body


@st.composite
def spliced(draw: st.DrawFn) -> bytes:
    """A fixture with awkward bytes, or random ones, inserted in places."""
    data = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 10))):
        at = draw(st.integers(0, len(data)))
        piece = draw(st.one_of(st.sampled_from(NASTY), st.binary(max_size=40)))
        data = data[:at] + piece + data[at:]
    return data


def random_mail() -> st.SearchStrategy[bytes]:
    """Random bytes, with or without a plausible header block in front."""
    header = st.sampled_from([b"", b"From: a@b.c\nSubject: x\n\n", b"Content-Type: multipart/mixed\n\n"])
    return st.builds(lambda h, b: h + b, header, st.binary(max_size=2000))


MUTATED = st.one_of(flipped(), truncated(), duplicated_headers(), spliced(), random_mail())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=MUTATED)
def test_mutated_mail_parses_and_classifies_without_raising(raw: bytes) -> None:
    """Byte flips, truncation, duplicated headers and random bytes never raise."""
    mail = parse(raw)
    result = classify(mail, CONTEXT)

    assert isinstance(mail, ParsedMail)
    assert isinstance(result, Classification)
    assert not [d for d in mail.defects if d.startswith("parse_error: headers")]
    assert all("\n" not in v and "\r" not in v for v in mail.headers.values())
    assert "\x00" not in mail.text
    people = [a for a in (mail.from_addr, *mail.to, *mail.cc, *mail.reply_to) if a is not None]
    names = [part for a in people for part in (a.name, a.email)]
    files = [f.filename for f in mail.attachments]
    texts = [mail.subject, mail.text, mail.new_text, *mail.headers.values(), *mail.defects]
    for value in (*texts, *names, *files, *mail.thread_ids):
        value.encode("utf-8")  # raises on lone surrogates, which no database can store
