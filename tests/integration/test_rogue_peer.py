"""Bad input from a raw pyzmq peer never hurts a snakezmq Link, and is never silent.

A rogue DEALER talks to a snakezmq listener, and a rogue ROUTER answers a
snakezmq connector, with every kind of bad input from docs/protocol.md's point
of view. For each: an ERROR in the log, ``on_error(conn_id, exc)`` with a typed
exception from ``snakezmq.exceptions`` where a connection exists, the loop
never raises or hangs (every pump has a deadline and would re-raise), and a
legitimate snakezmq peer connected at the same time keeps exchanging messages
and loses none.
"""
from __future__ import annotations

import gc
import logging
import os
import random
import time
import tracemalloc
from typing import Any, List, Optional

import msgpack
import pytest
import zmq

from snakezmq._core import wire
from snakezmq._core.wire import MAGIC, LinkKind, MessagingKind
from snakezmq.exceptions import (ConnectionRefused, DuplicateIdent, MessageSizeExceeded,
                                 PacketTooLarge, SnakeMQException, SnakeMQIncompatibleProtocol,
                                 SnakeMQNoIdent, WireError)
from snakezmq.message import Message

REPORT_DEADLINE = 3.0  # an error is reported this soon after the bad frame was sent
PACKET_LIMIT = 10_000  # Packeter.max_packet_size in the oversized-message tests
# libzmq drops the connection at once; the listener ends the session at once too, or in
# its second sweep 100 ms later (libzmq may free the routing id after the first), or at
# the latest at the next link ping (2 s): allow the documented 10 s bound.
DROP_DEADLINE = 10.0


# -- frames -------------------------------------------------------------------------------------

def link(kind: LinkKind, *fields: Any) -> bytes:
    return wire.encode_link(kind, *fields)


def nonce() -> bytes:
    return os.urandom(wire.NONCE_BYTES)


def hello(the_nonce: Optional[bytes] = None, version: int = wire.LINK_VERSION,
          rid_is_ident: bool = True) -> bytes:
    return link(LinkKind.HELLO, MAGIC, version, the_nonce or nonce(), rid_is_ident)


DATA = link(LinkKind.DATA)
PING = link(LinkKind.PING)
RESET = link(LinkKind.RESET)
BYE = link(LinkKind.BYE)


def ident_packet(ident: Any, version: int = wire.MESSAGING_VERSION) -> bytes:
    return bytes([MessagingKind.IDENT]) + msgpack.packb([version, ident, nonce()], use_bin_type=True)


def resume_packet() -> bytes:
    """The RESUME that completes a rogue's handshake: it knows nothing of our stream."""
    return wire.encode_resume(wire.Resume(None, 0, 1, 0, False))


def non_utf8_ident_packet() -> bytes:
    """IDENT whose ident is a msgpack str holding bytes that are not UTF-8."""
    bad_str = b"\xa2\xff\xfe"  # fixstr of 2 bytes
    return (bytes([MessagingKind.IDENT]) + b"\x93" + msgpack.packb(wire.MESSAGING_VERSION)
            + bad_str + msgpack.packb(nonce(), use_bin_type=True))


def messages_packet(data: bytes = b"sneaky", first_seq: int = 1) -> bytes:
    return wire.encode_messages(first_seq, [Message(data)], [None])


def raw_messages(header: Any, payload: bytes = b"", length: Optional[int] = None) -> bytes:
    packed = msgpack.packb(header, use_bin_type=True)
    size = len(packed) if length is None else length
    return bytes([MessagingKind.MESSAGES]) + size.to_bytes(4, "big") + packed + payload


# -- the rogues ----------------------------------------------------------------------------------

class RogueContext:
    """A ZeroMQ context of the rogues' own (snakezmq uses the process-wide one).

    Every socket is kept here and closed explicitly at the end: a socket left to the
    garbage collector raises ResourceWarning (an error under this project's pytest
    settings) before pyzmq closes it, and the context's term() then waits forever.
    """

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.sockets: List[zmq.Socket] = []

    def socket(self, kind: int) -> zmq.Socket:
        sock = self.ctx.socket(kind)
        sock.linger = 0
        self.sockets.append(sock)
        return sock

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(linger=0)
        self.ctx.term()


@pytest.fixture
def zctx():
    ctx = RogueContext()
    yield ctx
    ctx.close()


class RogueDealer:
    """A raw DEALER that says whatever the test wants to a snakezmq listener."""

    def __init__(self, ctx: RogueContext, endpoint: str, rid: Optional[bytes]) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        # No automatic reconnect: a rogue cut off by libzmq must stay gone. (One that came
        # back at once under the same routing id, without a HELLO, would keep its session
        # until link liveness ends it, 6 s later: a different test.)
        self.sock.reconnect_ivl = -1
        if rid is not None:
            self.sock.routing_id = rid
        self.sock.connect(endpoint)
        self.received: List[List[bytes]] = []

    def send(self, *frames: bytes) -> None:
        self.sock.send_multipart(list(frames))

    def poll(self) -> List[List[bytes]]:
        return drain(self.sock, self.received)

    def got(self, header: bytes) -> bool:
        return any(frames[0] == header for frames in self.poll())

    def got_welcome(self, the_nonce: bytes) -> bool:
        """A WELCOME of this link version for ``the_nonce`` (whatever optional fields follow)."""
        return any(wire.decode_link(frames[:1]).fields[:2] == (wire.LINK_VERSION, the_nonce)
                   for frames in self.got_kind(LinkKind.WELCOME))

    def got_kind(self, kind: LinkKind) -> List[List[bytes]]:
        return [frames for frames in self.poll() if frames[0][:1] == bytes([kind])]


def drain(sock: Any, received: List[List[bytes]]) -> List[List[bytes]]:
    """Append every message waiting on ``sock`` to ``received``; returns ``received``."""
    while True:
        try:
            received.append(sock.recv_multipart(zmq.NOBLOCK))
        except zmq.Again:
            return received


