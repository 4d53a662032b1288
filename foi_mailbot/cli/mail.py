"""Commands about mail: `ingest` (one-shot import) and `classify` (no database)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from foi_mailbot.cli.common import (
    Command,
    ConfigOption,
    JsonOption,
    app,
    fail,
    plural,
    settings_from,
)

if TYPE_CHECKING:
    from foi_mailbot.bootstrap import App
    from foi_mailbot.classify.base import Classification, ClassifyContext
    from foi_mailbot.parsing.parsed import ParsedMail
    from foi_mailbot.sources import RawMail


@app.command(cls=Command)
def ingest(
    paths: Annotated[list[Path], typer.Argument(
        metavar="PATH", help=".eml files, Maildirs or mbox files.")],
    history: Annotated[bool, typer.Option(
        "--history", help="Old mail: store it, open its cases held to confirm, send nothing.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Import .eml files, a Maildir or an mbox, and process them like new mail.

    For a backfill or a trial. Mail older than `replies.acknowledge_within_working_days` is
    never acknowledged by itself: its letter is held for a person (`cases send`).
    """
    from foi_mailbot.bootstrap import build
    from foi_mailbot.ingest import store
    from foi_mailbot.logconfig import configure
    from foi_mailbot.sources.files import count_paths, iter_paths
    from foi_mailbot.storage.private import make_private
    from foi_mailbot.storage.secret import example_secret_refusal

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    settings = settings_from(config)
    refusal = example_secret_refusal(settings)
    if refusal is not None:
        fail(refusal)
    make_private(settings)
    configure()  # each message's line to stderr, so stdout is the summary alone
    app_ = build(settings)
    total = count_paths(paths)
    created = duplicates = 0
    skipped: list[tuple[Path, str]] = []
    with typer.progressbar(length=total, label="Storing", hidden=not _tty()) as bar:
        for found in iter_paths(paths, skipped=lambda path, why: skipped.append((path, why))):
            mail = replace(found, history=history)
            result = store(app_.factory, mail, app_.clock)
            if result.created:
                record_arrival(app_, mail, result.message_pk)
            created += result.created
            duplicates += not result.created
            bar.update(1)
    kinds: Counter[str] = Counter()
    with typer.progressbar(length=created, label="Processing", hidden=not _tty()) as bar:
        while pending := app_.pipeline.pending(200):
            for message in pending:
                kinds[app_.pipeline.run_one(message.pk) or "needs a person"] += 1
                bar.update(1)
    app_.outbox.drain()
    typer.echo(f"Read {plural(total, 'message')}: {created} stored, {duplicates} already stored.")
    for path, why in skipped:
        typer.echo(f"  skipped {path}: {why}")
    for kind, count in sorted(kinds.items()):
        typer.echo(f"  {kind}: {count}")
    app_.close()


def record_arrival(app_: App, mail: RawMail, message_pk: int) -> None:
    """Say, in the audit trail, where a file's arrival time was read from."""
    from foi_mailbot.cases.register import audit
    from foi_mailbot.sources.files import arrival
    from foi_mailbot.storage.db import session_scope

    if not mail.source_key.startswith(("file:", "maildir:")):
        return  # an mbox message is dated by its From_ line
    _at, source = arrival(mail.raw, mail.arrived_at)
    with session_scope(app_.factory) as session:
        audit(session, at=app_.clock.now(), action="message.arrival", message_pk=message_pk,
              cause=f"arrived {mail.arrived_at.isoformat()}, from {source}",
              detail={"arrived_at": mail.arrived_at.isoformat(), "from": source})


def _tty() -> bool:
    return sys.stderr.isatty()


@app.command("classify", cls=Command)
def classify_files(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help=".eml files to classify.")],
    mailbox: Annotated[str | None, typer.Option(
        metavar="ADDRESS", help="Our mailbox address.")] = None,
    staff_domain: Annotated[list[str] | None, typer.Option(
        metavar="DOMAIN", help="A staff domain (repeatable).")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    evaluate: Annotated[bool, typer.Option(
        "--evaluate", help="Score a labelled folder: give DIR and LABELS.json.")] = False,
) -> None:
    """Classify .eml files without touching the database (or score a labelled folder)."""
    from foi_mailbot.bootstrap import reference_codec
    from foi_mailbot.classify import classify as classify_mail
    from foi_mailbot.parsing import parse
    from foi_mailbot.pipeline import classify_context

    settings = settings_from(config)
    ctx = classify_context(settings)
    ctx = replace(ctx, find_references=reference_codec(settings).find)
    if mailbox:
        ctx = replace(ctx, mailbox_addresses=ctx.mailbox_addresses | {mailbox.lower()})
    if staff_domain:
        ctx = replace(ctx, staff_domains=ctx.staff_domains | {d.lower() for d in staff_domain})
    if evaluate:
        _evaluate(files, ctx, as_json=as_json)
        return
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
                "other_references": list(verdict.other_references),
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


def _evaluate(args: list[Path], ctx: ClassifyContext, *, as_json: bool) -> None:
    """Score the labelled folder `args[0]` against `args[1]`; exit 1 when anything is wrong."""
    from foi_mailbot.classify import classify as classify_mail
    from foi_mailbot.classify.evaluation import evaluate, load_labels, unlabelled
    from foi_mailbot.parsing import parse

    if len(args) != 2 or not args[0].is_dir() or not args[1].is_file():
        fail("--evaluate takes a folder of .eml files and its labels file (JSON)")
    directory, labels_path = args
    try:
        labels = load_labels(labels_path)
    except (OSError, ValueError) as exc:
        fail(f"cannot read the labels: {exc}")
    missing = [name for name in labels if not (directory / name).is_file()]
    if missing:
        fail(f"labelled but not in {directory}: {', '.join(missing)}")

    def one(path: Path, context: ClassifyContext) -> Classification:
        return classify_mail(parse(path.read_bytes()), context)

    result = evaluate(directory, labels, one, ctx)
    if as_json:
        typer.echo(json.dumps({
            "messages": len(result.scored), "right": result.right, "accuracy": result.accuracy,
            "per_kind": {k: {"right": r, "total": t} for k, (r, t) in result.per_kind().items()},
            "confusion": [{"labelled": e, "found": g, "count": n}
                          for (e, g), n in sorted(result.confusion().items())],
            "unsafe": [s.name for s in result.unsafe], "lost": [s.name for s in result.lost],
            "wrong": {s.name: list(s.wrong) for s in result.scored if s.wrong},
            "unlabelled": unlabelled(directory, labels),
        }))
    else:
        typer.echo(result.report())
        for name in unlabelled(directory, labels):
            typer.echo(f"not labelled: {name}")
    if result.right != len(result.scored):
        raise typer.Exit(1)
