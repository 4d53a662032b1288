"""Rendering acknowledgements: content per law, applicant text as data, overrides, checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import jinja2
import pytest

from foi_mailbot.deadlines.laws import Law
from foi_mailbot.errors import ConfigError
from foi_mailbot.outbound.render import (
    ACK_CLARIFICATION_RECEIVED,
    ACK_NEW_REQUEST,
    ACK_REVIEW_REQUEST,
    AckContext,
    RenderedPair,
    check_templates,
    law_name,
    longdate,
    make_environment,
    render_pair,
    render_text,
)

NI_HOLIDAY = "Monday 12 July 2021 is a bank holiday in Northern Ireland."


def _context(law: Law = Law.FOIA, **overrides: object) -> AckContext:
    values: dict[str, object] = {
        "organisation": "Example Council",
        "reference": "IC-112010-N1W5",
        "law": law,
        "law_name": law_name(law),
        "applicant_name": "J Roberts",
        "subject": "Secondment offer from PHSO",
        "received": date(2021, 6, 13),
        "due": date(2021, 7, 9),
        "due_reasons": (),
        "review_of": None,
        "restarted": False,
    }
    values.update(overrides)
    return AckContext(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    """The built-in templates, no override directory."""
    return make_environment(None)


def _both(pair: RenderedPair) -> tuple[str, str]:
    return pair.text, pair.html


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2021, 7, 9), "Friday 9 July 2021"),
        (date(2021, 6, 13), "Sunday 13 June 2021"),
        (date(2026, 12, 28), "Monday 28 December 2026"),
    ],
)
def test_longdate_reads_like_an_acknowledgement(day: date, expected: str) -> None:
    """Dates are written out in English with the weekday, whatever the locale."""
    assert expected == longdate(day)


def test_new_request_states_reference_dates_law_and_holiday_reasons(
    env: jinja2.Environment,
) -> None:
    """The acknowledgement gives the reference, receipt and due dates, the Act and why."""
    pair = render_pair(env, ACK_NEW_REQUEST, _context(due_reasons=(NI_HOLIDAY,)))

    for body in _both(pair):
        assert "IC-112010-N1W5" in body
        assert "Sunday 13 June 2021" in body
        assert "Friday 9 July 2021" in body
        assert "Freedom of Information Act 2000" in body
        assert NI_HOLIDAY in body
        assert "20 working days" in body
        assert "start again" in body
        assert "internal review" in body
        assert "Information Commissioner's Office" in body
        assert "quote our reference" in body


def test_foisa_acknowledgement_points_to_the_scottish_commissioner(
    env: jinja2.Environment,
) -> None:
    """Under FOISA the review is a requirement for review and appeals go to the SIC."""
    text = render_pair(env, ACK_NEW_REQUEST, _context(Law.FOISA)).text

    assert "Freedom of Information (Scotland) Act 2002" in text
    assert "require us to review" in text
    assert "Scottish Information Commissioner" in text
    assert "ICO" not in text
    assert "bank holidays in Scotland" in text


def test_scottish_environmental_requests_also_go_to_the_scottish_commissioner(
    env: jinja2.Environment,
) -> None:
    """The Scottish EIRs are named as such and appeals go to the SIC."""
    context = _context(Law.EIR, law_name=law_name(Law.EIR, scotland=True))

    text = render_pair(env, ACK_NEW_REQUEST, context).text

    assert "Environmental Information (Scotland) Regulations 2004" in text
    assert "Scottish Information Commissioner" in text


def test_subject_access_acknowledgement_explains_the_pause(env: jinja2.Environment) -> None:
    """A subject access request runs for a month, and clarification pauses rather than restarts."""
    text = render_pair(env, ACK_NEW_REQUEST, _context(Law.SAR, law_name=law_name(Law.SAR))).text

    assert "subject access" in text
    assert "one month" in text
    assert "paused" in text
    assert "20 working days" not in text


def test_clarification_received_gives_the_restarted_due_date(env: jinja2.Environment) -> None:
    """After a clarification the applicant is told the clock started again and the new date."""
    context = _context(received=date(2021, 7, 1), due=date(2021, 7, 30), restarted=True)

    for body in _both(render_pair(env, ACK_CLARIFICATION_RECEIVED, context)):
        assert "Thursday 1 July 2021" in body
        assert "starts again" in body
        assert "Friday 30 July 2021" in body


def test_review_request_names_the_review_and_the_original_reference(
    env: jinja2.Environment,
) -> None:
    """A review acknowledgement gives its own reference, the original one and the due date."""
    context = _context(Law.REVIEW_FOIA, reference="IC-000200-K7P3", review_of="IC-112010-N1W5")

    for body in _both(render_pair(env, ACK_REVIEW_REQUEST, context)):
        assert "IC-000200-K7P3" in body
        assert "IC-112010-N1W5" in body
        assert "Friday 9 July 2021" in body
        assert "outcome of our review" in body


def test_a_missing_due_date_is_shown_as_to_be_confirmed(env: jinja2.Environment) -> None:
    """While the clock is stopped the acknowledgement says the date will follow."""
    text = render_pair(env, ACK_NEW_REQUEST, _context(due=None)).text

    assert "to be confirmed" in text


def test_template_code_in_applicant_text_is_shown_as_text(env: jinja2.Environment) -> None:
    """Template syntax and markup from the applicant are printed, never run or rendered."""
    context = _context(applicant_name="{{ 7*7 }}", subject="<script>alert(1)</script>")

    pair = render_pair(env, ACK_NEW_REQUEST, context)

    assert "{{ 7*7 }}" in pair.text
    assert "<script>alert(1)</script>" in pair.text
    assert "49" not in pair.text
    assert "{{ 7*7 }}" in pair.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pair.html
    assert "<script>" not in pair.html


def test_plain_text_is_not_html_escaped(env: jinja2.Environment) -> None:
    """Ampersands and quotes stay as written in the plain-text part."""
    pair = render_pair(env, ACK_NEW_REQUEST, _context(subject='Roads & "bridges"'))

    assert 'Roads & "bridges"' in pair.text
    assert "Roads &amp; &#34;bridges&#34;" in pair.html


def _override(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return tmp_path


def test_an_override_replaces_one_template_and_keeps_the_rest(tmp_path: Path) -> None:
    """An organisation's file replaces only the template of the same name."""
    override = _override(
        tmp_path, "acknowledgement/new_request.txt.j2", "Our own wording for {{ reference }}.\n"
    )
    env = make_environment(override)

    pair = render_pair(env, ACK_NEW_REQUEST, _context())
    clarification = render_pair(env, ACK_CLARIFICATION_RECEIVED, _context()).text

    assert "Our own wording for IC-112010-N1W5.\n" == pair.text
    assert "Freedom of Information Act 2000" in pair.html
    assert "Thank you for clarifying" in clarification
    assert [] == check_templates(env)


