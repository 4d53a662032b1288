"""`foi-mailbot deadline`: the ICO's worked examples, events, and one-sentence errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from foi_mailbot.cli import app

runner = CliRunner()


def _due(*args: str) -> str:
    result = runner.invoke(app, ["deadline", *args, "--json"])
    assert 0 == result.exit_code, result.output
    data = json.loads(result.output)
    assert data["explanation"]
    return str(data["due"])


def test_ico_example_received_on_a_sunday() -> None:
    """Received Sun 13 Jun 2021 -> due Fri 9 Jul 2021 (ICO acknowledgement)."""
    assert "2021-07-09" == _due("--law", "foia", "--received", "2021-06-13")


def test_ico_example_across_regional_bank_holidays() -> None:
    """Received Wed 7 Jul 2021 -> due Fri 6 Aug 2021: 12 Jul (NI) and 2 Aug (Scotland) skipped."""
    assert "2021-08-06" == _due("--law", "foia", "--received", "2021-07-07")


def test_clarification_restarts_the_clock_from_the_command_line() -> None:
    """A clarification received restarts the 20 working days from that day."""
    restarted = _due("--law", "foia", "--received", "2026-01-05",
                     "--event", "clarification_sought:2026-01-07",
                     "--event", "clarification_received:2026-01-20")

    assert _due("--law", "foia", "--received", "2026-01-20") == restarted


def test_text_output_explains_the_skipped_days() -> None:
    """Without --json the explanation names the holidays skipped."""
    result = runner.invoke(app, ["deadline", "--law", "foia", "--received", "2021-07-07"])

    assert 0 == result.exit_code
    assert "Northern Ireland" in result.output
    assert "2021-08-06" in result.output


def _error(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert 2 == result.exit_code, result.output
    assert "Traceback" not in result.output
    return result.output


def test_unknown_law_is_one_sentence_and_exit_2() -> None:
    """An unknown law names the laws that exist."""
    assert "not a law" in _error("deadline", "--law", "gdpr", "--received", "2021-06-13")


def test_impossible_date_is_one_sentence_and_exit_2() -> None:
    """30 February is refused in words."""
    assert "not a real date" in _error("deadline", "--law", "foia", "--received", "2021-02-30")


def test_fees_paid_before_notice_is_one_sentence_and_exit_2() -> None:
    """A payment with no fees notice before it is refused in words."""
    output = _error("deadline", "--law", "foia", "--received", "2026-01-05",
                    "--event", "fees_paid:2026-01-10")

    assert "fees" in output.lower()


def test_wrong_config_type_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    """A config value of the wrong type names the key."""
    config = tmp_path / "bad.toml"
    config.write_text('[mailbox]\nport = "abc"\n')

    output = _error("deadline", "--law", "foia", "--received", "2026-01-05",
                    "--config", str(config))

    assert "mailbox.port" in output


def test_check_config_names_each_wrong_key(tmp_path: Path) -> None:
    """check-config lists every problem and exits non-zero."""
    config = tmp_path / "bad.toml"
    config.write_text('[organisation]\nbogus = 1\njurisdiction = "wales"\n')

    output = _error("check-config", "--config", str(config))

    assert "organisation.bogus" in output
    assert "organisation.jurisdiction" in output
