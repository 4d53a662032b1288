"""The reference secret and the files the daemon writes, run as a person would run it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from foi_mailbot.bootstrap import build, reference_codec
from foi_mailbot.clock import FixedClock
from foi_mailbot.settings import Settings

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FOI_MAILBOT_")}
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "foi_mailbot", *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=120, check=False)


def test_run_once_and_ingest_refuse_the_example_secret_in_one_sentence(tmp_path: Path) -> None:
    """The documentation's example secret: exit 2 and one sentence, nothing created."""
    env = {"FOI_MAILBOT_ORGANISATION__REFERENCE_SECRET": "change-me-reference-secret"}
    for args in (["run"], ["once"], ["ingest", str(FIXTURES / "new_request_plain_foia.eml")]):
        result = _cli(tmp_path, *args, env=env)
        assert 2 == result.returncode, result.stderr
        assert 1 == len(result.stderr.strip().splitlines())
        assert "example value" in result.stderr
    assert not (tmp_path / "data").exists()


def test_files_of_a_fresh_embedded_run_are_not_readable_by_others(tmp_path: Path) -> None:
    """The embedded default (as ./scripts/demo runs it) on a fresh folder: the data directory
    is 0700, the database, its log and every letter 0600; a secret was generated."""
    maildir = tmp_path / "data" / "maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    shutil.copy(FIXTURES / "new_request_plain_foia.eml", maildir / "new" / "1.eml")
    os.chmod(tmp_path / "data", 0o755)  # noqa: S103 - as a usual umask would leave it

    # The maildir is filled before the first start: that mail is answered, not history.
    result = _cli(tmp_path, "once", env={"FOI_MAILBOT_MAILBOX__START": "all"})

    assert 0 == result.returncode, result.stderr
    data = tmp_path / "data"
    assert 0o700 == stat.S_IMODE(data.stat().st_mode)
    created = [p for p in data.rglob("*") if p.is_file() and "maildir" not in p.parts]
    assert any(p.suffix == ".eml" for p in created), created  # the acknowledgement
    assert any(p.name.endswith(".db") for p in created)
    for path in created:
        assert 0 == stat.S_IMODE(path.stat().st_mode) & 0o077, path
    assert "reference_secret.generated" in result.stdout + result.stderr


def test_a_generated_secret_is_shared_through_the_database(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    """Two instances on one database with no secret configured mint the same references."""
    settings = make_settings(db=db_url, organisation={"reference_secret": None})
    first = build(settings, clock=FixedClock())
    second = build(settings, clock=FixedClock())
    try:
        assert first.services.codec.format(7) == second.services.codec.format(7)
        assert first.services.codec.format(7) != reference_codec(settings, "other").format(7)
    finally:
        first.close()
        second.close()
