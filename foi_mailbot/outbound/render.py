"""Outbound stage, first step: turn a typed context into the text and HTML of a message.

Templates live in the packaged `templates/` directory; an organisation may override any one of
them by placing a file of the same name in its own directory (`paths.template_dir`), which is
searched first. Applicant text (names, subjects) only ever reaches a template as data: HTML
templates autoescape it, and no value is ever compiled as template source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Final

import jinja2

from foi_mailbot.deadlines.laws import Law
from foi_mailbot.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

TEXT_SUFFIX: Final = ".txt.j2"
HTML_SUFFIX: Final = ".html.j2"

ACK_NEW_REQUEST: Final = "acknowledgement/new_request"
ACK_CLARIFICATION_RECEIVED: Final = "acknowledgement/clarification_received"
ACK_REVIEW_REQUEST: Final = "acknowledgement/review_request"
ACK_SUBJECT_ACCESS: Final = "acknowledgement/subject_access"
ACKNOWLEDGEMENT_TEMPLATES: Final = (
    ACK_NEW_REQUEST, ACK_CLARIFICATION_RECEIVED, ACK_REVIEW_REQUEST, ACK_SUBJECT_ACCESS,
)

_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_SCOTTISH_EIR: Final[Mapping[Law, str]] = {
    Law.EIR: "Environmental Information (Scotland) Regulations 2004",
    Law.REVIEW_EIR: "review under regulation 16 of the Environmental Information (Scotland) "
    "Regulations 2004",
}


@dataclass(frozen=True)
class AckContext:
    """Everything an acknowledgement template may show.

    `received` is the day the request arrived (`clarified_on`, for `clarification_received`,
    the day the clarification did); `due` is None while the clock is stopped. `due_reasons` are
    one-line notes on holidays that moved the due date. `review_of` is the original reference
    for a review, and `restarted` says whether the clock started again (FOI clarification)
    rather than resumed after a pause (subject access).
    """

    organisation: str
    reference: str
    law: Law
    law_name: str
    applicant_name: str
    subject: str
    received: date
    due: date | None
    due_reasons: tuple[str, ...] = ()
    review_of: str | None = None
    restarted: bool = False
    # A letter held and released by a person: "late" (past its due date) or "due_soon".
    lateness: str | None = None
    working_days_late: int = 0
    working_days_left: int | None = None
    # For `clarification_received`: the day the clarification arrived (`received` stays the
    # request's date of receipt).
    clarified_on: date | None = None


@dataclass(frozen=True)
class RenderedPair:
    """The plain-text and HTML bodies of one message."""

    text: str
    html: str


def law_name(law: Law, *, scotland: bool = False) -> str:
    """The law a case runs under, as acknowledgements print it; Scottish bodies' EIRs differ."""
    if scotland and law in _SCOTTISH_EIR:
        return _SCOTTISH_EIR[law]
    return law.full_name


def is_scottish(law: Law, name: str) -> bool:
    """True when the Scottish Information Commissioner, not the ICO, hears appeals."""
    return law in (Law.FOISA, Law.REVIEW_FOISA, Law.EISR, Law.REVIEW_EISR) or "(Scotland)" in name


def longdate(value: date) -> str:
    """A date as acknowledgements print it, e.g. 'Friday 9 July 2021' (always in English)."""
    return f"{_DAYS[value.weekday()]} {value.day} {_MONTHS[value.month - 1]} {value.year}"


def packaged_template_dir() -> Path:
    """The built-in templates: the repository's `templates/`, else the installed package data."""
    here = Path(__file__).resolve()
    repository = here.parents[2] / "templates"
    if repository.is_dir():
        return repository
    return here.parents[1] / "templates"


