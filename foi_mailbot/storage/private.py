"""Files the daemon writes are its own: a restrictive umask and a private data directory.

The database, its write-ahead log, the sent journal and every outgoing letter hold applicants'
names, addresses and words. Outside a hardened service unit the usual umask (022) would leave
them readable by every user of the machine, so the commands that handle mail call
`make_private` before they create anything.
"""

from __future__ import annotations

import os
from pathlib import Path

from foi_mailbot.settings import Settings

UMASK = 0o077  # files 0600, directories 0700


def make_private(settings: Settings) -> None:
    """Set the process umask and create (or close) the data and outgoing directories as 0700."""
    os.umask(UMASK)
    for folder in (settings.paths.data_dir, settings.paths.outgoing()):
        _private_dir(folder)


def _private_dir(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if folder.stat().st_uid == os.getuid():
            folder.chmod(0o700)
    except OSError:
        pass  # not ours to change (a shared mount): the umask still covers what we create