class RogueRouter:
    """A raw ROUTER that a snakezmq connector connects to."""

    def __init__(self, ctx: RogueContext) -> None:
        self.sock = ctx.socket(zmq.ROUTER)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.address = ("127.0.0.1", port)
        self.received: List[List[bytes]] = []

    def poll(self) -> List[List[bytes]]:
        return drain(self.sock, self.received)

    def hellos(self) -> List[List[bytes]]:
        return [f for f in self.poll() if len(f) == 2 and f[1][:1] == bytes([LinkKind.HELLO])]

    def send(self, rid: bytes, *frames: bytes) -> None:
        self.sock.send_multipart([rid] + list(frames))


# -- the snakezmq side ---------------------------------------------------------------------------

class LinkEvents:
    def __init__(self, link: Any) -> None:
        self.connects: List[str] = []
        self.disconnects: List[str] = []
        link.on_connect.add(self.connects.append)
        link.on_disconnect.add(self.disconnects.append)


class Legit:
    """Traffic between two well-behaved snakezmq peers ``a`` and ``b``: nothing may get lost."""

    def __init__(self, links: Any, a: Any, a_events: Any, b: Any, b_events: Any) -> None:
        self.links = links
        self.a, self.a_events, self.b, self.b_events = a, a_events, b, b_events
        self.to_a: List[bytes] = []
        self.to_b: List[bytes] = []
        self.count = 0

    def send(self, n: int = 3) -> None:
        for _ in range(n):
            self.count += 1
            self.to_b.append(b"to-b-%d" % self.count)
            self.a.send_message(self.b.identifier, Message(self.to_b[-1], ttl=None))
            self.to_a.append(b"to-a-%d" % self.count)
            self.b.send_message(self.a.identifier, Message(self.to_a[-1], ttl=None))

    def got_at(self, events: Any, sender: str) -> List[bytes]:
        return [e[3].data for e in events.of("recv") if e[2] == sender]

    def check(self, timeout: float = 5.0, errors_allowed: bool = False) -> None:
        """Send a few more each way; everything sent so far arrives once, in order, no disconnect."""
        self.send()
        a_id, b_id = self.a.identifier, self.b.identifier
        self.links.pump(lambda: len(self.got_at(self.b_events, a_id)) >= len(self.to_b)
                        and len(self.got_at(self.a_events, b_id)) >= len(self.to_a),
                        timeout, "the legitimate peers' messages")
        assert self.got_at(self.b_events, a_id) == self.to_b
        assert self.got_at(self.a_events, b_id) == self.to_a
        for events, other in ((self.a_events, b_id), (self.b_events, a_id)):
            assert [e for e in events.of("disconnect") if e[2] == other] == []
            assert [e for e in events.of("connect") if e[2] == other][1:] == []  # never reconnected
            if not errors_allowed:
                assert [e for e in events.of("error") if e[1] == self.conn_of(events, other)] == []

    @staticmethod
    def conn_of(events: Any, ident: str) -> Optional[str]:
        found = [e[1] for e in events.of("connect") if e[2] == ident]
        return found[0] if found else None


class Site:
    """A snakezmq listener "server" with a legitimate snakezmq client "legit" connected."""

    def __init__(self, links: Any, packet_limit: Optional[int] = None) -> None:
        self.links = links
        self.link, self.packeter, self.server = links.stack("server")
        if packet_limit is not None:
            self.packeter.max_packet_size = packet_limit  # before the sockets exist
        self.events = links.record(self.server)
        self.link_events = LinkEvents(self.link)
        host, port = self.link.add_listener(("127.0.0.1", 0))
        self.endpoint = "tcp://%s:%d" % (host, port)
        legit_link, legit_packeter, self.legit = links.stack("legit")
        if packet_limit is not None:
            legit_packeter.max_packet_size = packet_limit
        self.legit_events = links.record(self.legit)
        legit_link.add_connector((host, port), reconnect_interval=0.2)
        links.pump(lambda: self.events.connected("legit") and self.legit_events.connected("server"),
                   what="the legitimate peer to connect")
        self.traffic = Legit(links, self.server, self.events, self.legit, self.legit_events)
        self.traffic.send()  # in flight while the rogue does its thing

    def rogue(self, ctx: RogueContext, rid: Optional[bytes] = b"rogue") -> RogueDealer:
        return RogueDealer(ctx, self.endpoint, rid)

    def rogue_session(self, ctx: RogueContext, rid: Optional[bytes] = b"rogue",
                      rid_is_ident: bool = True) -> "tuple[RogueDealer, str]":
        """A rogue that said a proper HELLO: it has a link session (conn_id)."""
        rogue = self.rogue(ctx, rid)
        the_nonce = nonce()
        known = len(self.link_events.connects)
        rogue.send(hello(the_nonce, rid_is_ident=rid_is_ident))
        self.links.pump(lambda: rogue.got_welcome(the_nonce) and len(self.link_events.connects) > known,
                        what="the rogue's WELCOME")
        return rogue, self.link_events.connects[-1]


def snakezmq_errors(caplog: Any) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("snakezmq") and r.levelno >= logging.ERROR]


def expect_reported(links: Any, events: Any, caplog: Any, conn_id: Optional[str],
                    error_type: type, timeout: float = REPORT_DEADLINE,
                    logged_text: Optional[str] = None) -> SnakeMQException:
    """Wait for ``on_error(conn_id, error_type)``; check it is typed and logged at ERROR
    (one line with the error's text, or ``logged_text``)."""
    def found() -> List[Any]:
        return [e[2] for e in events.of("error") if e[1] == conn_id and isinstance(e[2], error_type)]

    links.pump(found, timeout, "on_error(%s, %s)" % (conn_id, error_type.__name__))
    error = found()[0]
    assert isinstance(error, SnakeMQException)
    text = str(error)[:100] if logged_text is None else logged_text
    logged = [r for r in snakezmq_errors(caplog) if text in r.getMessage()]
    assert logged, "no ERROR log line for %r; log:\n%s" % (error, caplog.text)
    assert all(r.exc_info is None for r in logged)  # one line, not a traceback
    return error


