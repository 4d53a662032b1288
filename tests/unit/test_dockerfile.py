"""The container image: hadolint-style rules on the Dockerfile, then its steps run by hand.

No Docker daemon is available to the tests, so the build is replayed: the COPY instructions
fill a scratch context, the RUN's `pip install` installs it into a fresh virtual environment
(dependencies come from the running environment, so nothing is downloaded but the build
backend), and the ENTRYPOINT/CMD and the HEALTHCHECK command are run against a real server.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from foi_mailbot.bootstrap import build, make_health_server
from foi_mailbot.clock import FixedClock
from foi_mailbot.settings import HealthSettings, Settings
from foi_mailbot.storage.state import record

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY", re.IGNORECASE)
PINNED_TAG = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its continuation lines joined."""

    keyword: str
    args: str


def parse(text: str) -> list[Instruction]:
    """Instructions in order; comments and line continuations handled as Docker does."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(args.split())))
        pending = ""
    return instructions


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    """The repository's Dockerfile, parsed."""
    return parse((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def _all(instructions: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in instructions if i.keyword == keyword]


def _env(instructions: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in _all(instructions, "ENV"):
        for pair in shlex.split(args):
            name, _, value = pair.partition("=")
            values[name] = value
    return values


def test_the_base_image_is_pinned_to_a_specific_version(dockerfile: list[Instruction]) -> None:
    """FROM names an exact version tag such as 3.11.10-slim-bookworm, never latest."""
    for image in _all(dockerfile, "FROM"):
        reference = image.split()[0]
        assert PINNED_TAG.match(reference), reference
        assert ":latest" not in reference


def test_the_service_runs_as_an_unprivileged_user(dockerfile: list[Instruction]) -> None:
    """A USER that is not root comes before ENTRYPOINT and CMD."""
    keywords = [i.keyword for i in dockerfile]
    users = [i for i, instruction in enumerate(dockerfile) if instruction.keyword == "USER"]

    assert users, "no USER instruction: the process would run as root"
    last = dockerfile[users[-1]].args.split(":")[0]
    assert last not in {"root", "0"}
    assert users[-1] < keywords.index("ENTRYPOINT")
    assert users[-1] < keywords.index("CMD")


def test_no_secret_is_baked_into_the_image(dockerfile: list[Instruction]) -> None:
    """No ENV or ARG gives a password, secret or token a value."""
    for args in _all(dockerfile, "ENV") + _all(dockerfile, "ARG"):
        for pair in shlex.split(args):
            name, _, value = pair.partition("=")
            assert not (SECRET_NAME.search(name) and value), name


def test_pip_keeps_no_download_cache(dockerfile: list[Instruction]) -> None:
    """Every pip install in a RUN passes --no-cache-dir."""
    installs = [part for args in _all(dockerfile, "RUN") for part in args.split("&&")
                if "pip install" in part]

    assert installs
    assert all("--no-cache-dir" in part for part in installs)


def test_dependencies_come_from_the_lock_with_hashes_and_the_package_adds_none(
    dockerfile: list[Instruction],
) -> None:
    """The locked dependencies are installed (hashes required) before the package, which is
    installed with --no-deps, so the image holds exactly the locked versions."""
    installs = [part.strip() for args in _all(dockerfile, "RUN") for part in args.split("&&")
                if "pip install" in part]

    assert 2 == len(installs)
    assert "--require-hashes -r requirements.lock" in installs[0]
    assert "--no-deps" in installs[1]
    assert "requirements.lock" in {src for args in _all(dockerfile, "COPY")
                                   for src in args.split()[:-1]}


def test_the_healthcheck_probes_the_health_endpoint(dockerfile: list[Instruction]) -> None:
    """HEALTHCHECK asks /healthz on the default health port, which is also EXPOSEd."""
    checks = _all(dockerfile, "HEALTHCHECK")
    port = str(HealthSettings().port)

    assert 1 == len(checks)
    assert f"http://127.0.0.1:{port}/healthz" in checks[0]
    assert [port] == _all(dockerfile, "EXPOSE")


def test_state_lives_in_the_data_volume(
    dockerfile: list[Instruction], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image's ENV points the data directory at its VOLUME, and the settings honour it."""
    env = _env(dockerfile)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert ["/data"] == _all(dockerfile, "VOLUME")
    assert Path("/data") == Settings().paths.data_dir


def test_the_entrypoint_runs_the_daemon(dockerfile: list[Instruction]) -> None:
    """ENTRYPOINT is the console script in exec form, and the default command is `run`."""
    assert ['["foi-mailbot"]'] == _all(dockerfile, "ENTRYPOINT")
    assert ['["run"]'] == _all(dockerfile, "CMD")


def test_the_build_context_leaves_out_local_state_and_secrets(
    dockerfile: list[Instruction],
) -> None:
    """.dockerignore keeps the virtualenv, git, data and secrets out; COPY sources stay in."""
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    copied = {src for args in _all(dockerfile, "COPY") for src in args.split()[:-1]}

    assert {".git", ".venv", "data", "secrets"} <= ignored
    assert not copied & ignored


# --- the build, replayed --------------------------------------------------------------------


def _copy_context(dockerfile: list[Instruction], target: Path) -> Path:
    """Lay out the image's source folder as the COPY instructions would; returns WORKDIR."""
    workdir = target
    for instruction in dockerfile:
        if instruction.keyword == "WORKDIR" and not instruction.args.startswith("/data"):
            workdir = target / instruction.args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        if instruction.keyword == "COPY":
            *sources, dest = instruction.args.split()
            for source in sources:
                origin = ROOT / source
                where = workdir / dest / (origin.name if dest.endswith("/") else "")
                if origin.is_dir():
                    shutil.copytree(origin, workdir / dest, symlinks=True,
                                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copy2(origin, where)
        if instruction.keyword == "RUN" and _installs_the_package(instruction.args):
            break
    return workdir


def _installs_the_package(command: str) -> bool:
    """A `pip install` of the package itself, not of the locked dependencies."""
    return "pip install" in command and "--require-hashes" not in command


def _pip_install_args(dockerfile: list[Instruction]) -> list[str]:
    command = next(part.strip() for args in _all(dockerfile, "RUN")
                   for part in args.split("&&") if _installs_the_package(part))
    words = shlex.split(command)
    assert ["pip", "install"] == words[:2]
    return words[2:]


def _backend_available() -> bool:
    """Whether the running environment's setuptools meets pyproject's build requirement."""
    import tomllib

    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    for requirement in map(Requirement, build_system["requires"]):
        try:
            if version(requirement.name) not in requirement.specifier:
                return False
        except PackageNotFoundError:
            return False
    return True


@pytest.fixture(scope="module")
def image(
    dockerfile: list[Instruction], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A virtualenv holding the package exactly as the Dockerfile installs it."""
    root = tmp_path_factory.mktemp("image")
    workdir = _copy_context(dockerfile, root / "context")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # Dependencies from the environment running the tests: a plain path entry, so the editable
    # install there (a .pth hook) does not shadow the package installed here.
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_test_dependencies.pth").write_text("\n".join(paths) + "\n")
    isolation = [] if not _backend_available() else ["--no-build-isolation"]
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", *_pip_install_args(dockerfile), "--no-deps", *isolation],
        cwd=workdir, check=True, timeout=300,
    )
    yield venv


def _run(venv: Path, *args: str, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True,
                          text=True, timeout=120, check=False, env=env, cwd=cwd)


@pytest.mark.slow
def test_the_installed_package_is_the_one_the_image_would_hold(
    image: Path, tmp_path: Path
) -> None:
    """foi_mailbot is imported from the new environment, not from the source tree."""
    found = _run(image, "python", "-c", "import foi_mailbot; print(foi_mailbot.__file__)",
                 cwd=tmp_path)

    assert found.stdout.strip().startswith(str(image)), found.stdout + found.stderr


@pytest.mark.slow
def test_the_entrypoint_and_default_command_answer(image: Path, tmp_path: Path) -> None:
    """`foi-mailbot --help` and `foi-mailbot run --help` work from the installed script."""
    top = _run(image, "foi-mailbot", "--help", cwd=tmp_path)
    run = _run(image, "foi-mailbot", "run", "--help", cwd=tmp_path)

    assert 0 == top.returncode, top.stderr
    assert " run " in top.stdout
    assert 0 == run.returncode, run.stderr


@pytest.mark.slow
def test_the_installed_package_carries_its_templates(
    image: Path, dockerfile: list[Instruction], tmp_path: Path
) -> None:
    """check-config renders every built-in template from the installed package."""
    env = {**os.environ, **_env(dockerfile), "FOI_MAILBOT_PATHS__DATA_DIR": str(tmp_path)}
    env = {k: v for k, v in env.items() if k != "FOI_MAILBOT_CONFIG"}
    checked = _run(image, "foi-mailbot", "check-config", env=env, cwd=tmp_path)

    assert 0 == checked.returncode, checked.stdout + checked.stderr
    assert "Configuration and templates are valid." in checked.stdout


@pytest.mark.slow
def test_the_healthcheck_command_follows_the_health_endpoint(
    image: Path, dockerfile: list[Instruction], make_settings: Callable[..., Settings],
    tmp_path: Path, clock: FixedClock,
) -> None:
    """The HEALTHCHECK's Python exits 0 while healthy and non-zero once the sync is stale."""
    check = shlex.split(_all(dockerfile, "HEALTHCHECK")[0].split(" CMD ", 1)[1])
    assert "python" == check[0]
    app = build(make_settings(db=f"sqlite:///{tmp_path / 'h.db'}"), clock=clock)
    record(app.factory, clock, "last_sync", {"at": clock.now().isoformat(), "stored": 0})

    with make_health_server(app, host="127.0.0.1", port=0) as server:
        code = check[-1].replace(":8025/", f":{server.port}/")
        healthy = _run(image, "python", *check[1:-1], code)
        clock.advance(timedelta(hours=1))
        stale = _run(image, "python", *check[1:-1], code)
    app.close()

    assert 0 == healthy.returncode, healthy.stderr
    assert 0 != stale.returncode
    assert "503" in stale.stderr
