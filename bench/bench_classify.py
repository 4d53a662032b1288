"""Benchmark: classifying the seeded realistic mix, message by message (no database, no I/O).

Builds (or reads from the cache `bench_ingest` keeps) the first N messages of the mix, parses
each once, then times `classify` over all of them (the process's CPU time, so that other work on a
shared machine does not count) in the context the daemon gives (our mailbox,
a staff domain, the reference codec; half the senders with an open case, as replies would find
them), best of three passes. Prints milliseconds a message and the kinds found.

    .venv/bin/python -m bench.bench_classify [--messages 3000] [--seed 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from bench.seed import messages
from foi_mailbot.cases.reference import ReferenceCodec
from foi_mailbot.classify import classify
from foi_mailbot.classify.base import ClassifyContext
from foi_mailbot.parsing import parse

TARGET_MS = 1.0


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark; returns its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    cache = Path(tempfile.gettempdir()) / "foi-mailbot-bench-cache"
    parsed = [parse(raw) for _i, raw in messages(args.seed, args.messages, cache)]
    codec = ReferenceCodec("IC", "bench-secret")
    base = ClassifyContext(mailbox_addresses=frozenset({"foi@example.gov.uk"}),
                           staff_domains=frozenset({"example.gov.uk"}), find_references=codec.find)
    contexts = [replace(base, sender_open_cases=(codec.format(i + 1),) if i % 2 else ())
                for i in range(len(parsed))]
    best = float("inf")
    kinds: Counter[str] = Counter()
    for _ in range(3):
        start = time.process_time()
        results = [classify(mail, ctx) for mail, ctx in zip(parsed, contexts, strict=True)]
        best = min(best, time.process_time() - start)
        kinds = Counter(r.kind.value for r in results)
    per_message = best * 1000 / len(parsed)
    print(f"classify: {len(parsed):,} messages of the mix, {per_message:.3f} ms a message "
          f"(CPU time, best of 3; target under {TARGET_MS:.0f} ms)")
    for kind, count in kinds.most_common():
        print(f"  {kind}: {count}")
    return {"messages": float(len(parsed)), "ms_per_message": per_message}


if __name__ == "__main__":
    main()
