"""Configuration: TOML, environment overrides, secrets from files, plain-word errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from foi_mailbot.errors import ConfigError
from foi_mailbot.settings import load_settings

EXAMPLE = Path(__file__).parents[2] / "config" / "foi-mailbot.example.toml"


def test_example_config_is_valid() -> None:
    """The documented example loads as it is."""
    settings = load_settings(EXAMPLE)

    assert "IC" == settings.organisation.reference_prefix


def test_environment_overrides_a_nested_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """FOI_MAILBOT_<SECTION>__<KEY> overrides the file."""
    monkeypatch.setenv("FOI_MAILBOT_MAILBOX__HOST", "imap.example.org")

    settings = load_settings(EXAMPLE)

    assert "imap.example.org" == settings.mailbox.host


def test_secret_is_read_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A secret can be given as a file path, e.g. a Docker or systemd credential."""
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("FOI_MAILBOT_SMTP__PASSWORD_FILE", str(secret))

    settings = load_settings(None)

    assert settings.smtp.password is not None
    assert "s3cret" == settings.smtp.password.get_secret_value()
    assert "s3cret" not in repr(settings)


def test_wrong_keys_are_named_in_plain_words(tmp_path: Path) -> None:
    """Each wrong key is named with why it is wrong."""
    config = tmp_path / "bad.toml"
    config.write_text(
        '[organisation]\ntime_zone = "Mars/Base"\nbogus = 1\n[mailbox]\nport = "abc"\n'
    )

    with pytest.raises(ConfigError) as info:
        load_settings(config)

    message = str(info.value)
    assert "organisation.time_zone" in message
    assert "organisation.bogus: is not a setting" in message
    assert "mailbox.port" in message


def test_missing_config_file_is_one_sentence(tmp_path: Path) -> None:
    """A config path that doesn't exist says so."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
