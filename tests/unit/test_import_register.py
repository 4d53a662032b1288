"""`import-register`: an old case system's register comes over; mail quoting its references
finds the imported cases."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from foi_mailbot.bootstrap import build
from foi_mailbot.cases.legacy import compile_patterns, find_legacy
from foi_mailbot.cli import app
from foi_mailbot.settings import load_settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import AuditEntry, Case, CaseEvent

runner = CliRunner()
PATTERNS = {"old_system": r"FOI-\d{4}-\d{4}"}
BAD = {  # line in the file -> what is wrong with it (the header is line 1)
    **dict.fromkeys(range(50, 55), ("received", "2025-02-30")),
    **dict.fromkeys(range(100, 105), ("law", "freedom")),
    **dict.fromkeys(range(200, 205), ("requester_email", "not an address")),
    **dict.fromkeys(range(300, 305), ("status", "lost")),
}


def _register(path: Path) -> Path:
    """1,000 rows as the old system exported them; 20 of them wrong."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["reference", "requester_email", "requester_name", "subject",
                         "received", "law", "status", "due"])
        for n in range(1000):
            line = n + 2
            received = date(2026, 9, 1) + timedelta(days=n % 60)
            row = {"reference": f"FOI-{2026 - n % 3}-{n:04d}",
                   "requester_email": f"person{n}@example.com",
                   "requester_name": f"Person {n}", "subject": f"Request number {n}",
                   "received": received.isoformat(), "law": "eir" if n % 7 == 0 else "foia",
                   "status": "closed" if n % 4 == 0 else "open",
                   "due": (received + timedelta(days=28)).isoformat() if n % 2 else ""}
            if line in BAD:
                column, value = BAD[line]
                row[column] = value
            writer.writerow(row.values())
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    return {"FOI_MAILBOT_PATHS__DATA_DIR": str(tmp_path / "data"),
            "FOI_MAILBOT_MAILBOX__MAILDIR": str(tmp_path / "maildir"),
            "FOI_MAILBOT_ORGANISATION__LEGACY_REFERENCE_PATTERNS": json.dumps(PATTERNS)}


def test_a_register_of_1000_rows_imports_the_good_names_the_bad_and_twice_is_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str,
) -> None:
    env = {**_env(tmp_path), "FOI_MAILBOT_DATABASE__URL": db_url}
    csv_file = _register(tmp_path / "register.csv")

    first = runner.invoke(app, ["import-register", str(csv_file)], env=env)
    second = runner.invoke(app, ["import-register", str(csv_file)], env=env)

    assert "980 cases imported, 0 already in the register, 20 bad rows skipped." in first.output
    for line, (column, _value) in BAD.items():
        assert f"line {line}: the {column.replace('requester_email', 'requester address')}" in (
            first.output)
    assert "0 cases imported, 980 already in the register" in second.output
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    built = build(load_settings(None))
    with session_scope(built.factory) as session:
        assert 980 == session.scalar(select(func.count()).select_from(Case))
        assert 980 == session.scalar(select(func.count()).select_from(CaseEvent))
        assert 980 == session.scalar(select(func.count()).select_from(AuditEntry)
                                     .where(AuditEntry.action == "case.imported"))
        given = session.scalars(select(Case).where(Case.reference == "FOI-2025-0001")).one()
        computed = session.scalars(select(Case).where(Case.reference == "FOI-2026-0000")).one()
        assert (date(2026, 9, 30), "imported") == (given.due_on, given.deadline["basis"])
        assert computed.due_on is not None and "imported" != computed.deadline["basis"]
    built.close()


def test_mail_quoting_an_old_reference_finds_the_imported_case(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runner.invoke(app, ["import-register", str(_register(tmp_path / "register.csv"))], env=env)
    reply = tmp_path / "reply.eml"
    reply.write_bytes(
        b"From: Person 10 <person10@example.com>\r\nTo: foi@example.gov.uk\r\n"
        b"Subject: Re: your ref FOI-2025-0010\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
        b"Message-ID: <old-ref-reply@example.com>\r\n\r\n"
        b"Dear FOI team,\r\n\r\nTo clarify my request FOI-2025-0010: I only need 2025.\r\n")

    runner.invoke(app, ["ingest", str(reply)], env=env)
    shown = json.loads(runner.invoke(app, ["cases", "show", "FOI-2025-0010", "--json"],
                                     env=env).output)

    assert [] == json.loads(runner.invoke(app, ["triage", "--json"], env=env).output)
    assert any(item["message"] for item in shown["timeline"])


def test_old_references_are_found_whole_and_once() -> None:
    patterns = compile_patterns(PATTERNS)

    found = find_legacy("ref FOI-2025-0010, again foi-2025-0010; not XFOI-2025-00101", patterns)

    assert ["FOI-2025-0010"] == [f.reference for f in found]
