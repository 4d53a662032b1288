"""Under CI a missing PostgreSQL fails the run; on a developer's machine the tests are skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
NOWHERE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
A_POSTGRES_TEST = "tests/unit/test_health.py::test_status_sees_a_daemon_on_postgresql_by_its_lock"


def _pytest_with(ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": ci, "FOI_MAILBOT_TEST_PG": NOWHERE}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", A_POSTGRES_TEST],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.slow
def test_an_unreachable_postgresql_fails_the_run_under_ci() -> None:
    """CI=true: the PostgreSQL half of the suite cannot silently go missing."""
    done = _pytest_with("true")

    assert 0 != done.returncode, done.stdout
    assert "CI is set, so this fails instead of skipping" in done.stdout


@pytest.mark.slow
def test_an_unreachable_postgresql_skips_outside_ci() -> None:
    """Without CI a developer without PostgreSQL can still run the rest."""
    done = _pytest_with("")

    assert 0 == done.returncode, done.stdout
    assert "1 skipped" in done.stdout
