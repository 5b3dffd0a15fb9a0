"""Reassembly of packets sent in PART pieces: joined in order, per connection, bounded."""
from __future__ import annotations

from snakezmq._core.reassembly import Reassembly
from snakezmq.exceptions import PacketTooLarge


def test_a_data_without_parts_passes_unchanged_and_leaves_nothing_pending():
    parts = Reassembly()
    assert parts.complete("c", [b"packet"]) == [b"packet"]
    assert parts.complete("c", [b"head", b"payload"]) == [b"head", b"payload"]
    assert not parts.pending


def test_parts_go_in_front_of_their_data_per_connection():
    parts = Reassembly()
    assert parts.part("a", b"a1", -1) is None
    assert parts.part("b", b"b1", -1) is None
    assert parts.part("a", b"a2", -1) is None
    assert parts.complete("a", [b"a3"]) == [b"a1a2a3"]
    assert parts.complete("b", [b"b2", b"detached"]) == [b"b1b2", b"detached"]
    assert not parts.pending


def test_parts_past_the_limit_drop_the_packet_once_and_the_next_one_is_whole():
    parts = Reassembly()
    assert parts.part("c", b"x" * 6, 10) is None
    error = parts.part("c", b"x" * 6, 10)
    assert isinstance(error, PacketTooLarge)
    assert parts.part("c", b"x" * 6, 10) is None  # reported once per packet
    assert parts.complete("c", [b"end"]) is None  # the rest of it is dropped too
    assert parts.complete("c", [b"next"]) == [b"next"]
    assert parts.part("c", b"ok", 10) is None and parts.complete("c", [b"!"]) == [b"ok!"]


def test_forget_drops_a_connections_parts():
    parts = Reassembly()
    parts.part("c", b"stale", -1)
    parts.forget("c")
    assert not parts.pending
    assert parts.complete("c", [b"fresh"]) == [b"fresh"]
