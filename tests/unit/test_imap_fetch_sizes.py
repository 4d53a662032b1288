"""Fetches are cut by size, so a run of large attachments is never held all at once."""

from __future__ import annotations

from foi_mailbot.sources.imap import FETCH_BYTES, _by_size


def _sizes(**by_uid: int) -> dict[int, dict[bytes, int]]:
    return {int(uid[1:]): {b"RFC822.SIZE": size} for uid, size in by_uid.items()}


def test_small_messages_are_fetched_in_one_go() -> None:
    """A batch well under the limit stays one fetch, in order."""
    assert [[1, 2, 3]] == list(_by_size([1, 2, 3], _sizes(u1=10, u2=20, u3=30)))


def test_large_messages_are_fetched_a_few_at_a_time() -> None:
    """Each fetch stays under the limit; a message over it on its own is fetched alone."""
    half = FETCH_BYTES // 2
    sizes = _sizes(u1=half, u2=half - 1, u3=half, u4=3 * FETCH_BYTES, u5=10)

    assert [[1, 2], [3], [4], [5]] == list(_by_size([1, 2, 3, 4, 5], sizes))


def test_a_message_with_no_size_reported_is_still_fetched() -> None:
    """Expunged meanwhile (no size): it goes with the others, and the fetch finds it gone."""
    assert [[1, 2]] == list(_by_size([1, 2], _sizes(u1=10)))
