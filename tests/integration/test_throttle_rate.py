"""Throttle under a Packeter, as snakemq code uses it: ``Packeter(Throttle(link, speed))``.

snakemq 1.6 cannot run these (its Throttle duplicates throttled bytes under a
Packeter, see compat_tests/test_throttle.py). Here whole packets arrive intact
and in order, and the measured rate of one connection over 5 s stays within
20% of ``speed``.

Not flaky on a loaded machine: the rate is measured over 4.5 s of steady state
at a speed far below what loopback does, and a stalled process catches up (a
connection with packets waiting never loses its allowance). The strict check
is the upper one, which load can only make easier: the bytes received by any
moment never exceed ``speed`` times the time since the connection started
(plus one packet, and 20%).

One test sends 1 MiB at 100 kB/s (about 10 s): it arrives whole at a plain
Packeter, and no one-second window carries more than ``speed`` plus one chunk.
The last tests check the bucket's arithmetic with a fake clock and a fake Link.
"""
from __future__ import annotations

import os
import random
import struct
import threading
import time
import types
from typing import Any, List, Tuple

import pytest

import snakezmq.exceptions
import snakezmq.messaging
import snakezmq.packeter
import snakezmq.throttle
from compat_tests.compat_helpers import pump
from snakezmq.callbacks import Callback
from snakezmq.message import Message

SPEED = 300_000  #: bytes per second, far below loopback
PACKET = 4096  #: bytes per packet
WARM_UP = 0.5  #: seconds after the first packet that the measurement leaves out
MEASURE = 5.0  #: seconds after the first packet when the measurement ends
TOLERANCE = 0.2


def packet(number: int) -> bytes:
    """PACKET bytes: the number, then a filler that depends on it."""
    return struct.pack(">I", number) + bytes([number % 251]) * (PACKET - 4)


def throttled_pair(links: Any, speed: float) -> Tuple[Any, Any, Any, str, float]:
    """(sender Packeter over a Throttle, its Throttle, receiver Packeter, sender conn_id,
    a time before the sender's token bucket was made)."""
    receiver = snakezmq.packeter.Packeter(links.new())
    throttle = snakezmq.throttle.Throttle(links.new(), speed)
    sender = snakezmq.packeter.Packeter(throttle)
    conns: List[str] = []
    sender.on_connect.add(conns.append)
    started = time.monotonic()
    throttle.add_connector(receiver.link.add_listener(("127.0.0.1", 0)), reconnect_interval=0.2)
    links.pump(lambda: conns, what="connection")
    return sender, throttle, receiver, conns[0], started


def test_packeter_over_throttle_keeps_within_20_percent_of_speed_over_5_s(links):
    sender, _, receiver, conn_id, started = throttled_pair(links, SPEED)
    arrivals: List[Tuple[float, bytes]] = []
    receiver.on_packet_recv.add(lambda conn, data: arrivals.append((time.monotonic(), data)))
    sent_ids: List[int] = []
    sender.on_packet_sent.add(lambda conn, packet_id: sent_ids.append(packet_id))

    count = int(SPEED * (MEASURE + 1.0) / PACKET)  # more than the measurement can take
    for number in range(count):
        sender.send_packet(conn_id, packet(number))
    links.pump(lambda: arrivals and arrivals[-1][0] >= arrivals[0][0] + MEASURE,
               timeout=MEASURE + 5.0, what="%.1f s of throttled traffic" % MEASURE)

    assert [data for _, data in arrivals] == [packet(n) for n in range(len(arrivals))]
    assert len(arrivals) < count, "the sender ran dry: the measurement is not of the throttle"
    first = arrivals[0][0]
    window = [(when, data) for when, data in arrivals if first + WARM_UP <= when < first + MEASURE]
    rate = sum(len(data) for _, data in window) / (MEASURE - WARM_UP)
    assert (1 - TOLERANCE) * SPEED <= rate <= (1 + TOLERANCE) * SPEED, (
        "measured %.0f B/s over %.1f s, speed is %d B/s" % (rate, MEASURE - WARM_UP, SPEED))

    total = 0
    for when, data in arrivals:
        total += len(data)
        allowed = (1 + TOLERANCE) * SPEED * (when - started) + PACKET
        assert total <= allowed, "%d bytes %.2f s after connecting (at most %d)" % (
            total, when - started, allowed)
    # on_packet_sent follows the throttle: only packets that went out are reported
    assert len(arrivals) <= len(sent_ids) < count


