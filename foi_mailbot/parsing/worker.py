"""The parsing worker: a second process that parses raw messages sent to it, in order.

Started by `foi_mailbot.parse_ahead` as `python -m foi_mailbot.parsing.worker FD`, where FD is
its end of a socket pair. It imports the parser and nothing else of foi-mailbot (about 22 MB),
holds no state and never touches the database: it receives raw bytes and sends back each
`ParsedMail`, pickled, in the order received. It exits when the other end closes, including
when the daemon is killed.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
from multiprocessing.connection import Connection

from foi_mailbot.memory import return_large_blocks
from foi_mailbot.parsing import parse

_GONE = (EOFError, OSError)


def _receive(conn: Connection, inbox: queue.SimpleQueue[bytes | None]) -> None:
    # Reading in its own thread keeps the daemon's writes from ever waiting on our replies.
    try:
        while True:
            inbox.put(conn.recv_bytes())
    except _GONE:
        inbox.put(None)


def serve(conn: Connection) -> None:
    """Parse each raw message received on `conn` and send the result back, until it closes."""
    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    threading.Thread(target=_receive, args=(conn, inbox), daemon=True).start()
    while (raw := inbox.get()) is not None:
        try:
            conn.send(parse(raw))
        except _GONE:
            return


def main(argv: list[str]) -> int:
    """Entry point: serve the socket whose descriptor is the only argument."""
    # A Ctrl-C at a terminal, or systemd stopping the service, reaches every process of the
    # daemon: it finishes the message in hand, and we stop when it closes our socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return_large_blocks()
    serve(Connection(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