@pytest.fixture
def site(links, caplog):
    caplog.set_level(logging.INFO, logger="snakezmq")
    return Site(links)


# -- rogue DEALER -> snakezmq listener: link layer --------------------------------------------------

LINK_GARBAGE = {
    "empty header frame": [b""],
    "unknown kind 0x00": [b"\x00"],
    "unknown kind 0x7f with fields": [b"\x7f" + msgpack.packb([1, 2, 3])],
    "unknown kind 0xff with a body": [b"\xff", b"body"],
    "truncated HELLO header": [hello()[:7]],
    "HELLO kind byte only": [b"\x01"],
    "HELLO fields not an array": [b"\x01" + msgpack.packb({"magic": MAGIC})],
    "HELLO with bad magic": [link(LinkKind.HELLO, "ZMQS", 1, b"12345678", True)],
    "HELLO with a short nonce": [link(LinkKind.HELLO, MAGIC, 1, b"1234", True)],
    "HELLO with too few fields": [link(LinkKind.HELLO, MAGIC, 1)],
    "HELLO with a negative version": [link(LinkKind.HELLO, MAGIC, -1, b"12345678", True)],
    "oversized header: 1 MiB magic": [link(LinkKind.HELLO, "M" * (1 << 20), 1, b"12345678", True)],
    "oversized header: PING with 64 KiB of fields": [PING + b"\x00" * 65536],
    "header nested 100000 deep": [b"\x01" + b"\x91" * 100000 + b"\xc0"],
    "DATA without its body frame": [DATA],
    "DATA with three body frames": [DATA, b"one", b"two", b"three"],
    "PACKETS whose lengths do not add up": [link(LinkKind.PACKETS), b"\0\0\0\2\0\0\0\1\0\0\0\5ab"],
    "PACKETS of no packets": [link(LinkKind.PACKETS), b"\0\0\0\0"],
    "HELLO with a body frame": [hello(), b"body"],
    "PING with three body frames": [PING, b"", b"", b""],
    "WELCOME towards a listener": [link(LinkKind.WELCOME, 1, b"12345678")],
    "REFUSE towards a listener": [link(LinkKind.REFUSE, "version", "no")],
    "RESET towards a listener": [RESET],
    "PROBED towards a listener": [link(LinkKind.PROBED, "retry", "no")],
}


@pytest.mark.parametrize("frames", list(LINK_GARBAGE.values()), ids=list(LINK_GARBAGE))
def test_listener_reports_bad_link_frame_of_a_session(site, zctx, caplog, frames):
    rogue, conn_id = site.rogue_session(zctx)
    caplog.clear()
    rogue.send(*frames)
    error = expect_reported(site.links, site.events, caplog, conn_id, WireError)
    assert len(caplog.text) < 10_000, "log line not bounded: %d chars" % len(caplog.text)
    assert len(str(error)) < 1000
    site.traffic.check()


@pytest.mark.parametrize("frames", [[b"\x7fjunk"], [DATA, b"a", b"b", b"c"], [hello()[:5]], [b""]],
                         ids=["unknown kind", "DATA with three bodies", "truncated HELLO", "empty"])
def test_listener_reports_bad_frame_before_hello(site, zctx, caplog, frames):
    """No session yet: still an ERROR, and on_error(None, WireError)."""
    rogue = site.rogue(zctx)
    caplog.clear()
    rogue.send(*frames)
    expect_reported(site.links, site.events, caplog, None, WireError)
    assert site.link_events.connects[1:] == []  # only the legitimate peer's session
    site.traffic.check()


@pytest.mark.parametrize("frames", [[DATA, messages_packet()], [PING]], ids=["DATA", "PING"])
def test_listener_resets_data_or_ping_before_hello(site, zctx, caplog, frames):
    rogue = site.rogue(zctx)
    rogue.send(*frames)
    site.links.pump(lambda: rogue.got(RESET), what="RESET for a frame without a session")
    site.links.pump_for(0.2)
    assert site.link_events.connects[1:] == []  # no session was made for it
    assert [e for e in site.events.of("recv") if e[2] != "legit"] == []
    site.traffic.check()


def test_listener_refuses_wrong_link_version(site, zctx, caplog):
    rogue = site.rogue(zctx)
    caplog.clear()
    rogue.send(hello(version=99))
    site.links.pump(lambda: rogue.got_kind(LinkKind.REFUSE), what="REFUSE")
    refuse = wire.decode_link(rogue.got_kind(LinkKind.REFUSE)[0])
    assert refuse.fields[0] == "version"
    assert "99" in refuse.fields[1]
    assert [r for r in snakezmq_errors(caplog) if "version 99" in r.getMessage()], caplog.text
    assert site.link_events.connects[1:] == []
    site.traffic.check()


def test_listener_reports_random_frames(site, zctx, caplog):
    """Seeded random multipart messages; each one the codec rejects is reported once."""
    rng = random.Random(5)
    bad = []
    while len(bad) < 200:
        frames = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 48)))
                  for _ in range(rng.randrange(1, 5))]
        try:
            wire.decode_link(frames)
        except WireError:
            bad.append(frames)
    rogue, conn_id = site.rogue_session(zctx)
    caplog.clear()
    for frames in bad:
        rogue.send(*frames)
    site.links.pump(lambda: len([e for e in site.events.of("error") if e[1] == conn_id]) >= len(bad),
                    what="an on_error for every random frame")
    errors = [e[2] for e in site.events.of("error") if e[1] == conn_id]
    assert len(errors) == len(bad)
    assert all(isinstance(e, WireError) for e in errors)
    # Logged, but rate-limited per peer and kind: a few lines, not one per frame.
    assert 1 <= len(snakezmq_errors(caplog)) <= LOGGED_PER_KIND, caplog.text
    site.traffic.check()


