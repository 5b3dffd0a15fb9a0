"""ReceiveHook: bytes regexps applied with re.match to message.data; register, unregister, clear."""
from __future__ import annotations

END = b"END"

PATTERNS = {"abc": b"abc", "any_ab": b".*ab", "digits_only": b"[0-9]+$"}
EXPECTED = {
    b"abcdef": {"abc", "any_ab"},
    b"xxab": {"any_ab"},
    b"12345": {"digits_only"},
    b"x12345": set(),  # re.search would match: the hook must anchor at the start
    b"zzz": set(),
}


class Hooked:
    """A connected pair whose listener classifies messages with a ReceiveHook."""

    def __init__(self, links):
        self.links = links
        self.listener, self.connector = links.pair()
        self.hook = links.backend.messaging.ReceiveHook(self.listener.messaging)
        self.calls = []  #: (pattern name, conn_id, ident, message)
        self.ends = 0

    def register(self, name, pattern):
        self.hook.register(pattern, lambda conn, ident, message: self.calls.append(
            (name, conn, ident, message)))

    def exchange(self, *datas, **fields):
        """Send ``datas`` then END; return {data: pattern names that fired} once END arrived."""
        self.calls.clear()
        self.hook.register(END, self._on_end)
        ends = self.ends
        for data in datas:
            self.connector.send("server", data, **fields)
        self.connector.send("server", END)
        self.links.pump(lambda: self.ends > ends, what="END through the hook")
        fired = {data: set() for data in datas}
        for name, _, _, message in self.calls:
            if message.data in fired:
                fired[message.data].add(name)
        return fired

    def _on_end(self, conn, ident, message):
        self.ends += 1


def test_register_calls_every_pattern_matching_at_the_start(links):
    hooked = Hooked(links)
    for name, pattern in PATTERNS.items():
        hooked.register(name, pattern)
    assert hooked.exchange(*EXPECTED) == EXPECTED
    conn = hooked.listener.connected["client"]
    assert {(conn, ident) for _, conn, ident, _ in hooked.calls} == {(conn, "client")}


def test_unregister_and_clear(links):
    hooked = Hooked(links)
    for name, pattern in PATTERNS.items():
        hooked.register(name, pattern)
    hooked.hook.unregister(PATTERNS["any_ab"])
    assert hooked.exchange(b"abcdef", b"xxab") == {b"abcdef": {"abc"}, b"xxab": set()}
    hooked.hook.clear()
    assert hooked.exchange(b"abcdef", b"12345") == {b"abcdef": set(), b"12345": set()}
    hooked.register("again", b"ab")
    assert hooked.exchange(b"abcdef", b"12345") == {b"abcdef": {"again"}, b"12345": set()}


def test_hook_passes_the_whole_message(links):
    hooked = Hooked(links)
    hooked.register("all", b"")
    assert hooked.exchange(b"payload\x00\xff", ttl=None, flags=3) == {b"payload\x00\xff": {"all"}}
    message = hooked.calls[0][3]
    assert (message.data, message.ttl, message.flags) == (b"payload\x00\xff", None, 3)
