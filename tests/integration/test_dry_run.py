"""`once --dry-run` on a Dovecot mailbox of 50 messages: 50 decisions printed; the database,
the mailbox and the outbox are as they were."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from foi_mailbot.cli import app
from foi_mailbot.storage.models import Base
from tests.integration.daemon_process import write_config
from tests.integration.harness import FIXTURES, fixture_mail
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

runner = CliRunner()
KINDS = ("new_request_", "clarification_", "review_request_", "not_foi_", "auto_reply_",
         "copied_")


def _box(dovecot: Dovecot) -> int:
    """50 messages of every kind, each with a Message-ID of its own."""
    names = sorted(p.name for p in FIXTURES.glob("*.eml") if p.name.startswith(KINDS))
    chosen = (names * 2)[:50]
    with dovecot.client() as imap:
        imap.multiappend("INBOX", [
            {"msg": fixture_mail(name, Message_ID=f"<dry-{n}@example.net>"), "flags": ()}
            for n, name in enumerate(chosen)])
    return len(chosen)


def _counts(db: str) -> dict[str, int]:
    engine = create_engine(db)
    with engine.connect() as conn:
        counts = {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0)
                  for t in Base.metadata.sorted_tables}
    engine.dispose()
    return counts


def _mailbox(dovecot: Dovecot) -> tuple[object, ...]:
    with dovecot.client() as imap:
        folders = sorted(str(f[2]) for f in imap.list_folders())
    # \Recent belongs to whichever session saw the message first, not to the message.
    flags = {uid: set(f) - {b"\\Recent"} for uid, f in dovecot.flags("INBOX").items()}
    return (folders, dovecot.list_uids("INBOX"), flags)


def test_a_dry_run_prints_a_decision_for_each_message_and_changes_nothing(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink,
) -> None:
    db = f"sqlite:///{tmp_path / 'dry.db'}"
    config = write_config(tmp_path / "config.toml", db=db, dovecot=dovecot, sink=smtp_sink,
                          data_dir=tmp_path / "data")
    assert 0 == runner.invoke(app, ["db", "upgrade", "--config", str(config)]).exit_code
    waiting = _box(dovecot)
    database, mailbox = _counts(db), _mailbox(dovecot)

    result = runner.invoke(app, ["once", "--dry-run", "--config", str(config)])

    assert 0 == result.exit_code, result.output
    decisions = [line for line in result.output.splitlines() if line.startswith("message ")]
    assert waiting == len(decisions) == 50
    assert any("[letter: acknowledgement to " in line for line in decisions)
    assert any("[flagged: " in line for line in decisions)
    assert "50 messages decided; nothing was stored, sent or moved" in result.output
    assert database == _counts(db)
    assert mailbox == _mailbox(dovecot)
    assert [] == smtp_sink.messages
