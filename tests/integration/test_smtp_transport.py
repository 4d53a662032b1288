"""SmtpTransport against a real SMTP server (the aiosmtpd sink): delivery and error classes."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr

from foi_mailbot.errors import PermanentError, TransientError
from foi_mailbot.outbound.compose import compose
from foi_mailbot.outbound.transport import FolderTransport, SmtpTransport, make_transport
from foi_mailbot.parsing.parsed import Address
from foi_mailbot.settings import PathSettings, Settings, SmtpSettings
from tests.servers.smtp_sink import SmtpSink, free_port


def _message(message_id: str = "ack-1@foi.example.gov.uk") -> bytes:
    """A composed acknowledgement as the outbox stores it."""
    return _composed(message_id).as_bytes(policy=policy.SMTP)


def _composed(message_id: str) -> EmailMessage:
    return compose(
        from_addr="foi@example.gov.uk",
        from_name="Example Council",
        to=Address(name="J Roberts", email="applicant@example.org"),
        subject="[IC-000123-N1W5] Secondment offer",
        text="Thank you for your request.\n",
        html="<p>Thank you for your request.</p>\n",
        message_id=message_id,
        in_reply_to="request-1@mail.example.org",
        references=["request-1@mail.example.org"],
        date=datetime(2021, 6, 14, 9, 0, tzinfo=UTC),
    )


def _transport(sink: SmtpSink, **overrides: object) -> SmtpTransport:
    values: dict[str, object] = {
        "host": sink.host,
        "port": sink.port,
        "security": "none",
        "timeout_seconds": 5.0,
    }
    values.update(overrides)
    return SmtpTransport(SmtpSettings.model_validate(values))


def test_smtp_transport_delivers_with_auto_reply_headers(smtp_sink: SmtpSink) -> None:
    """A sent acknowledgement arrives once, to the applicant, marked as an automatic reply."""
    _transport(smtp_sink).send(_message())

    [delivery] = smtp_sink.messages
    assert ("applicant@example.org",) == delivery.rcpt_tos
    assert "foi@example.gov.uk" == delivery.envelope_from
    received = delivery.message
    assert "auto-replied" == received["Auto-Submitted"]
    assert "All" == received["X-Auto-Response-Suppress"]
    assert "auto_reply" == received["Precedence"]
    assert "<request-1@mail.example.org>" == received["In-Reply-To"]
    assert "<ack-1@foi.example.gov.uk>" == received["Message-ID"]


def test_a_message_stored_as_bytes_is_sent_byte_for_byte(smtp_sink: SmtpSink) -> None:
    """The outbox keeps raw bytes and sends them as they are: what arrives is what was stored."""
    stored = _message()

    _transport(smtp_sink).send(stored)

    [delivery] = smtp_sink.messages
    assert stored == delivery.raw


def test_starttls_against_a_server_without_it_is_a_permanent_error(smtp_sink: SmtpSink) -> None:
    """Asking for STARTTLS from a server that lacks it is a setting to fix, not to retry."""
    with pytest.raises(PermanentError, match="lacks a feature"):
        _transport(smtp_sink, security="starttls").send(_message())
    assert [] == smtp_sink.messages


def test_smtp_transport_logs_in_when_a_username_is_set() -> None:
    """With credentials configured the transport authenticates, and a wrong password is permanent."""
    with SmtpSink(credentials=("foi", "s3cret")) as sink:
        _transport(sink, username="foi", password=SecretStr("s3cret")).send(_message())
        with pytest.raises(PermanentError, match="535"):
            _transport(sink, username="foi", password=SecretStr("wrong")).send(_message("b@x.test"))

        assert 1 == len(sink.messages)


@pytest.mark.parametrize("command", ["RCPT", "DATA"])
def test_a_4xx_reply_is_a_transient_error(smtp_sink: SmtpSink, command: str) -> None:
    """A temporary refusal (451) is retried later, and the retry then gets through."""
    smtp_sink.fail_next(code=451, times=1, command=command)  # type: ignore[arg-type]
    transport = _transport(smtp_sink)

    with pytest.raises(TransientError, match="451"):
        transport.send(_message())
    transport.send(_message())

    assert 1 == len(smtp_sink.messages)


@pytest.mark.parametrize("command", ["RCPT", "DATA"])
def test_a_5xx_reply_is_a_permanent_error(smtp_sink: SmtpSink, command: str) -> None:
    """A permanent refusal (550) needs a person; nothing is delivered."""
    smtp_sink.fail_next(code=550, times=1, command=command)  # type: ignore[arg-type]

    with pytest.raises(PermanentError, match="550"):
        _transport(smtp_sink).send(_message())
    assert [] == smtp_sink.messages


def test_refusal_messages_do_not_repeat_the_recipient_address(smtp_sink: SmtpSink) -> None:
    """Error text is logged, so addresses the server echoes back are redacted from it."""
    smtp_sink.fail_next(code=550, command="RCPT")

    with pytest.raises(PermanentError) as caught:
        _transport(smtp_sink).send(_message())
    assert "applicant@example.org" not in str(caught.value)


def test_a_refused_connection_is_a_transient_error(smtp_sink: SmtpSink) -> None:
    """While the server is down sending fails transiently; once it is back, sending works."""
    transport = _transport(smtp_sink)
    smtp_sink.stop()

    with pytest.raises(TransientError, match="connection"):
        transport.send(_message())
    smtp_sink.start()
    transport.send(_message())

    assert 1 == len(smtp_sink.messages)


def test_a_server_that_stops_answering_is_a_transient_error(smtp_sink: SmtpSink) -> None:
    """A reply to DATA that never comes within the client timeout is retried later."""
    smtp_sink.stall(30.0)

    with pytest.raises(TransientError):
        _transport(smtp_sink, timeout_seconds=0.5).send(_message())


def test_nothing_listening_on_the_port_is_a_transient_error() -> None:
    """A wrong or closed port is reported as a passing failure, with host and port."""
    transport = SmtpTransport(SmtpSettings(host="127.0.0.1", port=free_port(), security="none"))

    with pytest.raises(TransientError, match=r"127\.0\.0\.1"):
        transport.send(_message())


def test_make_transport_picks_smtp_only_when_a_host_is_set(tmp_path: Path) -> None:
    """No SMTP host means messages are written to the outgoing folder."""
    folder = make_transport(Settings(paths=PathSettings(data_dir=tmp_path)))
    smtp = make_transport(Settings(smtp=SmtpSettings(host="smtp.example.gov.uk")))

    assert isinstance(folder, FolderTransport)
    assert tmp_path / "outgoing" == folder.folder
    assert isinstance(smtp, SmtpTransport)


def test_folder_transport_writes_each_message_once(tmp_path: Path) -> None:
    """Sending the same message twice leaves one complete .eml file and no temporary file."""
    transport = FolderTransport(tmp_path / "out")
    message = _message()

    transport.send(message)
    transport.send(_message())
    transport.send(_message("other@foi.example.gov.uk"))

    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert [
        "20210614T090000Z-ack-1@foi.example.gov.uk.eml",
        "20210614T090000Z-other@foi.example.gov.uk.eml",
    ] == names
    written = (tmp_path / "out" / names[0]).read_bytes()
    assert message == written


def test_folder_transport_names_hostile_message_ids_safely(tmp_path: Path) -> None:
    """A Message-ID with path characters cannot escape the folder, and stays distinct."""
    transport = FolderTransport(tmp_path)

    transport.send(_message("../../etc/passwd@x"))
    transport.send(_message(".._.._etc_passwd@x"))

    names = [p.name for p in tmp_path.iterdir()]
    assert 2 == len(names)
    assert all("/" not in n and n.endswith(".eml") for n in names)


def test_acceptance_is_reported_while_the_server_holds_the_message(smtp_sink: SmtpSink) -> None:
    """`on_accepted` runs once the server has taken the message, and never on a refusal."""
    seen: list[int] = []
    transport = _transport(smtp_sink)

    transport.send(_message(), on_accepted=lambda: seen.append(len(smtp_sink.messages)))
    smtp_sink.fail_next(code=550, times=1, command="DATA")  # type: ignore[arg-type]
    with pytest.raises(PermanentError):
        transport.send(_message("ack-2@foi.example.gov.uk"), on_accepted=lambda: seen.append(-1))

    assert [1] == seen


def test_the_envelope_is_read_from_the_header_block(smtp_sink: SmtpSink) -> None:
    """To and Cc recipients (each once) get the message; the sender comes from the settings."""
    raw = (b"From: =?utf-8?q?Caf=C3=A9?= <foi@example.gov.uk>\r\n"
           b"To: A <a@example.org>, b@example.org\r\nCc: a@example.org, c@example.org\r\n"
           b"Subject: x\r\nMessage-ID: <m-1@foi.example.gov.uk>\r\n\r\nbody\r\n")

    _transport(smtp_sink, from_address="bounces@example.gov.uk").send(raw)

    [delivery] = smtp_sink.messages
    assert ("a@example.org", "b@example.org", "c@example.org") == delivery.rcpt_tos
    assert "bounces@example.gov.uk" == delivery.envelope_from


def test_a_stored_message_with_a_bcc_header_is_refused_not_leaked(smtp_sink: SmtpSink) -> None:
    """Sent as stored, a Bcc header would reach every recipient: a person decides instead."""
    raw = _message().replace(b"\r\nSubject:", b"\r\nBcc: hidden@example.org\r\nSubject:", 1)

    with pytest.raises(PermanentError, match="Bcc"):
        _transport(smtp_sink).send(raw)

    assert [] == smtp_sink.messages