def make_environment(template_dir: Path | None) -> jinja2.Environment:
    """A Jinja2 environment searching `template_dir` (if given) before the built-in templates."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        if not template_dir.is_dir():
            msg = f"the template directory {template_dir} does not exist"
            raise ConfigError(msg)
        loaders.append(jinja2.FileSystemLoader(template_dir))
    loaders.append(jinja2.FileSystemLoader(packaged_template_dir()))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False, default=False
        ),
        keep_trailing_newline=True,
        # Block tags on their own lines would otherwise leave blank lines in plain-text mail.
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates are read once (`foi-mailbot run` compiles them at start): edits take
        # effect at the next start, and no letter costs a look at four files' dates.
        auto_reload=False,
    )
    env.filters["longdate"] = longdate
    env.globals["is_scottish"] = is_scottish
    return env


def _variables(context: DataclassInstance) -> dict[str, object]:
    # Shallow on purpose: dataclasses.asdict would deep-copy and turn nested values into dicts.
    if not is_dataclass(context) or isinstance(context, type):
        msg = f"a template context must be a dataclass instance, not {type(context).__name__}"
        raise TypeError(msg)
    return {f.name: getattr(context, f.name) for f in fields(context)}


def _render(env: jinja2.Environment, filename: str, context: DataclassInstance) -> str:
    try:
        return env.get_template(filename).render(_variables(context))
    except jinja2.TemplateError as exc:
        raise ConfigError(describe_template_error(filename, exc)) from exc


def render_pair(env: jinja2.Environment, name: str, context: DataclassInstance) -> RenderedPair:
    """Render `name.txt.j2` and `name.html.j2` with the same context."""
    return RenderedPair(
        text=_render(env, name + TEXT_SUFFIX, context),
        html=_render(env, name + HTML_SUFFIX, context),
    )


def render_text(env: jinja2.Environment, name: str, context: DataclassInstance) -> str:
    """Render a single-part template: `name.txt.j2`, or `name` itself if it ends in `.j2`."""
    filename = name if name.endswith(".j2") else name + TEXT_SUFFIX
    return _render(env, filename, context)


def describe_template_error(filename: str, exc: jinja2.TemplateError) -> str:
    """One plain sentence saying what is wrong with a template."""
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"the template {filename} was not found (looked for {exc.name})"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = exc.filename or exc.name or filename
        return f"the template {where} has a syntax error on line {exc.lineno}: {exc.message}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"the template {filename} uses a value that is not provided: {exc.message}"
    return f"the template {filename} cannot be rendered: {exc.message or type(exc).__name__}"


def _sample_contexts() -> tuple[AckContext, ...]:
    def sample(
        law: Law, *, scotland: bool = False, due: date | None = date(2021, 8, 6)
    ) -> AckContext:
        return AckContext(
            organisation="Example Council",
            reference="IC-000123-N1W5",
            law=law,
            law_name=law_name(law, scotland=scotland),
            applicant_name="A. Sample",
            subject="Sample request",
            received=date(2021, 7, 7),
            due=due,
            due_reasons=("Monday 12 July 2021 is a bank holiday in Northern Ireland.",),
            review_of="IC-000100-A1B2" if law.is_review else None,
            restarted=law is not Law.SAR,
            clarified_on=date(2021, 7, 19),
        )

    return (
        *(sample(law) for law in Law),
        sample(Law.EIR, scotland=True),
        sample(Law.FOIA, due=None),
        AckContext(
            organisation="Example Council",
            reference="IC-000124-C3D4",
            law=Law.REVIEW_FOIA,
            law_name=law_name(Law.REVIEW_FOIA),
            applicant_name="",
            subject="",
            received=date(2021, 7, 7),
            due=date(2021, 8, 6),
        ),
        # Held letters released by a person: late, and due soon.
        replace(sample(Law.FOIA), lateness="late", working_days_late=3),
        replace(sample(Law.EIR), lateness="due_soon", working_days_left=2),
    )


def check_templates(
    env: jinja2.Environment, extra: Mapping[str, Sequence[DataclassInstance]] | None = None
) -> list[str]:
    """Render every known template with sample data; return each problem as a plain sentence.

    `extra` maps further template file names (with their `.j2` suffix) to sample contexts.
    Override files that replace no built-in template are reported too: a misspelt name would
    otherwise be ignored without a word.
    """
    checks: dict[str, Sequence[DataclassInstance]] = {
        name + suffix: _sample_contexts()
        for name in ACKNOWLEDGEMENT_TEMPLATES
        for suffix in (TEXT_SUFFIX, HTML_SUFFIX)
    }
    checks.update(extra or {})
    problems: list[str] = []
    for filename, samples in checks.items():
        for sample in samples:
            try:
                env.get_template(filename).render(_variables(sample))
            except jinja2.TemplateError as exc:
                problems.append(describe_template_error(filename, exc))
                break
    builtin = set(jinja2.FileSystemLoader(packaged_template_dir()).list_templates())
    overrides = {name for name in env.list_templates() if name.endswith(".j2")}
    for filename in sorted(overrides - builtin - set(checks)):
        problems.append(
            f"the override template {filename} does not replace any built-in template "
            "(check its name and folder)"
        )
    return problems
