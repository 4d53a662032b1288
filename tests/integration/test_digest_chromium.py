"""The digest's HTML in a real browser engine: every section shows, at desktop and phone widths.

Headless Chromium (the Debian `chromium` package) renders the digest as a mail client's HTML view
would; the test screenshots it at 1280 and 390 pixels wide, reads the rendered text back with
`--dump-dom`, and checks the phone layout needs no sideways scrolling.
"""

from __future__ import annotations

import html
import os
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from foi_mailbot.clock import FixedClock
from foi_mailbot.jobs.digest import build_digest, render_digest
from foi_mailbot.jobs.report import build_report
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from tests.unit.test_digest import TODAY, Apps, Register, seed_register

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
PHONE, DESKTOP = 390, 1280

pytestmark = pytest.mark.chromium


@pytest.fixture(autouse=True)
def _needs_chromium() -> None:
    """Skip where Chromium is not installed, except in CI, where it must be."""
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip("chromium is not installed (scripts/install-system-packages installs it)")


@pytest.fixture
def apps(make_settings: Callable[..., Settings], tmp_path: Path, clock: FixedClock
         ) -> Iterator[Apps]:
    """Applications on a SQLite register (rendering does not depend on the database)."""
    factory = Apps(make_settings(db=f"sqlite:///{tmp_path / 'register.db'}"), clock)
    yield factory
    for app in factory.built:
        app.close()


def chromium(tmp_path: Path, name: str, *args: str) -> str:
    """Run headless Chromium with a private profile; returns what it printed."""
    profile = tmp_path / f"profile-{name}"
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert 0 == result.returncode, result.stderr[-2000:]
    return result.stdout


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    data = path.read_bytes()[:24]
    assert b"\x89PNG" == data[:4]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def phone_frame(page: str) -> str:
    """A page holding the digest in a phone-wide frame that reports the frame's scroll width."""
    return f"""<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" width="{PHONE}" height="4000" style="border:0" srcdoc="{html.escape(page)}"></iframe>
<script>
const frame = document.getElementById("f");
function measure() {{
  document.body.setAttribute("data-inner", String(frame.contentWindow.innerWidth));
  document.body.setAttribute("data-scroll",
                             String(frame.contentDocument.documentElement.scrollWidth));
}}
window.addEventListener("load", measure);  // fires once the frame's content has loaded
</script></body></html>"""


@pytest.fixture
def rendered(apps: Apps, clock: FixedClock, tmp_path: Path) -> tuple[Path, Register, str]:
    """The seeded register's digest as an HTML file, the seed, and the report's FY share."""
    app = apps()
    seeded = seed_register(app, clock)
    with session_scope(app.factory) as session:
        digest = build_digest(session, app.settings, app.services.calendars, clock.now())
        report = build_report(session, app.services.calendars, start=None, end=None,
                              today=TODAY)
    _, page = render_digest(app.services.acks.env, digest)
    path = tmp_path / "digest.html"
    path.write_text(page, encoding="utf-8")
    (year,) = report.compliance
    return path, seeded, f"{year.on_time} of {year.answered} ({year.share_text})"


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_the_digest_renders_at_desktop_and_phone_widths(
    rendered: tuple[Path, Register, str], tmp_path: Path, width: int
) -> None:
    """Chromium paints the digest to a screenshot of the requested width."""
    page, _, _ = rendered
    shot = tmp_path / f"digest-{width}.png"
    chromium(tmp_path, f"shot-{width}", f"--screenshot={shot}", f"--window-size={width},2400",
             page.as_uri())

    assert (width, 2400) == png_size(shot)
    assert shot.stat().st_size > 20_000  # a blank page compresses to a few hundred bytes


def test_every_section_and_figure_is_in_the_rendered_page(
    rendered: tuple[Path, Register, str], tmp_path: Path
) -> None:
    """The rendered DOM holds each section, the seeded cases, and the report's FY figure."""
    page, seeded, report_share = rendered
    dom = chromium(tmp_path, "dom", "--dump-dom", f"--window-size={DESKTOP},2400", page.as_uri())

    for text in ("FOI weekly digest", "week 2026-W11", "Financial year 2025/26 to date",
                 "Open cases", "Due in the next five working days", "Overdue",
                 "Awaiting clarification", "Internal reviews open", "Messages needing a person",
                 "Last twelve weeks", "Deadlines moved by a calendar change", "Service health",
                 seeded.due_soon, seeded.overdue, seeded.awaiting, seeded.review,
                 f"review of {seeded.reviewed}", f"#{seeded.flagged}", "25 working days",
                 "Median time to respond: <strong>17 working days</strong>", report_share):
        assert text in dom, text
    assert "2 of 3 (66.7%)" == report_share


def test_the_phone_layout_needs_no_sideways_scrolling(
    rendered: tuple[Path, Register, str], tmp_path: Path
) -> None:
    """At 390 pixels the digest fits the width: nothing forces a horizontal scroll."""
    page, _, _ = rendered
    frame = tmp_path / "phone.html"
    frame.write_text(phone_frame(page.read_text(encoding="utf-8")), encoding="utf-8")
    dom = chromium(tmp_path, "phone", "--dump-dom", f"--window-size={DESKTOP},4000",
                   frame.as_uri())

    assert f'data-inner="{PHONE}" data-scroll="{PHONE}"' in dom