def test_messaging_over_throttle_delivers_every_message_in_order(links):
    speed = 2_000_000
    receiver_link = links.new()
    receiver = snakezmq.messaging.Messaging(
        "receiver", "", snakezmq.packeter.Packeter(receiver_link))
    throttle = snakezmq.throttle.Throttle(links.new(), speed)
    sender = snakezmq.messaging.Messaging("sender", "", snakezmq.packeter.Packeter(throttle))
    received: List[bytes] = []
    receiver.on_message_recv.add(lambda conn, ident, message: received.append(message.data))
    sent: List[bytes] = []
    sender.on_message_sent.add(lambda conn, ident, uuid: sent.append(uuid))
    passes: List[float] = []
    throttle.on_loop_pass.add(lambda: passes.append(time.monotonic()))

    messages = [b"%05d" % number + bytes(3000) for number in range(200)]  # 0.3 s at speed
    for data in messages:
        sender.send_message("receiver", Message(data, ttl=None))
    started = time.monotonic()
    throttle.add_connector(receiver_link.add_listener(("127.0.0.1", 0)), reconnect_interval=0.2)
    links.pump(lambda: len(received) == len(messages) and len(sent) == len(messages),
               timeout=10.0, what="every message and every on_message_sent")
    elapsed = time.monotonic() - started
    assert received == messages
    assert elapsed >= 0.7 * sum(len(data) for data in messages) / speed
    assert passes, "the throttle's on_loop_pass never ran (Messaging relies on it)"


def test_releases_keep_pace_with_a_long_poll_timeout(links):
    """The Link's poll wakes up when the next waiting packet may go, not at poll_timeout."""
    sender, throttle, receiver, conn_id, _ = throttled_pair(links, SPEED)
    arrivals: List[float] = []
    receiver.on_packet_recv.add(lambda conn, data: arrivals.append(time.monotonic()))
    for number in range(int(SPEED * 1.5 / PACKET)):  # 1.5 s at speed: all wait in the bucket
        sender.send_packet(conn_id, packet(number))
    loop = threading.Thread(target=throttle.loop, kwargs={"poll_timeout": 5.0})
    loop.start()  # the sender's loop alone in its thread: nothing else wakes its poll
    try:
        receiver_pump = [receiver.link]
        pump(receiver_pump, lambda: arrivals and time.monotonic() > arrivals[0] + 1.0,
             timeout=10.0, what="1 s of throttled traffic")
    finally:
        throttle.stop()
        loop.join(timeout=10.0)
    assert not loop.is_alive()
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    assert len(arrivals) > 20 and max(gaps) < 0.5, "arrivals stall between polls: %r" % max(gaps)


# -- one large packet: chunked, reassembled, and never a burst ---------------------------------

MIB = 1024 * 1024
SLOW = 100_000  #: bytes per second


def window_peak(sends: List[Tuple[float, int]], width: float = 1.0) -> int:
    """The most bytes in any window of ``width`` seconds (windows starting at a send suffice)."""
    return max(sum(size for at, size in sends if start <= at < start + width) for start, _ in sends)


