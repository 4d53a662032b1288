"""The triage commands on the command line share the email commands' implementation."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from foi_mailbot.cli import app
from tests.conftest import FIXTURES

runner = CliRunner()


def _config(tmp_path: Path) -> str:
    path = tmp_path / "foi-mailbot.toml"
    path.write_text(
        f'[organisation]\nreference_secret = "s"\nmailbox_address = "foi@example.gov.uk"\n'
        f'staff_domains = ["example.gov.uk"]\n[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[mailbox]\nmaildir = "{tmp_path / "maildir"}"\n[health]\nport = 0\n',
        encoding="utf-8",
    )
    return str(path)


def _store(config: str, *names: str) -> None:
    """Requests taken in as the daemon would (not `ingest`, whose log handler outlives the
    runner's captured stream)."""
    from foi_mailbot.bootstrap import build
    from foi_mailbot.ingest import store
    from foi_mailbot.settings import load_settings
    from foi_mailbot.sources import RawMail

    app_ = build(load_settings(Path(config)))
    for name in names:
        store(app_.factory, RawMail(f"test:{name}", "foi@example.gov.uk", "INBOX", None, None,
                                    app_.clock.now(), (FIXTURES / name).read_bytes(), "inbound"),
              app_.clock)
    app_.pipeline.run_pending()
    app_.close()


def _cases(config: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["cases", "list", "--json", "--config", config])
    assert 0 == result.exit_code, result.output
    return list(reversed(json.loads(result.output)))


def test_received_close_reopen_and_merge_from_the_command_line(tmp_path: Path) -> None:
    """Each command says what it did and the case's new state; a refused one changes nothing."""
    config = _config(tmp_path)
    _store(config, "new_request_plain_foia.eml", "new_request_journalist.eml")
    first, second = (str(c["reference"]) for c in _cases(config))

    received = runner.invoke(app, ["cases", "received", first, "2026-01-02", "-c", config])
    closed = runner.invoke(app, ["cases", "close", first, "refused", "-c", config])
    again = runner.invoke(app, ["cases", "close", first, "maybe", "-c", config])
    reopened = runner.invoke(app, ["cases", "reopen", first, "-c", config])
    merged = runner.invoke(app, ["cases", "merge", second, first, "-c", config])

    assert 0 == received.exit_code, received.output
    assert f"{first} received on 2026-01-02" in received.output
    assert f"{first} closed (refused)" in closed.output
    assert 0 != again.exit_code and "not one we know" in again.output
    assert f"{first} reopened" in reopened.output
    assert f"{second} merged into {first}" in merged.output
    statuses = {str(c["reference"]): c["status"] for c in _cases(config)}
    assert "closed" == statuses[second]


def test_triage_lists_nothing_when_nothing_is_open(tmp_path: Path) -> None:
    """An empty queue says so."""
    result = runner.invoke(app, ["triage", "-c", _config(tmp_path)])

    assert 0 == result.exit_code, result.output
    assert "Nothing needs a person." in result.output
