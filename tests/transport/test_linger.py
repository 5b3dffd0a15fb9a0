"""cleanup()'s linger: which sessions it waits for."""
from __future__ import annotations

from snakezmq._transport.linger import LocalSessions


def test_a_session_is_within_this_process_when_both_ends_started_it_here():
    sessions = LocalSessions(limit=3)
    sessions.started(b"both")
    assert not sessions.both_ends_here(b"both")
    sessions.started(b"both")
    assert sessions.both_ends_here(b"both")
    assert not sessions.both_ends_here(b"unknown")


def test_only_the_most_recent_sessions_are_kept():
    sessions = LocalSessions(limit=3)
    for nonce in (b"old", b"old", b"a", b"b", b"c"):
        sessions.started(nonce)
    assert not sessions.both_ends_here(b"old")
