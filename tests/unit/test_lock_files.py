"""The lock files hold every dependency pyproject.toml names, pinned, each with its hashes.

The image installs requirements.lock and CI requirements-test.lock with --require-hashes, then
the package with --no-deps: a dependency added to pyproject.toml and not to the lock fails
here, before it fails an install. Regenerate both with the commands at the top of each file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)")


def _locked(name: str) -> dict[str, tuple[Version, int]]:
    """Each pinned package with its version and how many hashes it carries."""
    pins: dict[str, tuple[Version, int]] = {}
    current = None
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (Version(match.group(2)), 0)
        elif "--hash=sha256:" in line and current is not None:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def _wanted(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    for extra in extras:
        names += project["optional-dependencies"][extra]
    return [Requirement(name) for name in names]


@pytest.mark.parametrize(("lock", "extras"), [
    ("requirements.lock", ("microsoft", "google")),
    ("requirements-test.lock", ("microsoft", "google", "test")),
])
def test_the_lock_pins_every_dependency_within_its_range(lock: str, extras: tuple[str, ...]) -> None:
    """Every requirement (extras included) is pinned at a version it allows, with hashes."""
    pins = _locked(lock)
    for requirement in _wanted(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is missing from {lock}"
        version, _hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)
    assert all(hashes for _version, hashes in pins.values())


def test_ci_installs_from_the_test_lock_then_the_package_alone() -> None:
    """scripts/test installs the lock with --require-hashes, then the project with --no-deps."""
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements-test.lock" in script
    assert re.search(r"pip install .*--no-deps -e \.", script)
