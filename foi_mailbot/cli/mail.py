"""Commands about mail: `ingest` (one-shot import) and `classify` (no database)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from foi_mailbot.bootstrap import build, reference_codec
from foi_mailbot.classify import classify as classify_mail
from foi_mailbot.classify.base import Classification, ClassifyContext
from foi_mailbot.cli.common import ConfigOption, JsonOption, app, fail, settings_from
from foi_mailbot.ingest import store
from foi_mailbot.parsing import parse
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
    evaluate: Annotated[bool, typer.Option(
        "--evaluate", help="Score a labelled folder: give DIR and LABELS.json.")] = False,
) -> None:
    """Classify .eml files without touching the database (or score a labelled folder)."""
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
        verdict = classify_mail(parse(raw), ctx)
        if as_json:
            typer.echo(json.dumps({
                "file": str(path), "kind": verdict.kind.value, "reference": verdict.reference,
                "reasons": list(verdict.reasons), "rule": verdict.rule,
                "law": verdict.law.value if verdict.law else None, "flags": list(verdict.flags),
                "other_references": list(verdict.other_references),
            }))
        else:
            typer.echo(f"{path}: {verdict.kind.value} ({verdict.rule}): "
                       + "; ".join(verdict.reasons))


def _evaluate(args: list[Path], ctx: ClassifyContext, *, as_json: bool) -> None:
    """Score the labelled folder `args[0]` against `args[1]`; exit 1 when anything is wrong."""
    from foi_mailbot.classify.evaluation import evaluate, load_labels, unlabelled

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
