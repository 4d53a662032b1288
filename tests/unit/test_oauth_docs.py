"""The configurations in docs/microsoft-365.md and docs/google-workspace.md are accepted as
written (with the files they name in place), and name a usable token source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foi_mailbot.cli import app as cli
from foi_mailbot.clock import SystemClock
from foi_mailbot.oauth import shared_tokens, tokens_for
from foi_mailbot.settings import load_settings

DOCS = Path(__file__).parents[2] / "docs"


def _config_from(doc: str, tmp_path: Path) -> Path:
    text = (DOCS / doc).read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.DOTALL)
    assert block, f"{doc} has no TOML block"
    config = block.group(1).replace("/etc/foi-mailbot/", f"{tmp_path}/")
    for name in re.findall(rf"{re.escape(str(tmp_path))}/([\w.]+)", config):
        (tmp_path / name).write_text("a-secret-value-for-the-test", encoding="utf-8")
    path = tmp_path / "foi-mailbot.toml"
    path.write_text(config, encoding="utf-8")
    return path


@pytest.mark.parametrize("doc", ["microsoft-365.md", "google-workspace.md"])
def test_the_documented_configuration_passes_check_config(doc: str, tmp_path: Path) -> None:
    """What an administrator copies from the guide is valid, templates and all."""
    config = _config_from(doc, tmp_path)
    result = CliRunner().invoke(cli, ["check-config", "--config", str(config)])
    assert 0 == result.exit_code, result.output
    settings = load_settings(config)
    shared = shared_tokens(settings, SystemClock())
    assert shared is not None
    assert shared is tokens_for(settings.mailbox, shared, "mailbox")
    assert shared is tokens_for(settings.smtp, shared, "smtp")


def test_check_config_names_a_missing_oauth_setting(tmp_path: Path) -> None:
    """xoauth2 without a tenant is caught by plain check-config, before any login."""
    config = tmp_path / "foi-mailbot.toml"
    config.write_text(
        '[mailbox]\nhost = "outlook.office365.com"\nusername = "foi@example.gov.uk"\n'
        'auth = "xoauth2"\n[oauth]\nprovider = "microsoft"\nclient_id = "c"\n'
        'client_secret_file = "/run/secrets/x"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-config", "--config", str(config)])
    assert 2 == result.exit_code
    assert 'wrong: oauth.provider = "microsoft" needs oauth.tenant_id and oauth.client_id' in \
        result.output