def test_listener_answers_probe_naming_the_legit_peer_without_disturbing_it(site, zctx, caplog):
    rogue = site.rogue(zctx, rid=b"~prober")
    rogue.send(link(LinkKind.PROBE, MAGIC, wire.LINK_VERSION, b"legit", nonce()))
    site.links.pump(lambda: rogue.got_kind(LinkKind.PROBED), what="PROBED")
    assert wire.decode_link(rogue.got_kind(LinkKind.PROBED)[0]).fields[0] == "duplicate"
    site.traffic.check(errors_allowed=True)  # the listener reports the "duplicate" it was told of


# -- rogue DEALER -> snakezmq listener: messaging layer ----------------------------------------------

BEFORE_IDENT = {
    "MESSAGES before IDENT": ([messages_packet()], SnakeMQNoIdent),
    "ACK before IDENT": ([wire.encode_ack(5)], SnakeMQNoIdent),
    "empty packet": ([b""], WireError),
    "unknown messaging kind": ([b"\x99junk"], WireError),
    "IDENT fields not an array": ([b"\x01" + msgpack.packb("ident")], WireError),
    "IDENT with too few fields": ([b"\x01" + msgpack.packb([1, "rogue"])], WireError),
    "IDENT ident not UTF-8": ([non_utf8_ident_packet()], WireError),
}

AFTER_IDENT = {
    "MESSAGES header length beyond the packet": ([raw_messages([1, 0, [], [], [], [], 0, False], length=1 << 30)], WireError),
    "MESSAGES truncated header length": ([b"\x02\x00\x01"], WireError),
    "MESSAGES announcing 1000 messages": ([raw_messages([1, 0, [b"u" * 16] * 1000, [None], [0], [0], 0, False])], WireError),
    "MESSAGES length beyond the payload": ([raw_messages([1, 0, [b"u" * 16], [None], [0], [500], 0, False], b"x")],
                                           WireError),
    "MESSAGES with trailing bytes": ([messages_packet() + b"trailing"], WireError),
    "MESSAGES with a 17-byte uuid": ([raw_messages([1, 0, [b"u" * 17], [None], [0], [1], 0, False], b"x")], WireError),
    "ACK not an integer": ([b"\x03" + msgpack.packb(["many", 0, False])], WireError),
    # (packet, payload): DATA with a detached payload frame
    "detached payload on an ACK": ([(wire.encode_ack(1), b"payload")], WireError),
    "detached payload shorter than announced": (
        [(wire.encode_messages(1, [Message(b"abc")], [None], detached=True), b"ab")], WireError),
}


@pytest.mark.parametrize("packets,error_type", list(BEFORE_IDENT.values()), ids=list(BEFORE_IDENT))
def test_listener_reports_bad_packet_before_ident(site, zctx, caplog, packets, error_type):
    rogue, conn_id = site.rogue_session(zctx)
    caplog.clear()
    for packet in packets:
        rogue.send(DATA, packet)
    expect_reported(site.links, site.events, caplog, conn_id, error_type)
    assert site.events.of("connect")[1:] == []  # never identified
    site.traffic.check()


@pytest.mark.parametrize("packets,error_type", list(AFTER_IDENT.values()), ids=list(AFTER_IDENT))
def test_listener_reports_bad_packet_after_ident(site, zctx, caplog, packets, error_type):
    rogue, conn_id = site.rogue_session(zctx)
    rogue.send(DATA, ident_packet("rogue"))
    rogue.send(DATA, resume_packet())
    site.links.pump(lambda: site.events.connected("rogue"), what="the rogue to identify")
    caplog.clear()
    for packet in packets:
        rogue.send(DATA, *(packet if isinstance(packet, tuple) else (packet,)))
    expect_reported(site.links, site.events, caplog, conn_id, error_type)
    assert [e for e in site.events.of("recv") if e[2] == "rogue"] == []
    site.traffic.check()


def test_listener_refuses_wrong_messaging_version(site, zctx, caplog):
    rogue, conn_id = site.rogue_session(zctx)
    caplog.clear()
    rogue.send(DATA, ident_packet("rogue", version=99))
    expect_reported(site.links, site.events, caplog, conn_id, SnakeMQIncompatibleProtocol)
    site.links.pump(lambda: conn_id in site.link_events.disconnects, what="the rogue's conn closed")
    assert not site.events.connected("rogue")
    site.traffic.check()


BAD_IDENTS = [
    pytest.param(b"rogue", True, "", SnakeMQNoIdent, id="empty IDENT"),
    pytest.param(None, False, "", SnakeMQNoIdent, id="empty IDENT, libzmq's routing id"),
    pytest.param(None, True, "anon", SnakeMQNoIdent,
                 id="no routing id set (libzmq assigns one) but claimed as the ident"),
    pytest.param(b"r" * 51, True, "r" * 51, SnakeMQNoIdent, id="51 characters as routing id and IDENT"),
    pytest.param(None, False, "r" * 51, SnakeMQNoIdent, id="51 characters in IDENT"),
    pytest.param(b"rogue", True, "server2", SnakeMQNoIdent, id="IDENT differs from the routing id"),
    pytest.param(None, False, "legit", DuplicateIdent, id="IDENT of the connected legit peer"),
    pytest.param(b"\xff\xfe", True, "\ufffd\ufffd", SnakeMQNoIdent,
                 id="routing id not UTF-8"),
    pytest.param(b"\x00abc", True, "\x00abc", SnakeMQNoIdent,
                 id="routing id starts with a zero byte"),
    pytest.param(None, False, "\x00abc", SnakeMQNoIdent,
                 id="IDENT starts with a zero byte"),
]


