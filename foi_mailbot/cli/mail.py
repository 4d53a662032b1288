"""Commands about mail: `ingest` (one-shot import) and `classify` (no database)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from foi_mailbot.bootstrap import build, reference_codec
from foi_mailbot.classify import classify as classify_mail
from foi_mailbot.cli.common import ConfigOption, JsonOption, app, fail, settings_from
from foi_mailbot.ingest import store
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.pipeline import classify_context
from foi_mailbot.sources.files import count_paths, iter_paths


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help=".eml files, Maildirs or mbox files.")],
    config: ConfigOption = None,
) -> None:
    """Import messages from files (backfill or trial), then process them like new mail."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    app_ = build(settings_from(config))
    total = count_paths(paths)
    created = duplicates = 0
    with typer.progressbar(length=total, label="Storing", hidden=not _tty()) as bar:
        for mail in iter_paths(paths):
            result = store(app_.factory, mail, app_.clock)
            if result.created:
                app_.pipeline.note_stored(result.message_pk)
            created += result.created
            duplicates += not result.created
            bar.update(1)
    kinds: Counter[str] = Counter()
    with typer.progressbar(length=created, label="Processing", hidden=not _tty()) as bar:
        while ids := app_.pipeline.pending(200):
            for message_pk in ids:
                kinds[app_.pipeline.process(message_pk) or "needs a person"] += 1
                bar.update(1)
    app_.outbox.drain()
    typer.echo(f"Read {total} messages: {created} stored, {duplicates} already stored.")
    for kind, count in sorted(kinds.items()):
        typer.echo(f"  {kind}: {count}")
    app_.close()


def _tty() -> bool:
    import sys

    return sys.stderr.isatty()


@app.command("classify")
def classify_files(
    files: Annotated[list[Path], typer.Argument(help=".eml files to classify.")],
    mailbox: Annotated[str | None, typer.Option(help="Our mailbox address.")] = None,
    staff_domain: Annotated[
        list[str] | None, typer.Option(help="A staff domain (repeatable).")
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Classify .eml files without touching the database."""
    settings = settings_from(config)
    ctx = classify_context(settings)
    ctx = replace(ctx, find_references=reference_codec(settings).find)
    if mailbox:
        ctx = replace(ctx, mailbox_addresses=ctx.mailbox_addresses | {mailbox.lower()})
    if staff_domain:
        ctx = replace(ctx, staff_domains=ctx.staff_domains | {d.lower() for d in staff_domain})
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror}")
        mail = parse(raw)
        verdict = classify_mail(mail, ctx)
        staff = _staff_reading(mail) if verdict.kind.value == "staff" else {}
        if as_json:
            typer.echo(json.dumps({
                "file": str(path), "kind": verdict.kind.value, "reference": verdict.reference,
                "reasons": list(verdict.reasons), "rule": verdict.rule,
                "law": verdict.law.value if verdict.law else None, "flags": list(verdict.flags),
                **staff,
            }))
        else:
            typer.echo(f"{path}: {verdict.kind.value} ({verdict.rule}): "
                       + "; ".join(verdict.reasons)
                       + (f"; action {staff['action']}: " + "; ".join(staff["action_reasons"])
                          if staff else ""))


def _staff_reading(mail: ParsedMail) -> dict[str, Any]:
    """What a staff message does to its case (action, outcome, sections), as the daemon reads it."""
    from datetime import UTC, datetime

    from foi_mailbot.cases.staff_actions import infer_staff_action

    today = (mail.date or datetime.now(UTC)).date()
    action = infer_staff_action(mail, today=today)
    return action.as_json()
