"""The parsing worker: a second process that parses raw messages sent to it, in order.

Started by `foi_mailbot.parse_ahead` as `python -m foi_mailbot.parsing.worker FD [DATABASE]`,
where FD is its end of a socket pair. It imports the parser and nothing else of foi-mailbot
(about 22 MB) and holds no state: it receives raw bytes, or with DATABASE (a SQLite file) the
ids of stored messages whose bytes it reads there, never writing; it sends back each
`ParsedMail` (None for a message without bytes), pickled, in the order received. It exits
when the other end closes, including when the daemon is killed.
"""

from __future__ import annotations

import queue
import signal
import sqlite3
import struct
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

from foi_mailbot.memory import return_large_blocks
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.parsed import ParsedMail

_GONE = (EOFError, OSError)
ID_FORMAT = "!q"
"""How a stored message's id is sent to a worker that reads the database itself."""


def _receive(conn: Connection, inbox: queue.SimpleQueue[bytes | None]) -> None:
    # Reading in its own thread keeps the daemon's writes from ever waiting on our replies.
    try:
        while True:
            inbox.put(conn.recv_bytes())
    except _GONE:
        inbox.put(None)


Result = tuple[ParsedMail | None]
"""One message's result, as queued for sending (None: it had no bytes)."""
Loader = Callable[[bytes], bytes | None]
"""What was received -> the raw message to parse (None: there is none)."""


def stored_messages(database: str) -> Loader:
    """A loader reading the raw bytes of the stored message whose id was received."""
    # Read only: WAL lets us read beside the daemon's writes without taking its lock.
    db = sqlite3.connect(database, timeout=30, check_same_thread=False)
    db.execute("PRAGMA query_only=1")

    def load(received: bytes) -> bytes | None:
        (message_pk,) = struct.unpack(ID_FORMAT, received)
        try:
            row = db.execute("SELECT raw FROM raw_message WHERE message_pk = ?", (message_pk,))
            found = row.fetchone()
        except sqlite3.Error:
            return None  # the daemon parses it in place, and reports what is wrong
        return bytes(found[0]) if found and found[0] is not None else None

    return load


def serve(conn: Connection, load: Loader | None = None) -> None:
    """Parse each message received on `conn` and send the result back, until it closes."""
    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    threading.Thread(target=_receive, args=(conn, inbox), daemon=True).start()
    # Results are sent by a thread of their own: a socket's buffer holds only a few parsed
    # messages, and parsing must not wait for the daemon to read them. The daemon sends a
    # bounded number of messages ahead, so this queue stays short.
    outbox: queue.SimpleQueue[Result | None] = queue.SimpleQueue()  # None: no more
    gone = threading.Event()
    sender = threading.Thread(target=_send, args=(conn, outbox, gone), daemon=True)
    sender.start()
    while not gone.is_set() and (received := inbox.get()) is not None:
        raw = load(received) if load is not None else received
        outbox.put((parse(raw) if raw is not None else None,))
    outbox.put(None)
    sender.join()


def _send(conn: Connection, outbox: queue.SimpleQueue[Result | None],
          gone: threading.Event) -> None:
    while (result := outbox.get()) is not None:
        try:
            conn.send(result[0])
        except _GONE:
            gone.set()
            return


def main(argv: list[str]) -> int:
    """Entry point: serve the socket whose descriptor is the only argument."""
    # A Ctrl-C at a terminal, or systemd stopping the service, reaches every process of the
    # daemon: it finishes the message in hand, and we stop when it closes our socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return_large_blocks(threshold=2**20, keep=8 * 2**20)  # see `memory`: short-lived
    load = stored_messages(argv[1]) if len(argv) > 1 else None
    serve(Connection(int(argv[0])), load)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