@pytest.mark.parametrize("rid,rid_is_ident,ident,error_type", BAD_IDENTS)
def test_listener_refuses_bad_ident(site, zctx, caplog, rid, rid_is_ident, ident, error_type):
    """Refused either at once (REFUSE to the HELLO, logged) or when the IDENT comes (on_error)."""
    rogue = site.rogue(zctx, rid)
    the_nonce = nonce()
    known = len(site.link_events.connects)
    caplog.clear()
    rogue.send(hello(the_nonce, rid_is_ident=rid_is_ident))
    site.links.pump(lambda: rogue.got_welcome(the_nonce) or rogue.got_kind(LinkKind.REFUSE),
                    what="WELCOME or REFUSE")
    if rogue.got_kind(LinkKind.REFUSE):
        assert snakezmq_errors(caplog), "REFUSE without an ERROR in the log"
        assert site.link_events.connects[known:] == []
        site.traffic.check()
        return
    site.links.pump(lambda: len(site.link_events.connects) > known, what="the rogue's session")
    conn_id = site.link_events.connects[-1]
    rogue.send(DATA, ident_packet(ident))
    expect_reported(site.links, site.events, caplog, conn_id, error_type, timeout=2.0)
    # Refused: the connection is closed and the ident never connected on it.
    site.links.pump(lambda: conn_id in site.link_events.disconnects, what="the rogue's conn closed")
    assert [e for e in site.events.of("connect") if e[1] == conn_id] == []
    site.traffic.check()


def test_listener_refuses_non_utf8_ident_packet(site, zctx, caplog):
    rogue, conn_id = site.rogue_session(zctx)
    caplog.clear()
    rogue.send(DATA, non_utf8_ident_packet())
    expect_reported(site.links, site.events, caplog, conn_id, WireError)
    site.links.pump_for(0.2)
    assert site.events.of("connect")[1:] == []
    site.traffic.check()


# -- rogue ROUTER <- snakezmq connector -------------------------------------------------------------

class Victim:
    """A snakezmq connector "victim" whose listener is a rogue ROUTER, and which also
    connects to a legitimate snakezmq listener "peer" (their traffic must not suffer)."""

    def __init__(self, links: Any, ctx: RogueContext, packet_limit: Optional[int] = None) -> None:
        self.links = links
        peer_link, _, peer = links.stack("peer")
        peer_events = links.record(peer)
        peer_address = peer_link.add_listener(("127.0.0.1", 0))
        self.link, packeter, self.victim = links.stack("victim")
        if packet_limit is not None:
            packeter.max_packet_size = packet_limit
        self.events = links.record(self.victim)
        self.link_events = LinkEvents(self.link)
        self.link.add_connector(peer_address, reconnect_interval=0.2)
        links.pump(lambda: self.events.connected("peer") and peer_events.connected("victim"),
                   what="victim to connect to the legitimate peer")
        self.traffic = Legit(links, self.victim, self.events, peer, peer_events)
        self.traffic.send()
        self.rogue = RogueRouter(ctx)
        self.link.add_connector(self.rogue.address, reconnect_interval=0.2)

    def hello(self) -> "tuple[bytes, bytes]":
        """Wait for the victim's HELLO: its routing id and nonce."""
        self.links.pump(lambda: self.rogue.hellos(), what="the victim's HELLO")
        rid, header = self.rogue.hellos()[-1]
        return rid, wire.decode_link([header]).fields[2]

    def session(self) -> "tuple[bytes, str]":
        """Answer the HELLO with WELCOME: the victim's Link gets a session (conn_id)."""
        rid, the_nonce = self.hello()
        known = len(self.link_events.connects)
        self.rogue.send(rid, link(LinkKind.WELCOME, wire.LINK_VERSION, the_nonce))
        self.links.pump(lambda: len(self.link_events.connects) > known, what="the victim's session")
        return rid, self.link_events.connects[-1]


@pytest.fixture
def victim(links, zctx, caplog):
    caplog.set_level(logging.INFO, logger="snakezmq")
    return Victim(links, zctx)


def test_connector_reports_refused_version(victim, caplog):
    rid, _ = victim.hello()
    caplog.clear()
    victim.rogue.send(rid, link(LinkKind.REFUSE, "version", "this side speaks version 99"))
    error = expect_reported(victim.links, victim.events, caplog, None, ConnectionRefused,
                            logged_text="(version): this side speaks version 99")
    assert "version" in error.reason and "99" in str(error)
    assert victim.rogue.address[1] and str(victim.rogue.address[1]) in str(error)  # names the endpoint
    victim.traffic.check()


def test_connector_refuses_welcome_of_another_version(victim, caplog):
    """A listener that WELCOMEs with another link version: an ERROR and
    on_error(None, SnakeMQIncompatibleProtocol), no session, BYE to the listener, and
    retries with a growing interval (1 s, 2 s, ...), not a reconnect loop."""
    caplog.clear()
    known_connects = len(victim.link_events.connects)
    welcomed = set()

    def welcome_every_hello() -> List[List[bytes]]:
        hellos = victim.rogue.hellos()
        for rid, header in hellos:
            the_nonce = wire.decode_link([header]).fields[2]
            if the_nonce not in welcomed:
                welcomed.add(the_nonce)
                victim.rogue.send(rid, link(LinkKind.WELCOME, 99, the_nonce))
        return hellos

    victim.links.pump(lambda: welcome_every_hello() and [
        e for e in victim.events.of("error") if isinstance(e[2], SnakeMQIncompatibleProtocol)],
        REPORT_DEADLINE, "on_error(None, SnakeMQIncompatibleProtocol)")
    error = expect_reported(victim.links, victim.events, caplog, None, SnakeMQIncompatibleProtocol)
    assert "version 99" in str(error) and str(victim.rogue.address[1]) in str(error)
    victim.links.pump(lambda: [f for f in victim.rogue.poll() if f[1:] == [BYE]], REPORT_DEADLINE,
                      "BYE to the listener that WELCOMEd with another version")
    victim.links.pump_for(2.5)
    welcome_every_hello()
    # A reconnect loop (reconnect_interval 0.2 s) would say HELLO a dozen times by now.
    assert 1 <= len(victim.rogue.hellos()) <= 3, len(victim.rogue.hellos())
    assert victim.link_events.connects[known_connects:] == []  # never a session
    victim.traffic.check()