def test_one_mib_at_100_kb_per_s_arrives_whole_after_9_s_and_never_bursts(links):
    """Measured where the Throttle hands chunks to ZeroMQ: the sending Link's on_ready_to_send."""
    sender, throttle, receiver, conn_id, _ = throttled_pair(links, SLOW)
    handed: List[Tuple[float, int]] = []
    throttle.link.on_ready_to_send.add(lambda conn, size: handed.append((time.monotonic(), size)))
    arrived: List[Tuple[float, bytes]] = []
    receiver.on_packet_recv.add(lambda conn, data: arrived.append((time.monotonic(), data)))
    sent: List[int] = []
    sender.on_packet_sent.add(lambda conn, packet_id: sent.append(packet_id))
    data = os.urandom(MIB)
    started = time.monotonic()
    packet_id = sender.send_packet(conn_id, data)
    links.pump(lambda: arrived and sent, timeout=30.0, what="1 MiB at 100 kB/s")
    assert [packet for _, packet in arrived] == [data]
    assert arrived[0][0] - started >= 9.0
    assert sent == [packet_id]
    chunk = snakezmq.throttle.chunk_size(SLOW)
    assert sum(size for _, size in handed) == MIB and max(size for _, size in handed) <= chunk
    assert len(handed) == -(-MIB // chunk)
    assert window_peak(handed) <= SLOW + chunk


# -- the bucket's arithmetic, with a fake clock and a fake Link (no sockets, no waiting) ---------

class FakeLink:
    """The parts of a Link a Throttle uses; records (time, size, last piece?) of each send.

    Like a Link, it reports each send through ``on_ready_to_send`` later, in the loop pass.
    """

    def __init__(self, clock: List[float]) -> None:
        self.clock = clock
        self.on_connect, self.on_disconnect, self.on_recv = Callback(), Callback(), Callback()
        self.on_ready_to_send, self.on_loop_pass = Callback(), Callback()
        self.sent: List[Tuple[float, bytes, bool]] = []
        self._unreported: List[int] = []
        self.deadline_sources: List[Any] = []
        self.stack = types.SimpleNamespace(on_error=Callback(), on_recv_detached=Callback(),
                                           on_closing=Callback(),
                                           add_deadline_source=self.deadline_sources.append,
                                           send_part=self._send_part)

    def send(self, conn_id: str, data: bytes) -> None:
        self.sent.append((self.clock[0], data, True))
        self._unreported.append(len(data))

    def _send_part(self, conn_id: str, data: bytes) -> None:
        self.sent.append((self.clock[0], data, False))
        self._unreported.append(len(data))

    def loop_pass(self) -> None:
        unreported, self._unreported = self._unreported, []
        for size in unreported:
            self.on_ready_to_send("c", size)
        self.on_loop_pass()

    def sent_by(self, when: float) -> int:
        return sum(len(data) for at, data, _ in self.sent if at <= when)

    def packets(self) -> List[bytes]:
        """What the receiving Link would deliver: the parts joined to their DATA."""
        packets, parts = [], []
        for _, data, last in self.sent:
            parts.append(data)
            if last:
                packets.append(b"".join(parts))
                parts = []
        return packets


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Tuple[FakeLink, Any]:
    """(a FakeLink whose clock is ``fake_link.clock[0]``, a connected Throttle over it)."""
    clock = [100.0]
    fake_time = types.SimpleNamespace(monotonic=lambda: clock[0])
    monkeypatch.setattr(snakezmq.throttle, "time", fake_time)
    link = FakeLink(clock)
    throttle = snakezmq.throttle.Throttle(link, 1000)
    link.on_connect("c")
    return link, throttle


def run_passes(link: FakeLink, interval: float, until: float) -> None:
    while link.clock[0] + interval <= until + 1e-9:
        link.clock[0] += interval
        link.loop_pass()


@pytest.mark.parametrize("interval", [0.01, 0.2, 1.0])
def test_backlogged_connection_keeps_speed_when_passes_come_within_a_chunks_time(fake, interval):
    # (passes further apart than a chunk's time cannot catch up: that would be a burst)
    link, throttle = fake
    start = link.clock[0]
    for _ in range(200):  # 20 s worth at 1000 B/s
        throttle.send("c", bytes(100))
    run_passes(link, interval, start + 6.0)
    assert link.sent_by(start + 6.0) == pytest.approx(6000, abs=200)  # two packets either way


@pytest.mark.parametrize("seed", range(6))
def test_no_one_second_window_carries_more_than_speed_plus_one_chunk(fake, seed):
    """Random packet sizes (some many chunks long) and random pass intervals (up to 2.5 s)."""
    link, throttle = fake
    rng = random.Random(seed)
    packets = [os.urandom(rng.choice([rng.randint(0, 300), rng.randint(1000, 6000)]))
               for _ in range(40)]
    for packet in packets:
        throttle.send("c", packet)
    reports: List[int] = []
    throttle.on_ready_to_send.add(lambda conn_id, size: reports.append(size))
    while throttle.stopped and link.clock[0] < 1000.0:
        link.clock[0] += rng.choice([0.001, 0.05, 0.3, 1.0, 2.5])
        link.loop_pass()
    link.loop_pass()
    chunk = snakezmq.throttle.chunk_size(1000)
    sends = [(at, len(data)) for at, data, _ in link.sent]
    assert window_peak(sends) <= 1000 + chunk
    assert max(size for _, size in sends) <= chunk
    assert link.packets() == packets
    assert reports == [len(packet) for packet in packets]  # one on_ready_to_send per send()


def test_idle_connection_saves_up_at_most_one_chunk(fake):
    link, throttle = fake
    start = link.clock[0]
    run_passes(link, 1.0, start + 10.0)  # idle: nothing waits
    for _ in range(100):
        throttle.send("c", bytes(100))
    chunk = snakezmq.throttle.chunk_size(1000)
    assert link.sent_by(link.clock[0]) == chunk // 100 * 100  # what one chunk holds
    run_passes(link, 0.01, link.clock[0] + 2.0)
    assert link.sent_by(link.clock[0]) == pytest.approx(chunk // 100 * 100 + 2000, abs=100)


def test_packets_keep_their_order_and_a_disconnect_drops_the_waiting_ones(fake):
    link, throttle = fake
    for number in range(5):
        throttle.send("c", b"%d" % number * 250)
    run_passes(link, 0.25, link.clock[0] + 0.75)  # 0.25 s earns one packet
    assert link.packets() == [b"%d" % number * 250 for number in range(3)]
    assert throttle.stopped == {"c"}
    link.on_disconnect("c")
    run_passes(link, 1.0, link.clock[0] + 2.0)
    assert len(link.packets()) == 3 and throttle.stopped == set()
    with pytest.raises(KeyError):
        throttle.send("c", b"gone")


@pytest.mark.parametrize("size, pieces", [(0, 1), (1, 1), (1024, 1), (1025, 2), (3 * 1024, 3)])
def test_cut(size, pieces):
    data = os.urandom(size)
    cut = snakezmq.throttle.cut(data, 1024)
    assert len(cut) == pieces and b"".join(piece for piece, _ in cut) == data
    assert [report for _, report in cut] == [None] * (pieces - 1) + [size]


def test_chunk_size_follows_speed_within_bounds():
    assert snakezmq.throttle.chunk_size(10) == snakezmq.throttle.MIN_CHUNK
    assert snakezmq.throttle.chunk_size(100_000) == 40_000
    assert snakezmq.throttle.chunk_size(10 ** 9) == snakezmq.throttle.MAX_CHUNK == 64 * 1024


def test_a_chunked_packet_over_the_receivers_limit_is_dropped_with_on_error(links):
    sender, _, receiver, conn_id, _ = throttled_pair(links, 50_000_000)
    receiver.max_packet_size = 100_000
    errors: List[Exception] = []
    receiver.on_error.add(lambda conn, error: errors.append(error))
    packets: List[bytes] = []
    receiver.on_packet_recv.add(lambda conn, data: packets.append(data))
    sender.send_packet(conn_id, os.urandom(300_000))  # five 64 KiB chunks: past the limit
    sender.send_packet(conn_id, b"after")
    links.pump(lambda: packets, what="the packet after the oversized one")
    assert packets == [b"after"]
    assert len(errors) == 1 and isinstance(errors[0], snakezmq.exceptions.PacketTooLarge)