def test_a_missing_variable_is_an_error_not_a_blank(tmp_path: Path) -> None:
    """StrictUndefined: a template naming a value that is not provided fails loudly."""
    env = make_environment(
        _override(tmp_path, "acknowledgement/new_request.txt.j2", "Due {{ due_dat }}\n")
    )

    with pytest.raises(ConfigError, match="due_dat"):
        render_pair(env, ACK_NEW_REQUEST, _context())
    [problem] = check_templates(env)
    assert "acknowledgement/new_request.txt.j2" in problem
    assert "due_dat" in problem


def test_check_templates_passes_for_the_built_in_templates(env: jinja2.Environment) -> None:
    """Every shipped template renders with sample data for every law."""
    assert [] == check_templates(env)


def test_check_templates_reports_a_syntax_error_with_its_line(tmp_path: Path) -> None:
    """A broken override is named with the line of the mistake."""
    env = make_environment(
        _override(tmp_path, "acknowledgement/review_request.html.j2", "<p>\n{% if %}</p>\n")
    )

    [problem] = check_templates(env)

    assert "review_request.html.j2" in problem
    assert "line 2" in problem


def test_check_templates_reports_an_override_that_replaces_nothing(tmp_path: Path) -> None:
    """A misspelt override file would be ignored silently, so it is reported."""
    env = make_environment(_override(tmp_path, "acknowledgment/new_request.txt.j2", "Hello\n"))

    assert [
        "the override template acknowledgment/new_request.txt.j2 does not replace any "
        "built-in template (check its name and folder)"
    ] == check_templates(env)


def test_a_missing_override_directory_is_a_config_error(tmp_path: Path) -> None:
    """A configured template directory that does not exist is reported at start-up."""
    with pytest.raises(ConfigError, match="does not exist"):
        make_environment(tmp_path / "nowhere")


@dataclass(frozen=True)
class _ReminderContext:
    reference: str
    due: date


def test_render_text_renders_single_part_templates(tmp_path: Path) -> None:
    """Other single-part templates render from their own typed context."""
    env = make_environment(
        _override(
            tmp_path, "staff/reminder.txt.j2", "{{ reference }} is due {{ due | longdate }}.\n"
        )
    )
    context = _ReminderContext(reference="IC-112010-N1W5", due=date(2021, 7, 9))

    assert "IC-112010-N1W5 is due Friday 9 July 2021.\n" == render_text(
        env, "staff/reminder", context
    )
    assert [] == check_templates(env, {"staff/reminder.txt.j2": [context]})


def test_a_context_must_be_a_dataclass(env: jinja2.Environment) -> None:
    """Passing a dict (or locals()) is refused: contexts are typed."""
    with pytest.raises(TypeError, match="dataclass"):
        render_text(env, ACK_NEW_REQUEST, {"reference": "x"})  # type: ignore[arg-type]