@pytest.mark.parametrize("frames", [[b"\x7f"], [link(LinkKind.WELCOME, 1)], [b""]],
                         ids=["unknown kind", "truncated WELCOME", "empty header"])
def test_connector_reports_garbage_instead_of_welcome(victim, caplog, frames):
    rid, _ = victim.hello()
    expect_garbage_reported(victim, caplog, rid, None, frames)


def expect_garbage_reported(victim: Any, caplog: Any, rid: bytes, conn_id: Optional[str],
                            frames: List[bytes]) -> None:
    """The rogue listener sends ``frames``: the connector reports a WireError (for conn_id)."""
    caplog.clear()
    victim.rogue.send(rid, *frames)
    expect_reported(victim.links, victim.events, caplog, conn_id, WireError)
    victim.traffic.check()


CONNECTOR_GARBAGE = {
    "empty header frame": [b""],
    "unknown kind 0x7f": [b"\x7f"],
    "truncated header": [link(LinkKind.REFUSE, "version", "x")[:4]],
    "oversized header: PING with 64 KiB of fields": [PING + b"\x01" * 65536],
    "DATA with three body frames": [DATA, b"a", b"b", b"c"],
    "PONG with a body frame": [link(LinkKind.PONG), b"body"],
    "HELLO towards a connector": [hello()],
    "PROBE towards a connector": [link(LinkKind.PROBE, MAGIC, 1, b"x", b"12345678")],
}


@pytest.mark.parametrize("frames", list(CONNECTOR_GARBAGE.values()), ids=list(CONNECTOR_GARBAGE))
def test_connector_reports_bad_link_frame_of_a_session(victim, caplog, frames):
    rid, conn_id = victim.session()
    expect_garbage_reported(victim, caplog, rid, conn_id, frames)


CONNECTOR_PACKETS = {
    "MESSAGES before IDENT": ([messages_packet()], SnakeMQNoIdent, False),
    "unknown messaging kind": ([b"\x77"], WireError, False),
    "IDENT ident not UTF-8": ([non_utf8_ident_packet()], WireError, False),
    "IDENT version 99": ([ident_packet("rogue", version=99)], SnakeMQIncompatibleProtocol, True),
    "empty IDENT": ([ident_packet("")], SnakeMQNoIdent, True),
    "51-character IDENT": ([ident_packet("r" * 51)], SnakeMQNoIdent, True),
    "IDENT of the connected legit peer": ([ident_packet("peer")], DuplicateIdent, True),
    "bad MESSAGES after IDENT": ([ident_packet("rogue"), resume_packet(),
                                  raw_messages([1, 5, [b"u"], [], [], [], 0, False])], WireError, False),
}


@pytest.mark.parametrize("packets,error_type,closes", list(CONNECTOR_PACKETS.values()),
                         ids=list(CONNECTOR_PACKETS))
def test_connector_reports_bad_packet(victim, caplog, packets, error_type, closes):
    rid, conn_id = victim.session()
    caplog.clear()
    for packet in packets:
        victim.rogue.send(rid, DATA, packet)
    expect_reported(victim.links, victim.events, caplog, conn_id, error_type)
    if closes:
        victim.links.pump(lambda: conn_id in victim.link_events.disconnects,
                          what="the connection to the rogue closed")
    assert [e for e in victim.events.of("recv") if e[2] != "peer"] == []
    victim.traffic.check()


# -- messages larger than the configured maximum ------------------------------------------------------

def test_listener_reports_packet_just_over_the_limit(links, zctx, caplog):
    """Between max_packet_size and ZMQ_MAXMSGSIZE (limit + header room): the Packeter refuses it."""
    caplog.set_level(logging.INFO, logger="snakezmq")
    site = Site(links, packet_limit=PACKET_LIMIT)
    rogue, conn_id = site.rogue_session(zctx)
    caplog.clear()
    rogue.send(DATA, bytes([MessagingKind.PING]) + b"x" * (PACKET_LIMIT + 20))
    error = expect_reported(links, site.events, caplog, conn_id, PacketTooLarge)
    assert error.limit == PACKET_LIMIT
    site.traffic.check()


# (Packeter.max_packet_size, bytes of the one message the rogue sends): far over the limit,
# so that most of it is still unread when libzmq drops the connection, or a little over a
# small limit, so that libzmq has read all of it (docs/protocol.md "Messages over the limit").
OVERSIZED = [(PACKET_LIMIT, 20 * PACKET_LIMIT), (1000, 1500)]
OVERSIZED_IDS = ["20x the limit", "a little over a small limit"]


def _oversized_to_listener(links, zctx, limit=PACKET_LIMIT, size=20 * PACKET_LIMIT):
    site = Site(links, packet_limit=limit)
    rogue, conn_id = site.rogue_session(zctx)
    rogue.send(DATA, ident_packet("rogue"))
    rogue.send(DATA, resume_packet())
    links.pump(lambda: site.events.connected("rogue"), what="the rogue to identify")
    rogue.send(DATA, messages_packet(b"x" * size))
    return site, conn_id


def expect_oversized_sender_dropped(links: Any, side: Any, conn_id: str) -> None:
    """Both layers of ``side`` (a Site or a Victim) saw ``conn_id`` end; nothing was delivered."""
    links.pump(lambda: conn_id in side.link_events.disconnects
               and ("disconnect", conn_id, "rogue") in side.events.events,
               DROP_DEADLINE, "the oversized sender's connection dropped (both layers)")
    assert [e for e in side.events.of("recv") if e[2] == "rogue"] == []
    side.traffic.check()


