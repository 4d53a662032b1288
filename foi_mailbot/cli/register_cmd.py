"""`import-register FILE.csv`: load the register of the case system used before."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from foi_mailbot.cli.common import ConfigOption, app, fail, settings_from


@app.command("import-register")
def import_register(
    file: Annotated[Path, typer.Argument(help="CSV: reference, requester_email, requester_name, "
                                              "subject, received, law, status, due.")],
    config: ConfigOption = None,
) -> None:
    """Load an existing case register; bad rows are named, the good ones go in together."""
    from foi_mailbot.bootstrap import build
    from foi_mailbot.cases.register_import import load, read_register
    from foi_mailbot.storage.db import session_scope

    if not file.is_file():
        fail(f"no such file: {file}")
    try:
        rows, bad = read_register(file)
    except (UnicodeDecodeError, OSError) as exc:
        fail(f"cannot read {file}: {exc}")
    for line, why in bad:
        typer.echo(f"line {line}: {why}", err=True)
    app_ = build(settings_from(config))
    with session_scope(app_.factory) as session:
        loaded = load(session, rows, app_.services.calendars, app_.clock.now())
    app_.close()
    typer.echo(f"{len(loaded.added)} cases imported, {len(loaded.already)} already in the "
               f"register, {len(bad)} bad rows skipped.")
    if bad:
        raise typer.Exit(1)
