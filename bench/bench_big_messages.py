"""Benchmark: peak memory for one very large message, stored and applied through the pipeline.

Three shapes, each written to a file first (as a mail server would hold it), then read, stored
(`ingest.store`) and applied (`Pipeline.run_pending`) in a fresh process on a SQLite register
in a temporary directory, or with `--database URL` on that database (PostgreSQL; its tables
are dropped and made anew for each shape, so give it a database of its own). The process's
peak RSS is printed; it includes the interpreter and the libraries (about 100 MB).

* a 100 MB message with a large base64 attachment (over `max_message_bytes`);
* a 75 MB message whose text part is base64 (over the cap);
* a 39 MB plain text part (under the cap: parsed up to `PARSE_LIMIT`).

    .venv/bin/python -m bench.bench_big_messages [--database URL]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

MB = 1024 * 1024
_DATABASE = "FOI_MAILBOT_BENCH_DATABASE"
_HEAD = (
    "From: Ann Lee <ann.lee@example.net>\r\nTo: foi@example.gov.uk\r\n"
    "Subject: FOI request with the documents attached\r\n"
    "Date: Mon, 12 Jan 2026 09:40:08 +0000\r\nMessage-ID: <big-{n}@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
)
_REQUEST = ("Under the Freedom of Information Act 2000 please send me the minutes of the "
            "planning committee for 2025.\r\n")


def _attachment_message(size: int) -> bytes:
    boundary = "==bench-boundary=="
    body = base64.encodebytes(b"%PDF-1.7 " * (size * 3 // 4 // 9))
    return (
        _HEAD.format(n=1)
        + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        + f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{_REQUEST}\r\n"
        + f"--{boundary}\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64"
        + '\r\nContent-Disposition: attachment; filename="documents.pdf"\r\n\r\n'
    ).encode() + body + f"\r\n--{boundary}--\r\n".encode()


def _base64_text_message(size: int) -> bytes:
    text = (_REQUEST * (size * 3 // 4 // len(_REQUEST))).encode()
    return (_HEAD.format(n=2) + "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + base64.encodebytes(text)


def _plain_text_message(size: int) -> bytes:
    return (_HEAD.format(n=3) + "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + (
        _REQUEST * (size // len(_REQUEST))).encode()


SHAPES = {
    "100 MB, base64 attachment": lambda: _attachment_message(100 * MB),
    "75 MB, base64 text part": lambda: _base64_text_message(75 * MB),
    "39 MB, plain text part": lambda: _plain_text_message(39 * MB),
}


def _child(path: str, folder: str) -> None:
    """Store and apply one message; print the peak RSS as JSON."""
    from datetime import UTC, datetime

    from foi_mailbot.bootstrap import build
    from foi_mailbot.ingest import store
    from foi_mailbot.settings import Settings
    from foi_mailbot.sources import RawMail

    database = {"url": os.environ[_DATABASE]} if _DATABASE in os.environ else {}
    settings = Settings(paths={"data_dir": folder}, organisation={"reference_secret": "bench"},
                        pipeline={"parse_worker": False}, database=database)
    app = build(settings)
    raw = Path(path).read_bytes()
    store(app.factory, RawMail("bench:1", "foi@example.gov.uk", "INBOX", None, None,
                               datetime.now(UTC), raw, "inbound"), app.clock)
    del raw
    app.pipeline.run_pending()
    app.close()
    print(json.dumps({"peak_rss_mb": round(_peak_rss_mb(), 1)}))


def _peak_rss_mb() -> float:
    """This process's peak RSS. `ru_maxrss` survives exec on Linux (it would report the
    parent's peak), so the kernel's high-water mark for this address space is read instead."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _empty(url: str) -> None:
    """Drop every table of the database at `url` (the child migrates it anew)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main() -> None:
    """Run each shape in a fresh process and print its peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", help="a PostgreSQL URL of a database of its own")
    args = parser.parse_args()
    env = {**os.environ, _DATABASE: args.database} if args.database else None
    print(f"on {'PostgreSQL' if args.database else 'SQLite'}")
    for name, make in SHAPES.items():
        if args.database:
            _empty(args.database)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "message.eml"
            raw = make()
            path.write_bytes(raw)
            size = len(raw)
            del raw
            out = subprocess.run(
                [sys.executable, "-m", "bench.bench_big_messages", "--child", str(path),
                 str(Path(folder) / "data")],
                capture_output=True, text=True, check=True, env=env,
            ).stdout.strip().splitlines()[-1]
            peak = json.loads(out)["peak_rss_mb"]
            print(f"{name:<28} {size / MB:6.1f} MB  peak RSS {peak:6.1f} MB")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        main()