def test_listener_drops_connection_sending_more_than_maxmsgsize(links, zctx, caplog):
    """ZMQ_MAXMSGSIZE: libzmq closes the connection before the message is buffered whole."""
    caplog.set_level(logging.INFO, logger="snakezmq")
    expect_oversized_sender_dropped(links, *_oversized_to_listener(links, zctx))


def expect_size_limit_reported(links: Any, events: Any, caplog: Any, conn_id: str, limit: int) -> None:
    """on_error(conn_id, MessageSizeExceeded) and one WARNING naming the connection, the
    limit, and what to do (raise max_packet_size), soon after the disconnect."""
    links.pump(lambda: [e for e in events.of("error") if e[1] == conn_id], 1.0,
               "on_error(%s, ...)" % conn_id)
    errors = [e[2] for e in events.of("error") if e[1] == conn_id]
    assert len(errors) == 1 and isinstance(errors[0], MessageSizeExceeded), errors
    assert isinstance(errors[0], PacketTooLarge)  # snakemq-style except clauses catch it
    assert limit < errors[0].limit <= limit + 100  # ZMQ_MAXMSGSIZE: the limit plus header room
    lines = [r for r in caplog.records if r.name.startswith("snakezmq")
             and r.levelno >= logging.WARNING and conn_id in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.WARNING], caplog.text
    text = lines[0].getMessage()
    assert "max_packet_size" in text and str(errors[0].limit) in text and "127.0.0.1:" in text, text


def _oversized_to_connector(links, zctx, limit=PACKET_LIMIT, size=20 * PACKET_LIMIT):
    victim = Victim(links, zctx, packet_limit=limit)
    rid, conn_id = victim.session()
    victim.rogue.send(rid, DATA, ident_packet("rogue"))
    victim.rogue.send(rid, DATA, resume_packet())
    links.pump(lambda: victim.events.connected("rogue"), what="the rogue to identify")
    victim.rogue.send(rid, DATA, messages_packet(b"x" * size))
    return victim, conn_id


def test_connector_drops_connection_receiving_more_than_maxmsgsize(links, zctx, caplog):
    caplog.set_level(logging.INFO, logger="snakezmq")
    expect_oversized_sender_dropped(links, *_oversized_to_connector(links, zctx))


@pytest.mark.parametrize("oversized_to", [_oversized_to_listener, _oversized_to_connector],
                         ids=["listener", "connector"])
@pytest.mark.parametrize("limit,size", OVERSIZED, ids=OVERSIZED_IDS)
def test_reports_dropping_a_peer_over_maxmsgsize(links, zctx, caplog, oversized_to, limit, size):
    caplog.set_level(logging.INFO, logger="snakezmq")
    side, conn_id = oversized_to(links, zctx, limit, size)  # a Site or a Victim
    links.pump(lambda: conn_id in side.link_events.disconnects, DROP_DEADLINE, "the drop")
    expect_size_limit_reported(links, side.events, caplog, conn_id, limit)
    side.traffic.check()


def _no_cut_reported(links: Any, events: Any, caplog: Any, conn_id: str) -> None:
    links.pump_for(0.3)
    assert [e for e in events.of("error") if e[1] == conn_id] == []
    assert not [r for r in caplog.records if r.name.startswith("snakezmq")
                and r.levelno >= logging.WARNING and conn_id in r.getMessage()], caplog.text


def test_listener_says_nothing_about_the_limit_when_a_peer_hangs_up(site, zctx, caplog):
    """A peer that closes its connection (or whose process dies) is a plain disconnect."""
    rogue, conn_id = site.rogue_session(zctx)
    rogue.send(DATA, ident_packet("rogue"))
    rogue.send(DATA, resume_packet())
    site.links.pump(lambda: site.events.connected("rogue"), what="the rogue to identify")
    rogue.send(DATA, messages_packet(b"x" * 1000))  # traffic just before, like a sender that dies
    rogue.sock.close(linger=0)
    site.links.pump(lambda: conn_id in site.link_events.disconnects, DROP_DEADLINE, "the drop")
    _no_cut_reported(site.links, site.events, caplog, conn_id)
    site.traffic.check()


def test_connector_says_nothing_about_the_limit_when_the_listener_hangs_up(victim, caplog):
    rid, conn_id = victim.session()
    victim.rogue.send(rid, DATA, ident_packet("rogue"))
    victim.rogue.send(rid, DATA, resume_packet())
    victim.links.pump(lambda: victim.events.connected("rogue"), what="the rogue to identify")
    victim.rogue.send(rid, DATA, messages_packet(b"x" * 1000))
    victim.rogue.sock.close(linger=0)
    victim.links.pump(lambda: conn_id in victim.link_events.disconnects, DROP_DEADLINE, "the drop")
    _no_cut_reported(victim.links, victim.events, caplog, conn_id)
    victim.traffic.check()


# -- a flood ---------------------------------------------------------------------------------------

class CountingHandler(logging.Handler):
    """Counts records and their size; keeps none (the flood must not fill memory with records)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.by_level: dict = {}
        self.chars = 0
        self.with_traceback = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.by_level[record.levelno] = self.by_level.get(record.levelno, 0) + 1
        self.chars += len(record.getMessage())
        self.with_traceback += bool(record.exc_info or record.stack_info)


FLOOD = 10_000
FLOOD_FRAME_BYTES = 1024
LOGGED_PER_KIND = 5  # ERROR lines a flood from one peer may produce (snakezmq logs 3 a minute)


def _flood_frames(rng: random.Random) -> List[List[bytes]]:
    kinds = [b"\x7f", b"\x00", b"\xff", hello()[:9], b"\x10"]  # unknown kinds, truncated, bodiless DATA
    return [[rng.choice(kinds) + rng.randbytes(rng.randrange(0, FLOOD_FRAME_BYTES))]
            for _ in range(64)]


def test_flood_of_garbage_frames(links, zctx):
    """10,000 garbage frames from one rogue: every one reported to on_error, but only a
    handful of ERROR lines (rate-limited per peer and kind; the rest at DEBUG), the
    legitimate peer keeps its traffic flowing, and snakezmq's memory stays flat."""
    logger = logging.getLogger("snakezmq")
    counter = CountingHandler()
    saved = logger.propagate, logger.level
    logger.addHandler(counter)
    logger.propagate = False  # pytest's own capture would keep 10,000 records alive
    logger.setLevel(logging.INFO)
    try:
        _flood(links, zctx, counter)
    finally:
        logger.removeHandler(counter)
        logger.propagate, logger.level = saved


def _flood(links: Any, zctx: RogueContext, counter: CountingHandler) -> None:
    site = Site(links)
    errors = {"count": 0, "wrong": []}

    def on_error(conn_id: Optional[str], error: Exception) -> None:  # keeps no exception alive
        errors["count"] += 1
        if conn_id != rogue_conn[0] or not isinstance(error, WireError):
            errors["wrong"].append((conn_id, type(error).__name__))

    rogue_conn: List[Optional[str]] = [None]
    site.server.on_error.callbacks.clear()  # the Recorder would keep 11,000 exceptions alive
    site.server.on_error.add(on_error)
    rogue, rogue_conn[0] = site.rogue_session(zctx)
    frames = _flood_frames(random.Random(10))
    for candidate in frames:
        with pytest.raises(WireError):
            wire.decode_link(candidate)

    # Baseline: the legit pair's round trips without a flood.
    started = time.monotonic()
    site.traffic.send(100)
    site.traffic.check(timeout=10.0)
    quiet = time.monotonic() - started

    def legit_done() -> bool:
        traffic = site.traffic
        return (len(traffic.got_at(site.legit_events, "server")) >= len(traffic.to_b)
                and len(traffic.got_at(site.events, "legit")) >= len(traffic.to_a))

    def run_flood(count: int, with_traffic: bool) -> "tuple[float, float]":
        """Flood; returns (seconds until the legit traffic was through, until the flood was)."""
        sent = {"n": 0}
        target = errors["count"] + count
        legit_at: List[float] = []

        def feed() -> bool:
            """Called between loop passes: keep the rogue's pipe full, then wait for the reports."""
            while sent["n"] < count:
                try:
                    rogue.sock.send_multipart(frames[sent["n"] % len(frames)], zmq.NOBLOCK)
                except zmq.Again:
                    break
                sent["n"] += 1
            if not legit_at and legit_done():
                legit_at.append(time.monotonic())
            return sent["n"] == count and errors["count"] >= target and bool(legit_at)

        begun = time.monotonic()
        feed()  # the flood is under way before the legit traffic starts
        if with_traffic:
            site.traffic.send(100)
        links.pump(feed, 60.0, "%d garbage frames to be reported" % count)
        flood_done = time.monotonic()
        return legit_at[0] - begun, flood_done - begun

    run_flood(1000, with_traffic=False)  # warm-up: caches, pools, first-time allocations
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        legit_time, flood_time = run_flood(FLOOD, with_traffic=True)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    print("flood: legit traffic %.2f s without, %.2f s during a flood that took %.2f s; "
          "%d log chars; %d bytes kept" % (quiet, legit_time, flood_time, counter.chars, growth))
    assert errors["wrong"] == []
    assert errors["count"] == 1000 + FLOOD
    # on_error per frame, but a handful of ERROR lines, not 11,000 ...
    assert 1 <= counter.by_level.get(logging.ERROR, 0) <= LOGGED_PER_KIND, counter.by_level
    assert counter.with_traceback == 0  # ... and never a traceback
    assert counter.chars < 100 * 300
    # The rogue kept its session; the legit peer lost nothing and was never cut off.
    assert rogue_conn[0] not in site.link_events.disconnects
    site.traffic.check()
    # Flat memory: the frames (10 MB in all) were not kept; 10 kB per thousand frames is noise.
    assert growth < 1_000_000, "snakezmq kept %d bytes after %d garbage frames" % (growth, FLOOD)
    # The legit traffic went on during the flood, not after it: 200 messages took at most a
    # few times as long as without the flood (generous bounds for a loaded machine).
    assert legit_time < max(2.0, 20 * quiet), (quiet, legit_time, flood_time)
    assert legit_time < flood_time or flood_time < 1.0, (quiet, legit_time, flood_time)


MESSAGING_FLOOD = 2_000


def test_flood_of_bad_packets_logs_a_handful_of_lines(links, zctx):
    """Messaging-level garbage (bad MESSAGES after IDENT): on_error for every packet, a
    handful of ERROR lines."""
    logger = logging.getLogger("snakezmq")
    counter = CountingHandler()
    saved = logger.propagate, logger.level
    logger.addHandler(counter)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        site = Site(links)
        rogue, conn_id = site.rogue_session(zctx)
        rogue.send(DATA, ident_packet("rogue"))
        rogue.send(DATA, resume_packet())
        links.pump(lambda: site.events.connected("rogue"), what="the rogue to identify")
        errors = {"count": 0}
        site.server.on_error.callbacks.clear()  # the Recorder would keep every exception
        site.server.on_error.add(lambda c, e: errors.__setitem__(
            "count", errors["count"] + (c == conn_id and isinstance(e, WireError))))
        bad = raw_messages([1, 1000])
        sent = {"n": 0}

        def feed() -> bool:
            while sent["n"] < MESSAGING_FLOOD:
                try:
                    rogue.sock.send_multipart([DATA, bad], zmq.NOBLOCK)
                except zmq.Again:
                    break
                sent["n"] += 1
            return errors["count"] >= MESSAGING_FLOOD

        links.pump(feed, 30.0, "%d bad packets to be reported" % MESSAGING_FLOOD)
    finally:
        logger.removeHandler(counter)
        logger.propagate, logger.level = saved
    assert errors["count"] == MESSAGING_FLOOD
    assert 1 <= counter.by_level.get(logging.ERROR, 0) <= LOGGED_PER_KIND, counter.by_level
    site.traffic.check()
